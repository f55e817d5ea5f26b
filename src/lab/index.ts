export { labUp, labDown, labStatus, labStopNode, labStartNode, readLabRecord } from './lab.js';
export { labPower, labExec, labExecArgv, parsePowerVerb } from './power.js';
export type { PowerVerb, PowerResult } from './power.js';
export type { LabUpOptions, LabRef, LabNode, LabRecord, LabUpResult, LabStatus, LabNodeStatus, LabDownResult } from './lab.js';
export { layoutLab, defaultStateDir, DEFAULT_PREFIX } from './config.js';
export type { LabLayout, LabLayoutOptions, LabNodeKind, NodeLayout } from './config.js';
export { renderNodeManifests } from './manifests.js';
export { missingPackages, LAB_TOOLS } from './packages.js';

export { labUp, labDown, labStatus, labStopNode, labStartNode, readLabRecord } from './lab.js';
export type { LabUpOptions, LabRef, LabNode, LabRecord, LabUpResult, LabStatus, LabNodeStatus, LabDownResult } from './lab.js';
export { layoutLab, defaultStateDir, DEFAULT_PREFIX } from './config.js';
export type { LabLayout, LabLayoutOptions, NodeLayout } from './config.js';
export { renderNodeManifests } from './manifests.js';
export { missingPackages, LAB_TOOLS } from './packages.js';

/** The desired state: load manifests (files) or build from resources (Kubernetes CRs). */
export { loadDesired, loadSet, collectFiles, parseManifestText, ParseCache } from './load.js';
export { buildDesired, fillCluster, fillGroup, mergeProfiles, type ManifestResource, type Origin, type ResourceDoc, type Anchor } from './build.js';
export { formatLoadError, formatPath, type LoadError, type LoadErrorCode } from './errors.js';
export { discoverSets, type ManifestSet } from './sets.js';
export { parseSize, formatMiB } from './sizes.js';
export { locate, errorAt, type DocSource } from './source.js';
export * from './model.js';

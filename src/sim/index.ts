export { SimNodeOps, type SimNodeInit, type SimOptions } from './node.js';
export { SimCluster } from './cluster.js';
export type { FaultSpec } from './faults.js';
export type { SimNodeState, SimVg } from './state.js';
export { initFromObserved } from './seed.js';
export { SimFencer } from './fencer.js';

export * from './spec.js';
export * from './argv.js';
export * from './qmp.js';
export * from './probe.js';
export * from './driver.js';

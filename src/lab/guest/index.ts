export * from './build.js';
export * from './header.js';
export * from './modules.js';
export * from './scripts.js';

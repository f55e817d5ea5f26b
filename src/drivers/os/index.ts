export * from './os.js';

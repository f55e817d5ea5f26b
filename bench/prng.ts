/** The project's one PRNG lives in src/util/prng.ts (the fault campaign uses it too). */
export { prng } from '../src/util/prng.js';

/**
 * The gantry command's entry point (bin/gantry.js runs the build of this file, or this
 * file through tsx). The program itself, and how it loads only the command named, is in
 * program.ts.
 */
import { main } from './program.js';

await main(process.argv);

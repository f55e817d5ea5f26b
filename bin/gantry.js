#!/usr/bin/env node
// The gantry command. Runs the bundle in dist/ (built by `npm ci` or `npm run build`) when
// it was built from the sources as they are now (build-stamp.js); otherwise runs the
// TypeScript sources through tsx, slower to start but never out of date, and says so on
// stderr when a build exists but is stale. GANTRY_FROM_SOURCE=1 always runs the sources.
import { fileURLToPath } from 'node:url';
import { checkBuild } from './build-stamp.js';

const root = new URL('..', import.meta.url);
const verdict = process.env.GANTRY_FROM_SOURCE === '1' ? { fresh: false, reason: null } : checkBuild(fileURLToPath(root));
if (verdict.fresh) {
  await import(new URL('dist/cli/main.js', root).href);
} else {
  if (verdict.reason) {
    process.stderr.write(`gantry: not running dist/: ${verdict.reason}; running the TypeScript sources through tsx (slower start). \`npm run build\` rebuilds it.\n`);
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('src/cli/main.ts', root).href);
}

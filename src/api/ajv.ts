/**
 * The ajv instance every kind schema is compiled with. ajv itself is loaded on the first
 * call, not at import: the built CLI validates with code generated at build time
 * (validators.ts, scripts/build.ts) and never needs the compiler at start-up.
 */
import { createRequire } from 'node:module';
import type { Ajv, Options } from 'ajv';
import { MESSAGE_KEY } from './common.js';

const requireCjs = createRequire(import.meta.url);

/** The options of every kind validator; the build adds `code.source` for standalone code. */
export const AJV_OPTIONS: Readonly<Options> = { allErrors: true, verbose: true, strict: false };

/** A fresh ajv that knows the Kubernetes and gantry annotation keywords. */
export function createAjv(extra: Options = {}): Ajv {
  const { Ajv: AjvClass } = requireCjs('ajv') as typeof import('ajv');
  const ajv = new AjvClass({ ...AJV_OPTIONS, ...extra });
  ajv.addKeyword({ keyword: 'x-kubernetes-int-or-string' });
  ajv.addKeyword({ keyword: 'x-kubernetes-preserve-unknown-fields' });
  ajv.addKeyword({ keyword: MESSAGE_KEY });
  return ajv;
}

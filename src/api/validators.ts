/**
 * One ajv validator per kind, compiled from DOC_SCHEMAS at first use. This is what the
 * tests and tsx runs use. The build (scripts/build.ts) swaps this module, in dist/ only,
 * for ajv standalone code generated from the same schemas and options, so the built CLI
 * skips the compilation (most of `gantry validate`'s start-up); a test checks that both
 * give the same errors on every example and fixture.
 */
import type { ValidateFunction } from 'ajv';
import { createAjv } from './ajv.js';
import { DOC_SCHEMAS, KINDS, type Kind } from './kinds.js';

let compiled: ReadonlyMap<Kind, ValidateFunction> | undefined;

export function kindValidators(): ReadonlyMap<Kind, ValidateFunction> {
  if (!compiled) {
    const ajv = createAjv();
    compiled = new Map(KINDS.map((k) => [k, ajv.compile(DOC_SCHEMAS[k] as object)]));
  }
  return compiled;
}

/**
 * Paths to golden files for the DRBD tests: our own captures and fixtures (testdata/),
 * and Ganeti's test data, read in place from the shared checkout when it is there
 * (never copied into this repository).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../../../..');

export const golden = (rel: string): string => readFileSync(join(HERE, rel), 'utf8');

/** ../shared/ganeti beside the main checkout, or GANTRY_GANETI_DATA. */
const GANETI_DIRS = [process.env.GANTRY_GANETI_DATA, resolve(REPO, '../shared/ganeti'), resolve(REPO, '../../shared/ganeti')].filter((d): d is string => d !== undefined);
export const ganetiDir = GANETI_DIRS.find((d) => existsSync(join(d, 'outputs')));
export const hasGaneti = (file: string): boolean => ganetiDir !== undefined && existsSync(join(ganetiDir, 'outputs', file));
export const ganeti = (file: string): string => readFileSync(join(ganetiDir!, 'outputs', file), 'utf8');
export const skipNote = (file: string): string => `(Ganeti test/data ${file} from ../shared/ganeti; skipped when absent)`;

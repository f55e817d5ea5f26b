/**
 * Test helpers: the shared htools samples (read at test time, never copied into
 * the repo) and the fixture captured from the real htools by
 * bench/capture-htools.ts. Tests that need the samples skip when the directory
 * is absent.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SAMPLES_DIR = process.env.GANTRY_HTOOLS_SAMPLES ?? '/work/shared/ganeti/htools';
export const HAVE_SAMPLES = existsSync(SAMPLES_DIR);
export const SKIP_REASON = `htools samples not found at ${SAMPLES_DIR} (set GANTRY_HTOOLS_SAMPLES)`;

export interface HbalGroup { initial: number | null; final: number | null; moves: number }
export interface Fixture {
  tool: string;
  data: Record<string, { hbal: Record<string, HbalGroup>; hspace: Record<string, string> }>;
  hail: Record<string, { success: boolean; info: string; result: unknown }>;
}

export const FIXTURE: Fixture = JSON.parse(
  readFileSync(new URL('./htools-samples.json', import.meta.url), 'utf8'),
) as Fixture;

export function sampleFiles(ext: '.data' | '.json'): string[] {
  if (!HAVE_SAMPLES) return [];
  return readdirSync(SAMPLES_DIR).filter((f) => f.endsWith(ext)).sort();
}

export function readSample(name: string): string {
  return readFileSync(join(SAMPLES_DIR, name), 'utf8');
}

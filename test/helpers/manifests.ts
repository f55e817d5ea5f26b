/**
 * Manifest sets for lab tests: examples/lab rewritten for one rig lab (its shared dir,
 * the guest build, its nodes.yaml), in a temp dir the test may edit step by step.
 */
import { mkdtemp, readFile, rm, writeFile, copyFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { LabHandle } from './rig.js';
import { ensureLabGuest } from '../../src/lab/guest/index.js';
import { loadDesired } from '../../src/desired/load.js';
import { formatLoadError } from '../../src/desired/errors.js';
import type { DesiredState } from '../../src/desired/model.js';

export const EXAMPLES_LAB = path.resolve(import.meta.dirname, '../../examples/lab');

export interface ManifestSet {
  readonly dir: string;
  /** Rewrite the documents of one file (objects as parsed YAML). */
  edit(file: string, fn: (docs: Record<string, any>[]) => void): Promise<void>;
  /** Replace a file. */
  write(file: string, docs: Record<string, unknown>[]): Promise<void>;
  load(): Promise<DesiredState>;
  cleanup(): Promise<void>;
}

export async function labManifests(lab: LabHandle, opts: { files?: string[] } = {}): Promise<ManifestSet> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-manifests-'));
  const guest = await ensureLabGuest({});
  const files = opts.files ?? (await readdir(EXAMPLES_LAB)).filter((f) => f.endsWith('.yaml'));
  for (const f of files) await copyFile(path.join(EXAMPLES_LAB, f), path.join(dir, f));
  if (!lab.up.manifestFile) throw new Error('labManifests needs useLab({ manifestsDir }) so the lab writes nodes.yaml');
  await writeFile(path.join(dir, 'nodes.yaml'), await readFile(lab.up.manifestFile, 'utf8'));
  const set: ManifestSet = {
    dir,
    async edit(file, fn) {
      const p = path.join(dir, file);
      const docs = parseAllDocuments(await readFile(p, 'utf8')).map((d) => d.toJS() as Record<string, any>);
      fn(docs);
      await set.write(file, docs);
    },
    async write(file, docs) {
      await writeFile(path.join(dir, file), docs.map((d) => `---\n${stringify(d, { lineWidth: 0 })}`).join(''));
    },
    async load() {
      const { state, errors } = await loadDesired([dir]);
      if (!state || errors.length) throw new Error(`manifests invalid:\n${errors.map(formatLoadError).join('\n')}`);
      return state;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
  if (files.includes('cluster.yaml')) {
    await set.edit('cluster.yaml', ([c]) => {
      c!.spec.storage.sharedFileStorageDir = lab.up.sharedDir;
      c!.spec.hvParams.kvm.kernelPath = guest.kernelPath;
      c!.spec.hvParams.kvm.initrdPath = guest.initrdPath;
      c!.spec.osSearchPath = [path.dirname(guest.osDir)];
    });
  }
  return set;
}

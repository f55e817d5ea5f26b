import { emptyObservedNode } from '../core/observed.js';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSet } from '../desired/load.js';
import { applyPlacementEdits, unifiedDiff } from './manifest-edits.js';
import { placeProcessIo, registerPlaceCommands, type PlaceIo } from './place-commands.js';

const DATA = [
  'g1|uuid-1|preferred||', '',
  'n1|16384|0|10240|409600|204800|16|N|uuid-1|1',
  'n2|16384|0|16384|409600|307200|16|N|uuid-1|1',
  'n3|16384|0|16384|409600|409600|16|N|uuid-1|1', '',
  'a|2048|51200|1|running|Y|n1|n2|drbd||1',
  'b|2048|51200|1|running|Y|n1|n2|drbd||1',
  'c|2048|51200|1|running|Y|n1|n2|drbd||1', '', '', '',
].join('\n');

function fakeIo(files: Record<string, string>, stdin = ''): PlaceIo & { stdout: string; stderr: string; files: Record<string, string> } {
  const io = {
    stdout: '', stderr: '', files,
    out(t: string) { io.stdout += t; },
    err(t: string) { io.stderr += t; },
    readFile(p: string) { if (!(p in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' }); return files[p]!; },
    writeFile(p: string, t: string) { files[p] = t; },
    readStdin: () => stdin,
    now: () => 0,
    loadManifests: (paths: string[]) => loadSet(paths),
  };
  return io;
}

async function gantry(io: PlaceIo, args: string[]): Promise<number> {
  const program = new Command('gantry').exitOverride();
  registerPlaceCommands(program, io);
  process.exitCode = 0;
  await program.parseAsync(['node', 'gantry', ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return code;
}

describe('gantry balance / capacity / iallocator', () => {
  let tmp: string | null = null;
  afterEach(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); tmp = null; });

  it('given an unbalanced text cluster, balance prints the moves and --write saves the balanced cluster', async () => {
    const io = fakeIo({ 'in.data': DATA });
    expect(await gantry(io, ['balance', '-t', 'in.data', '--write', 'out.data', '-C'])).toBe(0);
    expect(io.stdout).toMatch(/Group g1: initial score/);
    expect(io.stdout).toMatch(/score improved from/);
    expect(io.stdout).toMatch(/gnt-instance (migrate|replace-disks)/);
    expect(io.files['out.data']).toMatch(/^a\|2048\|51200\|1\|running\|Y\|/m);
    expect(io.files['out.data']).not.toBe(DATA);
  });

  it('given several groups, balancing on worker threads gives the same cluster as one thread', async () => {
    const two = DATA.replace('g1|uuid-1|preferred||', 'g1|uuid-1|preferred||\ng2|uuid-2|preferred||')
      .replace('n3|16384|0|16384|409600|409600|16|N|uuid-1|1', 'n3|16384|0|16384|409600|409600|16|N|uuid-1|1\nm1|16384|0|12288|409600|307200|16|N|uuid-2|1\nm2|16384|0|16384|409600|409600|16|N|uuid-2|1\nm3|16384|0|16384|409600|409600|16|N|uuid-2|1')
      .replace('c|2048|51200|1|running|Y|n1|n2|drbd||1', 'c|2048|51200|1|running|Y|n1|n2|drbd||1\nd|2048|51200|1|running|Y|m1|m2|drbd||1\ne|2048|51200|1|running|Y|m1|m2|drbd||1');
    const io1 = fakeIo({ 'in.data': two });
    const io2 = fakeIo({ 'in.data': two });
    expect(await gantry(io1, ['balance', '-t', 'in.data', '-j', '1', '--write', 'out.data'])).toBe(0);
    expect(await gantry(io2, ['balance', '-t', 'in.data', '-j', '2', '--write', 'out.data'])).toBe(0);
    expect(io2.files['out.data']).toBe(io1.files['out.data']);
    expect(io1.stdout).toMatch(/Group g2: score improved/);
  });

  it('given a missing file, balance fails with a message and exit status 1', async () => {
    const io = fakeIo({});
    expect(await gantry(io, ['balance', '-t', 'nope.data'])).toBe(1);
    expect(io.stderr).toMatch(/cannot read nope.data: ENOENT/);
  });

  it("given --machine-readable, capacity prints hspace's keys", async () => {
    const io = fakeIo({ 'in.data': DATA });
    expect(await gantry(io, ['capacity', '-t', 'in.data', '--machine-readable', '--standard-alloc=1024,512,1'])).toBe(0);
    expect(io.stdout).toMatch(/^HTS_INI_INST_CNT=3$/m);
    expect(io.stdout).toMatch(/^HTS_SPEC_MEM=512$/m);
    expect(io.stdout).toMatch(/^HTS_ALLOC_FAIL_REASON=FAIL[A-Z0-9]+$/m);
    expect(io.stdout).toMatch(/^HTS_OK=1$/m);
  });

  it('given a request on stdin, iallocator prints the JSON answer', async () => {
    const req = {
      nodegroups: { u: { name: 'default', alloc_policy: 'preferred', networks: [] } },
      nodes: {
        n1: { total_memory: 4096, reserved_memory: 0, free_memory: 4096, total_disk: 10240, free_disk: 10240, total_cpus: 4, group: 'u', offline: false, drained: false, ndparams: {} },
        n2: { total_memory: 2048, reserved_memory: 0, free_memory: 2048, total_disk: 10240, free_disk: 10240, total_cpus: 4, group: 'u', offline: false, drained: false, ndparams: {} },
      },
      instances: {}, cluster_tags: [],
      request: { type: 'allocate', name: 'x', memory: 512, vcpus: 1, disk_template: 'plain', disks: [{ size: 1024 }], disk_space_total: 1024 },
    };
    const io = fakeIo({}, JSON.stringify(req));
    expect(await gantry(io, ['iallocator', '-'])).toBe(0);
    expect(JSON.parse(io.stdout)).toMatchObject({ success: true, result: ['n1'] });
    // one node alone cannot stay N+1 redundant (like hail)
  });

  it('given manifests with every instance on one pair, balance -f prints a placement diff and --apply writes it', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'gantry-place-'));
    for (const f of ['cluster.yaml', 'groups.yaml', 'networks.yaml', 'nodes.yaml']) {
      cpSync(new URL(`../../examples/campus/${f}`, import.meta.url), join(tmp, f));
    }
    const inst = (n: number) => `apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata:
  name: vm${n}.phys.example.edu
spec:
  os: { name: debootstrap+default }
  diskTemplate: drbd
  disks:
    - { size: 20G }
  nics:
    - { network: lan-113 }
  beParams: { vcpus: 2, memory: 4G }
  placement:
    primary: node1.phys.example.edu   # keep this comment
    secondary: node2.phys.example.edu
`;
    writeFileSync(join(tmp, 'vms.yaml'), [1, 2, 3, 4, 5, 6].map(inst).join('---\n'));
    const facts = Object.fromEntries([1, 2, 3, 4].map((i) => [`node${i}.phys.example.edu`, { memoryMiB: 65536, diskMiB: 2000000, cpus: 16 }]));
    writeFileSync(join(tmp, 'facts.json'), JSON.stringify(facts));
    const io = { ...placeProcessIo, stdout: '', stderr: '', out(t: string) { io.stdout += t; }, err(t: string) { io.stderr += t; } };
    expect(await gantry(io, ['balance', '-f', tmp, '--node-facts', join(tmp, 'facts.json')])).toBe(0);
    expect(io.stdout).toMatch(/\+\+\+ b\/.*vms\.yaml/);
    expect(io.stdout).toMatch(/^-\s+primary: node1\.phys\.example\.edu/m);
    const before = readFileSync(join(tmp, 'vms.yaml'), 'utf8');
    expect(await gantry(io, ['balance', '-f', tmp, '--node-facts', join(tmp, 'facts.json'), '--apply'])).toBe(0);
    const after = readFileSync(join(tmp, 'vms.yaml'), 'utf8');
    expect(after).not.toBe(before);
    expect(after).toMatch(/# keep this comment/);
    const { state } = await loadSet([tmp]);
    const prim = [...state!.instances.values()].map((i) => i.placement.primary);
    expect(new Set(prim).size).toBeGreaterThan(1);
    // a second pass has nothing left to do
    io.stdout = '';
    expect(await gantry(io, ['balance', '-f', tmp, '--node-facts', join(tmp, 'facts.json')])).toBe(0);
    expect(io.stdout).not.toMatch(/\+\+\+ b\//);
  });

  it('given --cached, balance -f takes node sizes from the last observation in the state dir', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'gantry-place-'));
    for (const f of ['cluster.yaml', 'groups.yaml', 'networks.yaml', 'nodes.yaml']) {
      cpSync(new URL(`../../examples/campus/${f}`, import.meta.url), join(tmp, f));
    }
    const stateDir = join(tmp, 'state');
    const io = { ...placeProcessIo, stdout: '', stderr: '', out(t: string) { io.stdout += t; }, err(t: string) { io.stderr += t; } };
    expect(await gantry(io, ['balance', '-f', tmp, '--cached', '--state-dir', stateDir])).not.toBe(0);
    const { state } = await loadSet([tmp]);
    const nodes = Object.fromEntries([...state!.nodes.keys()].map((n) => [n, {
      ...emptyObservedNode(n, '2026-01-01T00:00:00Z'),
      facts: { hostname: n, kernel: 'k', cpus: 16, memoryTotalMiB: 65536, memoryFreeMiB: 60000 },
      vgs: { [state!.cluster.storage.volumeGroup]: { name: state!.cluster.storage.volumeGroup, sizeMiB: 2_000_000, freeMiB: 1_000_000, pvs: [] } },
    }]));
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'observed.json'), JSON.stringify({ observedAt: '2026-01-01T00:00:00Z', nodes }));
    io.stderr = '';
    expect(await gantry(io, ['balance', '-f', tmp, '--cached', '--state-dir', stateDir])).toBe(0);
    expect(io.stderr).not.toMatch(/memory size unknown/);
    expect(io.stdout).toMatch(/initial score/);
  });

  it('given an edit, applyPlacementEdits changes only the placement values', () => {
    const text = '# c\nkind: Instance\nmetadata: { name: a }\nspec:\n  placement:\n    primary: n1  # here\n    secondary: n2\n';
    const out = applyPlacementEdits(text, new Map([['a', { primary: 'n3', secondary: 'n1' }]]));
    expect(out).toBe('# c\nkind: Instance\nmetadata: { name: a }\nspec:\n  placement:\n    primary: n3  # here\n    secondary: n1\n');
    const d = unifiedDiff('f.yaml', text, out);
    expect(d).toMatch(/^@@ -4,5 \+4,5 @@$/m);
    expect(d).toMatch(/^- {4}primary: n1 {2}# here$/m);
    expect(d).toMatch(/^\+ {4}primary: n3 {2}# here$/m);
    expect(d).toMatch(/^ spec:$/m);
  });
});

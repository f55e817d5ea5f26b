import { describe, expect, it } from 'vitest';
import { answerRequest, answerRequestText } from './iallocator.js';
import { FIXTURE, HAVE_SAMPLES, SKIP_REASON, readSample, sampleFiles } from './testdata/samples.js';

function node(group: string, mem: number, disk: number, extra: Record<string, unknown> = {}) {
  return {
    total_memory: mem, reserved_memory: 0, free_memory: mem, total_disk: disk, free_disk: disk, total_cpus: 8,
    reserved_cpus: 1, offline: false, drained: false, vm_capable: true, group, tags: [],
    ndparams: { spindle_count: 1, exclusive_storage: false }, ...extra,
  };
}

function request(req: Record<string, unknown>, nodes: Record<string, unknown>, instances: Record<string, unknown> = {}) {
  return {
    cluster_tags: [], ipolicy: undefined, instances, nodes, request: req,
    nodegroups: { g1: { name: 'default', alloc_policy: 'preferred', networks: [], tags: [] } },
  };
}

describe('IAllocator protocol', () => {
  if (!HAVE_SAMPLES) it.skip(`shared htools samples: ${SKIP_REASON}`, () => {});

  it.skipIf(!HAVE_SAMPLES)('given each sample request, it answers with the same success and placement as hail', () => {
    const files = sampleFiles('.json');
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const want = FIXTURE.hail[f]!;
      const got = JSON.parse(answerRequestText(readSample(f))) as { success: boolean; result: unknown };
      expect(got.success, f).toBe(want.success);
      expect(got.result, f).toEqual(want.result);
    }
  });

  it('given a DRBD allocation, it answers a primary and a secondary in one group', () => {
    const a = answerRequest(request(
      { type: 'allocate', name: 'new', memory: 1024, vcpus: 1, disk_template: 'drbd', disks: [{ size: 1024 }], disk_space_total: 1152, tags: [], nics: [] },
      { n1: node('g1', 8192, 20480), n2: node('g1', 8192, 20480), n3: node('g1', 8192, 20480) },
    ));
    expect(a.success).toBe(true);
    const r = a.result as string[];
    expect(r).toHaveLength(2);
    expect(r[0]).not.toBe(r[1]);
  });

  it('given no node with enough memory, it fails and counts FailMem', () => {
    const a = answerRequest(request(
      { type: 'allocate', name: 'big', memory: 65536, vcpus: 1, disk_template: 'plain', disks: [{ size: 1024 }], disk_space_total: 1024, tags: [], nics: [] },
      { n1: node('g1', 8192, 20480), n2: node('g1', 8192, 20480) },
    ));
    expect(a.success).toBe(false);
    expect(a.info).toMatch(/FailMem: 2/);
  });

  it('given drained and offline nodes, it never places on them', () => {
    const a = answerRequest(request(
      { type: 'allocate', name: 'x', memory: 512, vcpus: 1, disk_template: 'plain', disks: [{ size: 1024 }], disk_space_total: 1024, tags: [], nics: [] },
      { n1: node('g1', 8192, 20480, { drained: true }), n2: node('g1', 8192, 20480, { offline: true }), n3: node('g1', 4096, 20480) },
    ));
    expect(a).toMatchObject({ success: true, result: ['n3'] });
  });

  it('given a node-evacuate of secondaries, it moves each secondary off the evacuated node', () => {
    const inst = (p: string, s: string) => ({ memory: 512, vcpus: 1, disk_template: 'drbd', disks: [{ size: 1024 }], disk_space_total: 1152, nodes: [p, s], admin_state: 'up', tags: [] });
    const a = answerRequest(request(
      { type: 'node-evacuate', instances: ['a', 'b'], evac_mode: 'secondary-only' },
      { n1: node('g1', 8192, 20480), n2: node('g1', 8192, 20480), n3: node('g1', 8192, 20480), n4: node('g1', 8192, 20480) },
      { a: inst('n1', 'n2'), b: inst('n3', 'n2') },
    ));
    expect(a.success).toBe(true);
    const res = a.result as { moved: [string, string, string[]][]; failed: unknown[]; jobs: unknown[][] };
    expect(res.failed).toEqual([]);
    expect(res.moved).toHaveLength(2);
    for (const [, , nodes] of res.moved) expect(nodes[1]).not.toBe('n2');
    expect(res.jobs).toHaveLength(2);
  });

  it('given invalid JSON, it answers a failure instead of throwing', () => {
    const a = JSON.parse(answerRequestText('{not json')) as { success: boolean; info: string };
    expect(a.success).toBe(false);
    expect(a.info).toMatch(/invalid JSON/);
  });

  it('given an unknown request type, it says so', () => {
    const a = answerRequest(request({ type: 'frobnicate' }, { n1: node('g1', 8192, 20480) }));
    expect(a).toMatchObject({ success: false });
    expect(a.info).toMatch(/unknown request type 'frobnicate'/);
  });
});

import { describe, expect, it } from 'vitest';
import { parseText, serializeText, TextFormatError } from './text.js';
import { HAVE_SAMPLES, SKIP_REASON, readSample, sampleFiles } from './testdata/samples.js';

const MINI = [
  'g1|uuid-1|preferred||', '',
  'n1|16384|1024|14000|409600|300000|16|N|uuid-1|2|rack:a|N|0|2|1.5',
  'n2|16384|0|15360|409600|306600|16|M|uuid-1', '',
  'web|1024|51200|2|running|Y|n1|n2|drbd|svc:web,x|1', '',
  'htools:iextags:svc', '',
  '|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|drbd,plain|4.0|32.0', '',
].join('\n');

describe('htools text format', () => {
  if (!HAVE_SAMPLES) it.skip(`shared htools samples: ${SKIP_REASON}`, () => {});
  it('given a small cluster, it reads every section with Ganeti defaults for missing fields', () => {
    const c = parseText(MINI);
    expect(c.groups.map((g) => [g.name, g.uuid, g.allocPolicy])).toEqual([['g1', 'uuid-1', 'preferred']]);
    const [n1, n2] = c.nodes;
    expect(n1).toMatchObject({ name: 'n1', tMem: 16384, nMem: 1024, fMem: 14000, tSpindles: 2, tags: ['rack:a'], nCpu: 2, cpuSpeed: 1.5 });
    expect(n2).toMatchObject({ master: true, offline: false, tSpindles: 1, nCpu: 1, cpuSpeed: 1, exclStorage: false });
    expect(c.instances[0]).toMatchObject({ name: 'web', pNode: 'n1', sNode: 'n2', diskTemplate: 'drbd', tags: ['svc:web', 'x'] });
    expect(c.clusterTags).toEqual(['htools:iextags:svc']);
    expect(c.ipolicy.diskTemplates).toEqual(['drbd', 'plain']);
    expect(c.ipolicy.minMax[0]!.max.memorySize).toBe(32768);
  });

  it('given a cluster, it serialises and reads back the same cluster', () => {
    const c = parseText(MINI);
    expect(parseText(serializeText(c))).toEqual(c);
  });

  it('given an instance on an unknown node, it fails with the node named', () => {
    const bad = MINI.replace('|n1|n2|drbd|', '|n1|nx|drbd|');
    expect(() => parseText(bad)).toThrow(TextFormatError);
    expect(() => parseText(bad)).toThrow(/Unknown node 'nx'/);
  });

  it('given a DRBD instance with the same primary and secondary, it refuses the data', () => {
    expect(() => parseText(MINI.replace('|n1|n2|drbd|', '|n1|n1|drbd|'))).toThrow(/same primary and secondary/);
  });

  it('given fewer than four sections, it says how many it found', () => {
    expect(() => parseText('g1|u|preferred||\n')).toThrow(/1 sections instead of 4/);
  });

  it.skipIf(!HAVE_SAMPLES)(`given every shared sample, it round-trips or reports a load error`, () => {
    const files = sampleFiles('.data');
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      let c;
      try {
        c = parseText(readSample(f));
      } catch (e) {
        expect(f, (e as Error).message).toBe('invalid-node.data');
        continue;
      }
      expect(parseText(serializeText(c)), f).toEqual(c);
    }
  });
});

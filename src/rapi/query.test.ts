import { describe, expect, it } from 'vitest';
import { compileFilter, instanceInfo, runQuery } from './query.js';
import type { RapiObject } from './view.js';

const insts: RapiObject[] = [
  { name: 'web1', pnode: 'n1', status: 'running', oper_state: true, admin_state: 'up', tags: ['team:a'], 'disk.sizes': [1024], 'disk.names': [null], 'nic.macs': ['aa:00:00:00:00:01'], 'nic.ips': ['198.18.0.10'], 'nic.modes': ['bridged'], 'nic.links': ['br0'], 'nic.networks': [null], 'nic.names': [null], beparams: { maxmem: 512 }, oper_ram: 512 },
  { name: 'web2', pnode: 'n2', status: 'ADMIN_down', oper_state: false, admin_state: 'down', tags: [], 'disk.sizes': [], 'nic.macs': [], beparams: { maxmem: 2048 }, oper_ram: null },
  { name: 'db1', pnode: 'n1', status: 'ERROR_nodedown', oper_state: false, admin_state: 'up', tags: ['team:b'], 'disk.sizes': [], 'nic.macs': [], beparams: { maxmem: 4096 }, oper_ram: null },
];
const known = new Set(['name', 'pnode', 'status', 'oper_state', 'tags', 'oper_ram']);
/** The 400's status and explain text of a call that must throw one. */
function refusal(f: () => unknown): string {
  try { f(); } catch (e) { const x = e as { statusCode: number; explain: string }; return `${x.statusCode} ${x.explain}`; }
  throw new Error('it did not throw');
}
const names = (q: unknown) => insts.filter(compileFilter(q, known)).map((i) => i.name);

describe("Ganeti's query filter language", () => {
  it('given =, !=, =~, =[] and ?, it selects the instances Ganeti would', () => {
    expect(names(['=', 'pnode', 'n1'])).toEqual(['web1', 'db1']);
    expect(names(['==', 'pnode', 'n2'])).toEqual(['web2']);
    expect(names(['!=', 'status', 'running'])).toEqual(['web2', 'db1']);
    expect(names(['=~', 'name', '^web'])).toEqual(['web1', 'web2']);
    expect(names(['=[]', 'tags', 'team:b'])).toEqual(['db1']);
    expect(names(['?', 'oper_state'])).toEqual(['web1']);
    expect(names(['?', 'tags'])).toEqual(['web1', 'db1']);
  });

  it('given &, | and ! nested, and comparisons, it combines them', () => {
    expect(names(['&', ['=', 'pnode', 'n1'], ['!', ['=', 'status', 'running']]])).toEqual(['db1']);
    expect(names(['|', ['=', 'name', 'web2'], ['=', 'name', 'db1']])).toEqual(['web2', 'db1']);
    expect(names(['>=', 'oper_ram', 256])).toEqual(['web1']);
    expect(names(['<', 'name', 'w'])).toEqual(['db1']);
    expect(names(null)).toEqual(['web1', 'web2', 'db1']);
  });

  it('given an unknown field, an unknown operator or a malformed filter, it answers 400 naming the part', () => {
    expect(refusal(() => names(['=', 'nosuch', 1]))).toBe('400 qfilter: unknown field "nosuch"');
    expect(refusal(() => names(['&', ['=', 'name', 'a'], ['~~', 'name', 'b']]))).toBe('400 qfilter[2]: unknown operator "~~"');
    expect(refusal(() => names('name'))).toMatch(/^400 qfilter: a filter is a list starting with an operator/);
    expect(refusal(() => names(['=~', 'name', '(']))).toMatch(/^400 qfilter: Invalid regular expression/);
    expect(refusal(() => names(['!']))).toBe('400 qfilter: ! takes one filter');
  });
});

describe('PUT /2/query answers', () => {
  it('given fields and a filter, it answers field definitions and [status, value] rows; an unknown field is RS_UNKNOWN', () => {
    const r = runQuery(insts, { fields: ['name', 'oper_ram', 'oper_state', 'bogus'], qfilter: ['=', 'pnode', 'n1'] });
    expect(r.fields.map((f) => [f.name, f.kind])).toEqual([['name', 'text'], ['oper_ram', 'number'], ['oper_state', 'bool'], ['bogus', 'unknown']]);
    expect(r.data).toEqual([[[0, 'web1'], [0, 512], [0, true], [1, null]], [[0, 'db1'], [0, null], [0, false], [1, null]]]);
  });

  it('given no fields, it answers 400', () => {
    expect(refusal(() => runQuery(insts, { qfilter: null }))).toBe('400 fields: a non-empty list of field names');
  });

  it('given an instance, its info has config_state, run_state (null when the node is down), disks and nics', () => {
    expect(instanceInfo(insts[0]!).web1).toMatchObject({ config_state: 'up', run_state: 'up', pnode: 'n1', disks: [{ size: 1024, iv_name: 'disk/0' }], nics: [{ mac: 'aa:00:00:00:00:01', ip: '198.18.0.10', link: 'br0' }], be_actual: { maxmem: 512 } });
    expect(instanceInfo(insts[2]!).db1).toMatchObject({ config_state: 'up', run_state: null });
  });
});

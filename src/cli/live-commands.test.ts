import { beforeAll, describe, expect, it } from 'vitest';
import { loadDesired } from '../desired/load.js';
import type { DesiredState } from '../desired/model.js';
import { emptyObservedNode, type ObservedInstance, type ObservedNode } from '../core/observed.js';
import type { ObservedCluster, PlanEntry } from '../core/plan.js';
import type { ResourceStatus } from '../status/status.js';
import {
  consoleArgv, describeAge, formatAge, instanceRows, knownHostsLine, nodeRows, renderInstanceDescription, renderRows, shellQuote,
} from './live-commands.js';

const AT = '2024-05-01T10:00:00.000Z';
const N1 = 'node1.phys.example.edu';
const N2 = 'node2.phys.example.edu';
const N3 = 'node3.phys.example.edu';
const N4 = 'node4.phys.example.edu';
const DB = 'db1.phys.example.edu';

let state: DesiredState;
beforeAll(async () => {
  const { state: s, errors } = await loadDesired(['examples/campus']);
  expect(errors).toEqual([]);
  state = s!;
});

function up(name: string, extra: Partial<ObservedNode> = {}): ObservedNode {
  return {
    ...emptyObservedNode(name, AT),
    facts: { hostname: name, kernel: '6.1.0', cpus: 16, memoryTotalMiB: 65536, memoryFreeMiB: 30000 },
    ...extra,
  };
}

function vm(name: string, extra: Partial<ObservedInstance> = {}): ObservedInstance {
  return { name, runState: 'running', guestShutdown: false, pid: 4242, memoryMiB: 16384, vcpus: 8, runtime: { specHash: 'x' }, ...extra };
}

const cluster = (...nodes: ObservedNode[]): ObservedCluster => ({ nodes: new Map(nodes.map((n) => [n.name, n])) });

describe('formatAge', () => {
  it('given seconds, minutes, hours and days it picks the two largest units', () => {
    expect(formatAge(0)).toBe('0s');
    expect(formatAge(45_900)).toBe('45s');
    expect(formatAge(192_000)).toBe('3m12s');
    expect(formatAge((2 * 3600 + 5 * 60 + 7) * 1000)).toBe('2h05m');
    expect(formatAge((3 * 86400 + 4 * 3600) * 1000)).toBe('3d04h');
  });

  it('given a snapshot from the future (clock skew) it says 0s, not a negative age', () => {
    expect(formatAge(-5000)).toBe('0s');
    expect(describeAge('2024-05-01T10:03:12.000Z', new Date(AT))).toBe('observed 0s ago at 2024-05-01T10:03:12.000Z');
  });

  it('given an observedAt it prints how long ago and when', () => {
    expect(describeAge(AT, new Date('2024-05-01T10:03:12.000Z'))).toBe(`observed 3m12s ago at ${AT}`);
    expect(describeAge('garbage', new Date(AT))).toContain('unparseable');
  });
});

describe('instanceRows', () => {
  it('given an instance running on its primary it reports running, oper_ram and the IPs recorded on the node', () => {
    const obs = cluster(up(N1, { instances: { [DB]: vm(DB, { meta: { version: 1, instance: DB, uuid: 'u', os: 'image+debian', osGeneration: 1, restartGeneration: 0, nics: [{ mac: 'aa:00:00:00:00:01', ip: '10.113.0.40', network: 'lan' }] } }) } }), up(N2), up(N3), up(N4));
    const row = instanceRows(state, obs).find((r) => r.name === DB)!;
    expect(row).toMatchObject({
      pnode: N1, snodes: N2, status: 'running', 'be/memory': 16384, 'be/vcpus': 8, disk_template: 'drbd',
      'nic.ips': '10.113.0.40', 'nic.macs': 'aa:00:00:00:00:01', oper_ram: 16384, pid: 4242, declared: true, observed_at: AT,
    });
  });

  it('given a VM stopped by Gantry, one powered off by its guest and one that crashed it uses the Ganeti names', () => {
    const obs = cluster(up(N1, {
      instances: {
        [DB]: vm(DB, { runState: 'stopped', adminStopped: true }),
        'ns1.phys.example.edu': vm('ns1.phys.example.edu', { runState: 'stopped', guestShutdown: true }),
        'ns2.phys.example.edu': vm('ns2.phys.example.edu', { runState: 'stopped' }),
      },
    }), up(N2), up(N3), up(N4));
    const rows = instanceRows(state, obs);
    const by = (n: string) => rows.find((r) => r.name === n)!;
    expect(by(DB).status).toBe('ADMIN_down');
    expect(by(DB).oper_ram).toBe('');
    expect(by('ns1.phys.example.edu').status).toBe('USER_down');
    expect(by('ns2.phys.example.edu').status).toBe('ERROR_down');
  });

  it('given the pinned primary is unreachable it reports ERROR_nodedown; declared but found nowhere is absent', () => {
    const obs = cluster(emptyObservedNode(N1, AT, 'connection refused'), up(N2), up(N3), up(N4));
    const rows = instanceRows(state, obs);
    expect(rows.find((r) => r.name === DB)).toMatchObject({ status: 'ERROR_nodedown', pnode: N1, oper_ram: '' });
    // pinned to node3, which answered without it
    expect(rows.find((r) => r.name === 'ci-runner2.phys.example.edu')?.status).toBe('absent');
    // unpinned while a node is unreachable: it may be there
    expect(rows.find((r) => r.name === 'git.phys.example.edu')?.status).toBe('unknown');
    // declared NICs stand in until the node records allocations
    expect(rows.find((r) => r.name === 'www.phys.example.edu')?.['nic.ips']).toBe('pool,pool');
  });

  it('given every node answers and an unpinned instance is nowhere it reports absent', () => {
    const rows = instanceRows(state, cluster(up(N1), up(N2), up(N3), up(N4)));
    expect(rows.find((r) => r.name === 'git.phys.example.edu')?.status).toBe('absent');
    expect(rows.every((r) => r.declared)).toBe(true);
  });

  it('given a copy running away from its pinned primary it reports ERROR_wrongnode and lists every copy', () => {
    const obs = cluster(up(N1, { instances: { [DB]: vm(DB, { runState: 'stopped', adminStopped: true }) } }), up(N2, { instances: { [DB]: vm(DB) } }), up(N3), up(N4));
    const row = instanceRows(state, obs).find((r) => r.name === DB)!;
    expect(row).toMatchObject({ status: 'ERROR_wrongnode', pnode: N2, nodes: `${N1},${N2}` });
  });

  it('given an instance on a node that no manifest declares it is listed as undeclared with its recorded OS', () => {
    const obs = cluster(up(N3, { instances: { stray: vm('stray', { memoryMiB: 256, meta: { version: 1, instance: 'stray', uuid: 'u', os: 'busybox+default', osGeneration: 1, restartGeneration: 0, nics: [] } }) } }));
    const row = instanceRows(state, obs).find((r) => r.name === 'stray')!;
    expect(row).toMatchObject({ declared: false, os: 'busybox+default', pnode: N3, status: 'running', oper_ram: 256, 'be/memory': '' });
  });
});

describe('nodeRows', () => {
  it('given reachable and unreachable nodes it reports memory, VGs, instance counts and the probe error', () => {
    const obs = cluster(
      up(N1, { vgs: { vg0: { name: 'vg0', sizeMiB: 4096, freeMiB: 1024, pvs: ['/dev/sdb'] } }, instances: { [DB]: vm(DB), b: vm('b', { runState: 'stopped' }) } }),
      emptyObservedNode(N2, AT, 'connection refused'),
      up(N3, { probeErrors: ['ovs: ovs-vsctl not found'] }),
    );
    const rows = nodeRows(state, obs);
    expect(rows.find((r) => r.name === N1)).toMatchObject({ group: 'rack-a', role: 'master-candidate', reachable: true, mtotal: 65536, mfree: 30000, vgs: 'vg0 1024/4096', instances: 2, running: 1, inst_list: `b,${DB}`, error: '' });
    expect(rows.find((r) => r.name === N2)).toMatchObject({ reachable: false, mtotal: '', instances: '', error: 'connection refused' });
    expect(rows.find((r) => r.name === N3)?.error).toBe('ovs: ovs-vsctl not found');
    expect(rows.find((r) => r.name === N4)).toMatchObject({ reachable: false, role: 'drained', error: 'not observed' });
  });
});

describe('nodeRows with liveness', () => {
  it('given the liveness record, each node shows its condition, since when and its missed probes', () => {
    const obs = cluster(up(N1), emptyObservedNode(N2, AT, 'refused'));
    const liveness = new Map([[N2, { node: N2, condition: 'Unreachable' as const, since: AT, missedProbes: 2, error: 'refused', graceOver: false }]]);
    const rows = nodeRows(state, { ...obs, liveness });
    expect(rows.find((r) => r.name === N2)).toMatchObject({ condition: 'Unreachable', since: AT, missed: 2 });
    expect(rows.find((r) => r.name === N1)).toMatchObject({ condition: 'Ready', since: '', missed: '' });
  });
});

describe('renderRows', () => {
  const rows = () => nodeRows(state, cluster(up(N1), emptyObservedNode(N2, AT, 'refused')));

  it('given the default fields it prints a gnt-node-list-style table with Y/N booleans', () => {
    const t = renderRows('nodes', rows());
    expect(t.split('\n')[0]).toMatch(/^Node\s+Group\s+Role\s+Reachable\s+Condition\s+Missed\s+MTotal\s+MFree\s+VGs\s+Inst\s+Error$/);
    expect(t).toMatch(new RegExp(`${N1.replace(/\./g, '\\.')}\\s+rack-a\\s+master-candidate\\s+Y\\s+Ready\\s+65536\\s+30000`));
    expect(t).toMatch(/ N\s+Unreachable\s+refused/);
  });

  it('given -o fields, --no-headers and json it keeps only those fields with their raw types', () => {
    expect(renderRows('nodes', rows(), { fields: ['name', 'reachable'], headers: false }).split('\n')[0]).toMatch(new RegExp(`^${N1.replace(/\./g, '\\.')}\\s+Y$`));
    const j = JSON.parse(renderRows('nodes', rows(), { fields: ['name', 'mtotal', 'reachable'], output: 'json' })) as unknown[];
    expect(j[0]).toEqual({ name: N1, mtotal: 65536, reachable: true });
    expect(renderRows('instances', [], { output: 'yaml' })).toBe('[]\n');
  });

  it('given an unknown field it fails naming the valid ones', () => {
    expect(() => renderRows('instances', [], { fields: ['name', 'bogus'] })).toThrow(/unknown field\(s\) bogus; fields for instances: name, os/);
  });
});

describe('consoleArgv', () => {
  it('given a node endpoint it builds a strict ssh + socat argv on the serial socket, never a shell line', () => {
    const argv = consoleArgv({ host: '10.0.0.1', port: 2222, user: 'root', privateKeyFile: '/k/id' }, '/tmp/x/known_hosts', '/run/gantry/', 'web1');
    expect(argv).toEqual([
      'ssh', '-t', '-o', 'StrictHostKeyChecking=yes', '-o', 'UserKnownHostsFile=/tmp/x/known_hosts', '-o', 'GlobalKnownHostsFile=/dev/null',
      '-i', '/k/id', '-p', '2222', 'root@10.0.0.1',
      'socat', 'STDIO,raw,echo=0,escape=0x1d', 'UNIX-CONNECT:/run/gantry/web1/serial.sock',
    ]);
    expect(argv.join(' ')).not.toContain('accept-new');
  });

  it('given no private key file it leaves -i out, and quotes a run dir the remote shell would split', () => {
    const argv = consoleArgv({ host: 'n1', port: 22, user: 'admin' }, '/kh', '/srv/run dir', 'web1');
    expect(argv).not.toContain('-i');
    expect(argv.at(-1)).toBe(`'UNIX-CONNECT:/srv/run dir/web1/serial.sock'`);
  });

  it('given --print-command the argv is shown quoted so it can be pasted', () => {
    expect(shellQuote(['ssh', '-o', 'UserKnownHostsFile=/tmp/a b', `'UNIX-CONNECT:/x y'`])).toBe(`ssh -o 'UserKnownHostsFile=/tmp/a b' ''\\''UNIX-CONNECT:/x y'\\'''`);
  });

  it('given a pinned key it writes the known_hosts line, bracketing non-22 ports and dropping the comment', () => {
    expect(knownHostsLine('n1', 22, 'ssh-ed25519 AAAAC3Nz root@n1')).toBe('n1 ssh-ed25519 AAAAC3Nz\n');
    expect(knownHostsLine('10.0.0.1', 2222, ' ssh-ed25519 AAAAC3Nz ')).toBe('[10.0.0.1]:2222 ssh-ed25519 AAAAC3Nz\n');
    expect(() => knownHostsLine('n1', 22, 'garbage')).toThrow(/not an OpenSSH public key/);
  });
});

describe('renderInstanceDescription', () => {
  it('given a drifted instance it prints the spec, live status, NICs, conditions and pending actions with reasons', () => {
    const inst = state.instances.get(DB)!;
    const status: ResourceStatus = {
      subject: `Instance/${DB}`,
      conditions: [
        { type: 'Synced', status: 'False', reason: 'Drift', message: '1 differences, 1 actions pending', lastTransitionTime: AT },
        { type: 'Ready', status: 'False', reason: 'ADMIN_down', message: `instance is ADMIN_down on ${N1}`, lastTransitionTime: AT },
      ],
      facts: {
        status: 'ADMIN_down', node: N1, nics: [{ mac: 'aa:00:00:00:00:01', ip: '10.113.0.40', network: 'lan' }],
        autoRepair: { decision: 'gave-up', message: 'n9 is offline: failover failed 3 times in a row', last: { type: 'failover', result: 'failure', last: AT, attempts: 3, message: 'instance.start on n2: QEMU_FAILED' } },
      },
    };
    const entry: PlanEntry = {
      subject: `Instance/${DB}`, status: 'drift',
      diffs: [{ path: 'powerState', desired: 'running', observed: 'ADMIN_down' }],
      actions: [{ verb: 'instance.start', node: N1, subject: `Instance/${DB}`, reason: 'powerState is running; the VM is stopped (ADMIN_down)' } as unknown as PlanEntry['actions'][number]],
      refused: [], notes: [],
    };
    const row = instanceRows(state, cluster(up(N1, { instances: { [DB]: vm(DB, { runState: 'stopped', adminStopped: true }) } }))).find((r) => r.name === DB);
    const t = renderInstanceDescription(inst, status, entry, row);
    expect(t).toMatch(/Name:\s+db1\.phys\.example\.edu/);
    expect(t).toMatch(/Memory:\s+16384 MiB/);
    expect(t).toMatch(/Disk template:\s+drbd/);
    expect(t).toMatch(new RegExp(`Status:\\s+ADMIN_down\\nNode:\\s+${N1.replace(/\./g, '\\.')}`));
    expect(t).toMatch(/nic0\s+lan\s+\S+\s+aa:00:00:00:00:01\s+10\.113\.0\.40/);
    expect(t).toContain('Auto-repair:    gave-up: n9 is offline: failover failed 3 times in a row');
    expect(t).toContain(`Last repair:    failover failure at ${AT} (3 failed in a row): instance.start on n2: QEMU_FAILED`);
    expect(t).toMatch(/TYPE\s+STATUS\s+REASON\s+MESSAGE/);
    expect(t).toMatch(/Ready\s+False\s+ADMIN_down\s+instance is ADMIN_down/);
    expect(t).toContain('~ powerState: "ADMIN_down" -> "running"');
    expect(t).toContain(`+ instance.start @${N1}`);
    expect(t).toContain('why: powerState is running; the VM is stopped (ADMIN_down)');
  });

  it('given no plan entry and no status it still prints the spec and says there is no status', () => {
    const t = renderInstanceDescription(state.instances.get('git.phys.example.edu')!, undefined, undefined, undefined);
    expect(t).toMatch(/Placement:\s+primary \(allocator\)/);
    expect(t).toContain('(no status: not in the plan)');
    expect(t).not.toContain('Pending actions');
  });
});

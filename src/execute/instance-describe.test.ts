import { describe, expect, it } from 'vitest';
import type { Action, InstanceLaunch, InstanceRecord } from '../core/actions.js';
import type { Transport } from '../transport/transport.js';
import { silentLogger } from '../util/log.js';
import { InstanceOps } from './instance-ops.js';

/** describe() never runs anything: a transport that throws proves it. */
const noRun = (node: string): Transport => ({
  node,
  exec: () => Promise.reject(new Error('describe must not run commands')),
  execBatch: () => Promise.reject(new Error('describe must not run commands')),
  close: () => Promise.resolve(),
}) as unknown as Transport;

const ops = new Map<string, InstanceOps>();
const make = (node: string, ovsdbSocket?: string) => {
  const o = new InstanceOps({ node, transport: noRun(node), logger: silentLogger(), runRoot: `/run/gantry/${node}`, osSearchPath: ['/srv/gantry/os'], peer: (n) => ops.get(n), ...(ovsdbSocket ? { ovsdbSocket } : {}) });
  ops.set(node, o);
  return o;
};
const n1 = make('n1');
make('n2');

const launch: InstanceLaunch = {
  name: 'web1', uuid: '5f2b1c3e-0000-5000-8000-000000000001', memoryMiB: 256, vcpus: 1, accel: 'tcg', bootOrder: ['disk'],
  disks: [{ path: '/dev/gantry/web1.disk0', format: 'raw', bus: 'virtio' }],
  nics: [{ mac: 'aa:00:00:00:00:01', model: 'virtio', mode: 'bridged', link: 'br-lab', trunks: [] }],
  vnc: false, vncBindAddress: '127.0.0.1',
};
const record: InstanceRecord = { uuid: launch.uuid, os: 'image+debian', osGeneration: 1, restartGeneration: 0, nics: [{ mac: 'aa:00:00:00:00:01' }], launch };
const base = { node: 'n1', subject: 'Instance/web1', reason: 'r', name: 'web1', runDir: '/run/gantry/n1/web1' };
const line = (argv: readonly string[]) => argv.join(' ');

describe('InstanceOps.describe (what --dry-run prints for instance verbs)', () => {
  it('given a stop it prints the socat argv and the QMP JSON it sends, not a pseudo command', () => {
    const d = n1.describe({ ...base, verb: 'instance.stop', timeoutS: 30 });
    expect(d[0]).toEqual(['socat', '-t', '2', '-', 'UNIX-CONNECT:/run/gantry/n1/web1/qmp.sock', '<<<', '{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown"}']);
    expect(d[1]!.at(-1)).toBe('{"execute":"qmp_capabilities"}\n{"execute":"quit"}');
    expect(d.flat()).not.toContain('qmp');
  });
  it('given a block resize it prints the query-block read and the block_resize it sends, in bytes', () => {
    const d = n1.describe({ ...base, verb: 'instance.block-resize', drive: 'disk0', path: '/dev/gantry/web1.disk0', sizeMiB: 2048 });
    expect(d.map((c) => c.at(-1))).toEqual([
      '{"execute":"qmp_capabilities"}\n{"execute":"query-block"}',
      '{"execute":"qmp_capabilities"}\n{"execute":"block_resize","arguments":{"device":"disk0","size":2147483648}}',
    ]);
  });
  it('given a start it prints run-dir setup, the tap commands and the real qemu argv', () => {
    const d = n1.describe({ ...base, verb: 'instance.start', launch, record });
    const lines = d.map(line);
    expect(lines[0]).toBe('mkdir -p /run/gantry/n1/web1');
    expect(lines).toContain('ip tuntap add dev t-web1-0 mode tap');
    expect(lines).toContain('ip link set dev t-web1-0 master br-lab up');
    const qemu = d.find((c) => c[0] === 'qemu-system-x86_64')!;
    expect(qemu).toEqual(expect.arrayContaining(['-daemonize', '-qmp']));
    expect(d.at(-1)!.slice(0, 5)).toEqual(['sh', '-c', 'cat >"$1.tmp" && mv -f "$1.tmp" "$1"', 'gantry-write', '/run/gantry/n1/web1/gantry.json']);
  });
  it('given an image install it prints the format check and a convert that always has -f', () => {
    const d = n1.describe({ ...base, verb: 'instance.install', os: { name: 'image+debian', params: { image: '/srv/images/debian.qcow2', image_format: 'qcow2' } }, launch, record, nicInfo: [] });
    expect(d).toContainEqual(['qemu-img', 'info', '--output=json', '/srv/images/debian.qcow2']);
    expect(d).toContainEqual(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', '-n', '/srv/images/debian.qcow2', '/dev/gantry/web1.disk0']);
  });
  it('given a script install it prints the OS environment and the create script argv', () => {
    const d = n1.describe({ ...base, verb: 'instance.install', os: { name: 'busybox+default', params: {} }, launch, record, nicInfo: [{ ip: '198.18.5.20' }] });
    const run = d.find((c) => c[0] === 'env')!;
    expect(run).toEqual(expect.arrayContaining(['INSTANCE_NAME=web1', 'DISK_0_PATH=/dev/gantry/web1.disk0', 'NIC_0_IP=198.18.5.20', 'sh', '/srv/gantry/os/busybox/create']));
  });
  it('given named disks and NICs and a read-only disk, the OS scripts get DISK_N_NAME, DISK_N_ACCESS=ro and NIC_N_NAME', () => {
    const ro: InstanceLaunch = { ...launch, disks: launch.disks.map((d) => ({ ...d, readOnly: true as const })) };
    const d = n1.describe({ ...base, verb: 'instance.install', os: { name: 'busybox+default', params: {} }, launch: ro, record, nicInfo: [{ ip: '198.18.5.20', name: 'eth-lan' }], diskNames: ['root'] });
    expect(d.find((c) => c[0] === 'env')).toEqual(expect.arrayContaining(['DISK_0_NAME=root', 'DISK_0_ACCESS=ro', 'NIC_0_NAME=eth-lan']));
    const start = n1.describe({ ...base, verb: 'instance.start', launch: { ...ro, diskCache: 'writethrough', usbMouse: 'tablet', noReboot: true }, record });
    const qemu = start.find((c) => c[0] === 'qemu-system-x86_64')!;
    expect(qemu).toEqual(expect.arrayContaining(['-no-reboot', 'usb-tablet,id=pointer0']));
    expect(qemu.find((x) => x.startsWith('file=/dev/gantry/web1.disk0'))).toMatch(/cache=writethrough,readonly=on$/);
  });
  it('given a remove it prints QMP stop, the real tap deletion (ip tuntap del) and the run dir removal', () => {
    const d = n1.describe({ ...base, verb: 'instance.remove', nicCount: 1 }).map(line);
    expect(d).toContain('ip tuntap del dev t-web1-0 mode tap');
    expect(d.at(-1)).toBe('rm -rf -- /run/gantry/n1/web1');
  });
  it('given a migration it prints the destination commands marked with their node and the QMP migrate JSON', () => {
    const a: Action = { ...base, verb: 'instance.migrate', peer: 'n2', peerAddress: '198.19.5.12', peerRunDir: '/run/gantry/n2/web1', launch, record, bandwidthMiBps: 100, downtimeMs: 300 };
    const d = n1.describe(a);
    const dest = d.filter((c) => c[0] === '@n2');
    expect(dest.map((c) => c[1])).toEqual(expect.arrayContaining(['mkdir', 'qemu-system-x86_64']));
    expect(dest.find((c) => c[1] === 'qemu-system-x86_64')).toEqual(expect.arrayContaining(['-incoming']));
    const migrate = d.find((c) => c.at(-1)?.includes('"execute":"migrate"'))!;
    expect(migrate.at(-1)!.split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { execute: 'qmp_capabilities' },
      { execute: 'migrate-set-parameters', arguments: { 'max-bandwidth': 100 * 1024 * 1024, 'downtime-limit': 300 } },
      { execute: 'migrate', arguments: { uri: expect.stringMatching(/^tcp:198\.19\.5\.12:\d+$/) } },
    ]);
  });
});

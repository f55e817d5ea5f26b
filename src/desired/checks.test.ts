import { describe, expect, it } from 'vitest';
import { parseManifestText } from './load.js';
import { buildDesired } from './build.js';
import { formatLoadError } from './errors.js';
import { kernelCommandLine } from '../plan/from-desired.js';

const CLUSTER = (extra = '') => `apiVersion: gantry.dev/v1alpha1
kind: Cluster
metadata: { name: c1 }
spec:
  enabledDiskTemplates: [plain, file]
  nicParams: { mode: bridged, link: br0 }
${extra}`;
const NODE = `apiVersion: gantry.dev/v1alpha1
kind: Node
metadata: { name: n1 }
spec: { address: 192.0.2.1 }
`;
const inst = (name: string, spec: string) => `apiVersion: gantry.dev/v1alpha1
kind: Instance
metadata: { name: ${name} }
spec:
  os: { name: none }
  diskTemplate: file
${spec}`;

function errorsOf(...docs: string[]): string[] {
  const parsed = parseManifestText('m.yaml', docs.join('---\n'));
  return [...parsed.errors, ...buildDesired(parsed.resources, undefined, parsed.failed).errors].map(formatLoadError);
}

describe('cross-field checks', () => {
  it('given serialSpeed, serialConsole: false or rootPath without kernelPath, it refuses each at the field that sets it', () => {
    const errs = errorsOf(CLUSTER('  hvParams: { kvm: { serialSpeed: 115200 } }\n'), NODE, inst('a', '  hvParams: { serialConsole: false, rootPath: /dev/vda2 }\n  disks: [{ size: 1G }]\n'));
    expect(errs).toEqual([
      expect.stringMatching(/^m\.yaml:\d+:\d+: spec\.hvParams\.kvm\.serialSpeed: serialSpeed 115200 reaches the guest only as console=ttyS0,115200 on a kernel command line/),
      expect.stringMatching(/spec\.hvParams\.serialConsole: serialConsole: false only leaves console=ttyS0 off/),
      expect.stringMatching(/spec\.hvParams\.rootPath: rootPath \/dev\/vda2 reaches the guest only as root=\/dev\/vda2/),
    ]);
    expect(errorsOf(CLUSTER('  hvParams: { kvm: { kernelPath: /boot/vmlinuz, serialSpeed: 115200, rootPath: /dev/vda2 } }\n'), NODE, inst('a', '  disks: [{ size: 1G }]\n'))).toEqual([]);
  });

  it('given bootOrder cdrom without cdromImagePath, it refuses; with one it accepts', () => {
    expect(errorsOf(CLUSTER(), NODE, inst('a', '  hvParams: { bootOrder: cdrom }\n  disks: [{ size: 1G }]\n'))).toEqual([expect.stringMatching(/spec\.hvParams\.bootOrder: bootOrder: cdrom needs cdromImagePath/)]);
    expect(errorsOf(CLUSTER(), NODE, inst('a', '  hvParams: { bootOrder: cdrom, cdromImagePath: /srv/iso/d.iso }\n  disks: [{ size: 1G }]\n'))).toEqual([]);
  });

  it('given duplicate disk or NIC names, a read-only IDE disk, a disk over maxDiskSize and a VLAN on a bridged NIC, it refuses each once', () => {
    const errs = errorsOf(CLUSTER('  maxDiskSize: 10G\n'), NODE, inst('a', `  hvParams: { diskType: ide }
  disks: [{ size: 1G, name: root }, { size: 20G, name: root, mode: ro }]
  nics: [{ name: eth0, link: br0 }, { name: eth0, link: br0, vlan: 10 }]
`));
    expect(errs).toHaveLength(5);
    expect(errs).toEqual(expect.arrayContaining([
      expect.stringMatching(/spec\.disks\[1\]\.size: disk size 20480 MiB is larger than the Cluster's maxDiskSize \(10240 MiB\)/),
      expect.stringMatching(/spec\.disks\[1\]\.name: disk name "root" is already used by disks\[0\]/),
      expect.stringMatching(/spec\.disks\[1\]\.mode: an IDE hard disk cannot be read-only/),
      expect.stringMatching(/spec\.nics\[1\]\.name: NIC name "eth0" is already used by nics\[0\]/),
      expect.stringMatching(/spec\.nics\[1\]\.vlan: VLAN 10 needs mode openvswitch/),
    ]));
  });

  it('given qcow2 file and sharedfile formats (implemented end to end), it accepts them', () => {
    expect(errorsOf(CLUSTER('  diskParams: { file: { format: qcow2 }, sharedfile: { format: qcow2 } }\n'), NODE)).toEqual([]);
  });
});

describe('one broken resource, one error', () => {
  it('given a Network and a NodeGroup that fail validation, the Nodes and Instances that refer to them add no error of their own', () => {
    const group = 'apiVersion: gantry.dev/v1alpha1\nkind: NodeGroup\nmetadata: { name: rack1 }\nspec: { allocPolicy: sometimes }\n';
    const net = 'apiVersion: gantry.dev/v1alpha1\nkind: Network\nmetadata: { name: lan }\nspec: { subnet: 10.0.0.0/33 }\n';
    const node = (n: string, a: string) => `apiVersion: gantry.dev/v1alpha1\nkind: Node\nmetadata: { name: ${n} }\nspec: { address: ${a}, group: rack1 }\n`;
    const errs = errorsOf(CLUSTER(), group, net, node('n1', '192.0.2.1'), node('n2', '192.0.2.2'),
      inst('web1', '  disks: [{ size: 1G }]\n  nics: [{ network: lan, ip: 10.0.0.5 }]\n  placement: { primary: n1, group: rack1 }\n'),
      inst('web2', '  disks: [{ size: 1G }]\n  nics: [{ network: lan, ip: pool }]\n  placement: { primary: n2 }\n'));
    expect(errs).toEqual([expect.stringMatching(/spec\.allocPolicy: "sometimes" is not one of/), expect.stringMatching(/spec\.subnet: "10\.0\.0\.0\/33" is not an IPv4 CIDR/)]);
  });
});

describe('kernelCommandLine', () => {
  const hv = { accel: 'tcg', kernelArgs: 'ro', bootOrder: 'disk', diskType: 'paravirtual', diskCache: 'none', nicType: 'paravirtual', serialConsole: true, migrationBandwidthMiBps: 32, migrationDowntimeMs: 30, rebootBehavior: 'reboot', useChroot: false, kernelPath: '/boot/vmlinuz' } as const;
  it('given rootPath and serialSpeed, it appends root= and console=ttyS0,SPEED unless kernelArgs has them', () => {
    expect(kernelCommandLine(hv)).toBe('ro console=ttyS0');
    expect(kernelCommandLine({ ...hv, rootPath: '/dev/vda2', serialSpeed: 115200 })).toBe('ro root=/dev/vda2 console=ttyS0,115200');
    expect(kernelCommandLine({ ...hv, kernelArgs: 'root=/dev/sda1 console=tty0', rootPath: '/dev/vda2', serialSpeed: 115200 })).toBe('root=/dev/sda1 console=tty0');
    expect(kernelCommandLine({ ...hv, serialConsole: false })).toBe('ro');
  });
});

import { describe, expect, it } from 'vitest';
import { layoutLab, renderLvmConf, renderSshdConfig, sshdLaunchArgv } from './config.js';

describe('layoutLab', () => {
  it('given defaults it names node i gantry-node<i> at .10+i on both networks', () => {
    const l = layoutLab({ nodes: 2 });
    expect(l.stateDir).toBe('/var/lib/gantry-lab');
    expect(l.mgmt).toEqual({ bridge: 'gantry-mgmt', hostCidr: '198.18.0.1/24', base: '198.18.0' });
    expect(l.repl.bridge).toBe('gantry-repl');
    expect(l.nodes.map((n) => [n.name, n.namespace, n.address, n.secondaryAddress, n.mgmtVeth, n.vgName])).toEqual([
      ['node1', 'gantry-node1', '198.18.0.11', '198.19.0.11', 'gantry-1m', 'gantry'],
      ['node2', 'gantry-node2', '198.18.0.12', '198.19.0.12', 'gantry-2m', 'gantry'],
    ]);
    expect(l.nodes[0]!.ovsdbSocket).toBe('/var/lib/gantry-lab/node1/ovs/db.sock');
  });

  it('given a test prefix and subnets every kernel name fits in 15 characters', () => {
    const l = layoutLab({ nodes: 200, prefix: 'gt12345', mgmtSubnet: '198.18.120.0/24', replSubnet: '198.19.120.0/24' });
    const names = [l.mgmt.bridge, l.repl.bridge, ...l.nodes.flatMap((n) => [n.mgmtVeth, n.replVeth])];
    expect(Math.max(...names.map((n) => n.length))).toBeLessThanOrEqual(15);
    expect(l.nodes[199]!.address).toBe('198.18.120.210');
    expect(l.stateDir).toBe('/var/lib/gt12345-lab');
  });

  it('given addresses outside 198.18.0.0/15, a bad prefix or node count it refuses', () => {
    expect(() => layoutLab({ nodes: 1, mgmtSubnet: '10.0.0.0/24' })).toThrow(expect.objectContaining({ code: 'LAB_BAD_SUBNET' }));
    expect(() => layoutLab({ nodes: 1, mgmtSubnet: '198.18.0.0/16' })).toThrow(expect.objectContaining({ code: 'LAB_BAD_SUBNET' }));
    expect(() => layoutLab({ nodes: 1, mgmtSubnet: '198.19.0.0/24' })).toThrow(expect.objectContaining({ code: 'LAB_BAD_SUBNET' }));
    expect(() => layoutLab({ nodes: 1, prefix: 'Bad-Prefix' })).toThrow(expect.objectContaining({ code: 'LAB_BAD_PREFIX' }));
    expect(() => layoutLab({ nodes: 0 })).toThrow(expect.objectContaining({ code: 'LAB_BAD_NODE_COUNT' }));
  });

  it('given a state dir so deep that OVS socket paths overflow it refuses', () => {
    expect(() => layoutLab({ nodes: 1, stateDir: `/tmp/${'x'.repeat(90)}` })).toThrow(expect.objectContaining({ code: 'LAB_PATH_TOO_LONG' }));
  });
});

describe('rendered configs', () => {
  const node = layoutLab({ nodes: 1 }).nodes[0]!;

  it('given a node its sshd listens on the node address only and allows root by key only', () => {
    const conf = renderSshdConfig(node, '/var/lib/gantry-lab/authorized_keys');
    expect(conf).toContain('ListenAddress 198.18.0.11:22');
    expect(conf).toContain('PermitRootLogin prohibit-password');
    expect(conf).toContain('PasswordAuthentication no');
    expect(conf).toContain(`PidFile ${node.sshdPidFile}`);
    expect(conf).toContain(`LVM_SYSTEM_DIR=${node.lvmSystemDir}`);
  });

  it('given a node its sshd starts with its own hostname and its own empty /root, so sessions never run the host\'s dotfiles', () => {
    const argv = sshdLaunchArgv(node, '/usr/sbin/sshd');
    expect(argv.slice(0, argv.indexOf('sh'))).toEqual(['unshare', '--uts', '--mount', '--propagation', 'unchanged']);
    const script = argv[argv.indexOf('-c') + 1]!;
    // The tmpfs goes on /root before sshd starts: every session is a child of that sshd.
    expect(script.indexOf('mount -t tmpfs')).toBeLessThan(script.indexOf('exec "$2"'));
    expect(script).toMatch(/mount -t tmpfs -o mode=0700 \S+ \/root &&/);
    expect(argv.slice(-5)).toEqual(['sh', node.name, '/usr/sbin/sshd', node.sshdConfig, node.sshdLog]);
  });

  it('given a loop device LVM sees only that device and never activates', () => {
    const conf = renderLvmConf(node, '/dev/loop7');
    expect(conf).toContain('filter = [ "a|^/dev/loop7$|", "r|.*|" ]');
    expect(conf).toContain('activation = 0');
    expect(conf).toContain(`locking_dir = "${node.lvmSystemDir}/lock"`);
  });
});

describe('layoutLab with several PVs per node (exclusive storage labs)', () => {
  it('given pvsPerNode 3 each namespace node gets two more loop files, LVM sees exactly its three devices, and a bad count is refused', () => {
    const l = layoutLab({ nodes: 1, vmNodes: 1, prefix: 'pvt', pvsPerNode: 3 });
    expect(l.nodes[0]!.extraPvFiles).toEqual([`${l.nodes[0]!.dir}/pv1.img`, `${l.nodes[0]!.dir}/pv2.img`]);
    expect(l.nodes[1]!.extraPvFiles).toBeUndefined(); // a VM node's PV is its virtio disk
    expect(layoutLab({ nodes: 1, prefix: 'pvt' }).nodes[0]!.extraPvFiles).toBeUndefined();
    const conf = renderLvmConf(l.nodes[0]!, ['/dev/loop3', '/dev/loop4', '/dev/loop5']);
    expect(conf).toContain('filter = [ "a|^/dev/loop3$|", "a|^/dev/loop4$|", "a|^/dev/loop5$|", "r|.*|" ]');
    expect(() => layoutLab({ nodes: 1, pvsPerNode: 0 })).toThrow(/--pvs-per-node/);
  });
});

describe('layoutLab with VM nodes', () => {
  it('given 1 namespace node and 2 VM nodes it numbers the VMs after it, with taps, files and distinct MACs', () => {
    const l = layoutLab({ nodes: 1, vmNodes: 2, prefix: 'vmt' });
    expect(l.nodes.map((n) => [n.name, n.kind, n.address, n.mgmtVeth])).toEqual([
      ['node1', 'netns', '198.18.0.11', 'vmt-1m'],
      ['node2', 'vm', '198.18.0.12', 'vmt-2m'],
      ['node3', 'vm', '198.18.0.13', 'vmt-3m'],
    ]);
    expect(l.nodes[0]!.vm).toBeUndefined();
    expect(l.nodes[1]!.vm).toMatchObject({
      pidFile: '/var/lib/vmt-lab/node2/qemu.pid',
      qmpSocket: '/var/lib/vmt-lab/node2/qmp.sock',
      serialLog: '/var/lib/vmt-lab/node2/serial.log',
      diskFile: '/var/lib/vmt-lab/node2/disk.img',
      configDir: '/var/lib/vmt-lab/node2/vmcfg',
      memoryMiB: 1024,
    });
    const macs = l.nodes.flatMap((n) => (n.vm ? [n.vm.mgmtMac, n.vm.replMac] : []));
    expect(new Set(macs).size).toBe(4);
    for (const mac of macs) expect(mac).toMatch(/^52:54(:[0-9a-f]{2}){4}$/);
  });

  it('given only VM nodes, zero nodes in all or a VM memory out of range it refuses or accepts accordingly', () => {
    expect(layoutLab({ nodes: 0, vmNodes: 2 }).nodes.map((n) => n.kind)).toEqual(['vm', 'vm']);
    expect(() => layoutLab({ nodes: 0, vmNodes: 0 })).toThrow(expect.objectContaining({ code: 'LAB_BAD_NODE_COUNT' }));
    expect(() => layoutLab({ nodes: 0, vmNodes: 1, vmMemoryMiB: 64 })).toThrow(expect.objectContaining({ code: 'LAB_BAD_VM_MEMORY' }));
  });
});

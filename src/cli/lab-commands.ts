/**
 * `gantry lab up|down|status|stop-node|start-node`: thin wrappers over src/lab.
 */
import { ensureLabGuest } from '../lab/guest/index.js';
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { createLogger } from '../util/log.js';
import { PrereqError } from '../util/errors.js';
import { spawn } from 'node:child_process';
import { labDown, labExecArgv, labPower, labStartNode, labStatus, labStopNode, labUp, parsePowerVerb, type LabStatus } from '../lab/index.js';
import { ensureCommand } from './program.js';

interface CommonFlags {
  prefix?: string;
  stateDir?: string;
  logLevel?: string;
}

function common(cmd: Command): Command {
  return cmd
    .option('--prefix <prefix>', 'prefix of the lab kernel objects (namespaces, bridges, veths)', 'gantry')
    .option('--state-dir <dir>', 'lab state directory (default /var/lib/<prefix>-lab)')
    .option('--log-level <level>', 'log level', process.env.GANTRY_LOG_LEVEL ?? 'info');
}

function ref(flags: CommonFlags) {
  return {
    logger: createLogger({ level: flags.logLevel ?? 'info' }),
    ...(flags.prefix ? { prefix: flags.prefix } : {}),
    ...(flags.stateDir ? { stateDir: resolve(flags.stateDir) } : {}),
  };
}

export function renderStatusTable(status: LabStatus): string {
  if (!status.recorded) return `no lab recorded in ${status.stateDir}\n`;
  const yesNo = (b: boolean) => (b ? 'up' : 'DOWN');
  const rows = [
    ['NODE', 'KIND', 'NAMESPACE/QEMU', 'SSHD', 'OVS', 'VG', 'ADDRESS'],
    ...status.nodes.map((n) => [
      n.name,
      n.kind,
      n.kind === 'vm' ? (n.pids.qemu !== undefined ? `pid ${n.pids.qemu} rss ${Math.round((n.rssKiB ?? 0) / 1024)}M` : 'OFF') : n.namespaceExists ? n.namespace : `${n.namespace} (missing)`,
      yesNo(n.sshdUp),
      n.kind === 'vm' ? '(inside)' : yesNo(n.ovsUp),
      n.vg ? `${n.vg.name} ${(n.vg.freeBytes / 1024 ** 3).toFixed(1)}/${(n.vg.sizeBytes / 1024 ** 3).toFixed(1)}G free` : '-',
      n.address,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description('one-machine lab: namespaced nodes with sshd, Open vSwitch and a loop-device VG (needs root)');

  common(lab.command('up'))
    .description('build (or complete) the lab and write Node manifests')
    .option('--nodes <n>', 'number of namespace nodes (node1..nodeN)', (v) => Number.parseInt(v, 10), 0)
    .option('--vm-nodes <n>', 'number of QEMU VM nodes with their own kernel (DRBD, dm-mod), numbered after the namespace nodes', (v) => Number.parseInt(v, 10), 0)
    .option('--vm-memory <MiB>', 'memory of each VM node', (v) => Number.parseInt(v, 10), 1024)
    .option('--manifests <dir>', 'write nodes.yaml (Node manifests) into this directory')
    .option('--group <group>', 'node group written into the manifests', 'default')
    .option('--mgmt-subnet <cidr>', 'management /24 inside 198.18.0.0/15', '198.18.0.0/24')
    .option('--repl-subnet <cidr>', 'replication /24 inside 198.18.0.0/15', '198.19.0.0/24')
    .option('--pv-size <GiB>', 'size of each node\'s sparse loop file', (v) => Number.parseInt(v, 10), 10)
    .option('--pvs-per-node <n>', 'physical volumes (loop files) in each namespace node\'s volume group, for exclusive storage', (v) => Number.parseInt(v, 10), 1)
    .option('--no-install', 'do not apt-get install missing packages')
    .option('--no-guest', 'do not build the busybox lab guest and its OS definition')
    .option('-f, --file <path>', 'more manifests to apply with the Node manifests (repeatable; with --apply)', (v: string, prev: string[] = []) => [...prev, v], [])
    .option('--apply', 'then apply the Node manifests plus -f manifests (`gantry apply --yes`) and print the drift report (needs --manifests)')
    .option('--apply-state-dir <dir>', "with --apply: Gantry's state directory for the apply and the drift report (as apply's --state-dir)", '/var/lib/gantry')
    .action(async (flags: CommonFlags & { nodes: number; vmNodes: number; vmMemory: number; manifests?: string; group: string; mgmtSubnet: string; replSubnet: string; pvSize: number; pvsPerNode: number; install: boolean; apply?: boolean; applyStateDir: string; guest: boolean; file: string[] }) => {
      if (flags.apply && !flags.manifests) throw new PrereqError('LAB_APPLY_NEEDS_MANIFESTS', '--apply needs --manifests <dir>');
      const result = await labUp({
        ...ref(flags),
        nodes: flags.nodes,
        vmNodes: flags.vmNodes,
        vmMemoryMiB: flags.vmMemory,
        group: flags.group,
        mgmtSubnet: flags.mgmtSubnet,
        replSubnet: flags.replSubnet,
        pvSizeGiB: flags.pvSize,
        pvsPerNode: flags.pvsPerNode,
        installMissing: flags.install,
        ...(flags.manifests ? { manifestsDir: resolve(flags.manifests) } : {}),
      });
      for (const n of result.nodes) process.stdout.write(`${n.name}  ${n.address}  ${n.secondaryAddress}  ${n.kind === 'vm' ? `vm (pid ${n.pids.qemu ?? '?'}, serial ${n.vm?.serialLog ?? '?'})` : n.namespace}\n`);
      if (flags.guest) {
        const g = ensureLabGuest({});
        process.stdout.write(`guest: ${g.kernelPath} ${g.initrdPath}; OS definition: ${g.osDir}\n`);
      }
      if (result.manifestFile) process.stdout.write(`manifests: ${result.manifestFile}\n`);
      process.stdout.write(`ssh: ssh -i ${result.clientKeyFile} root@${result.nodes[0]?.address ?? ''}\n`);
      if (flags.apply && flags.manifests) {
        // apply and plan belong to the reconcile group, not loaded for `lab`: load it, then run
        // them through the same program.
        if (!(await ensureCommand(program, 'apply')) || !(await ensureCommand(program, 'plan'))) {
          throw new PrereqError('LAB_NO_APPLY', 'this gantry build has no apply command; run `gantry apply` yourself');
        }
        const files = [resolve(flags.manifests), ...flags.file.map((f) => resolve(f))].flatMap((f) => ['-f', f]);
        const stateDir = ['--state-dir', resolve(flags.applyStateDir)];
        await program.parseAsync(['apply', '--yes', ...stateDir, ...files], { from: 'user' });
        // The main job's proof: after apply, the drift report is empty (exit 2 otherwise).
        process.stdout.write('\nDrift report after apply:\n');
        await program.parseAsync(['plan', '--detailed-exitcode', ...stateDir, ...files], { from: 'user' });
      }
    });

  common(lab.command('status'))
    .description('show what is running')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (flags: CommonFlags & { output: 'table' | 'json' }) => {
      const status = await labStatus(ref(flags));
      process.stdout.write(flags.output === 'json' ? JSON.stringify(status, null, 2) + '\n' : renderStatusTable(status));
    });

  common(lab.command('down'))
    .description('remove everything the lab recorded (idempotent)')
    .action(async (flags: CommonFlags) => {
      const out = await labDown(ref(flags));
      process.stdout.write(`removed ${out.namespaces.length} namespaces, ${out.links.length} links, ${out.loopDevices.length} loop devices, stopped ${out.pids.length} processes\n`);
    });

  common(lab.command('exec <node>'))
    .description('run a command on a lab node (namespace: nsenter; VM: ssh with the pinned key); exits with its code')
    .argument('<command...>', 'the command, after --')
    .action(async (name: string, argv: string[], flags: CommonFlags) => {
      const hostArgv = await labExecArgv(ref(flags), name, argv);
      const code = await new Promise<number>((resolveCode, reject) => {
        const child = spawn(hostArgv[0]!, hostArgv.slice(1), { stdio: 'inherit' });
        child.on('error', reject);
        child.on('exit', (c, signal) => resolveCode(c ?? (signal ? 128 : 1)));
      });
      process.exitCode = code;
    });

  common(lab.command('power <verb> <node>'))
    .description('power control of a lab node: on|off|status|cycle (or Ganeti OOB verbs power-on ...). status prints {"powered": true|false}')
    .action(async (verb: string, name: string, flags: CommonFlags) => {
      const v = parsePowerVerb(verb);
      const r = await labPower(ref(flags), name, v);
      // Ganeti's OOB protocol: only power-status writes to stdout (JSON); the rest print nothing.
      if (v === 'status') process.stdout.write(JSON.stringify({ powered: r.powered }) + '\n');
    });

  common(lab.command('stop-node <name>'))
    .description('simulate a dead node: stop its sshd')
    .action(async (name: string, flags: CommonFlags) => {
      const pid = await labStopNode(ref(flags), name);
      process.stdout.write(pid === undefined ? `${name}: sshd was not running\n` : `${name}: stopped sshd ${pid}\n`);
    });

  common(lab.command('start-node <name>'))
    .description('start a stopped node\'s sshd again')
    .action(async (name: string, flags: CommonFlags) => {
      process.stdout.write(`${name}: sshd ${await labStartNode(ref(flags), name)}\n`);
    });
}

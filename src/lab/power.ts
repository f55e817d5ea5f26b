/**
 * Power control and command execution for any lab node, in the shape of Ganeti's OOB
 * program (doc/design-oob.rst: verbs power-on, power-off, power-cycle, power-status; exit
 * 0 on success, 1 with a message on stderr on failure; power-status prints
 * {"powered": true|false}).
 *
 * VM node: off = QMP `quit` (by pid if QMP fails), on = boot the VM again and wait for
 * its sshd. Namespace node: off = every process in its namespace killed (found by
 * `ip netns pids`, like pulling the plug: instances' QEMUs included) and its links down,
 * with a marker file so status says off; on = links up, OVS and sshd started.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecError, PrereqError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { NODE_MGMT_IF, NODE_REPL_IF, type NodeLayout } from './config.js';
import { HostRunner, exists, sleep } from './host.js';
import { recordedNode, saveRecord, type LabRecord, type LabRef } from './lab.js';
import { listNamespaces, namespacePids } from './network.js';
import { ensureOvs, ensureSshd, lvmEnv, sshdPid } from './services.js';
import { startVm, stopVm, vmPid, waitForVmSshd } from './vm/vmnode.js';
import { quoteArgv } from '../transport/quote.js';

export type PowerVerb = 'on' | 'off' | 'status' | 'cycle';

/** Accepts the lab's verbs and Ganeti's OOB ones (power-on ...). */
export function parsePowerVerb(v: string): PowerVerb {
  const verb = v.startsWith('power-') ? v.slice('power-'.length) : v;
  if (verb === 'on' || verb === 'off' || verb === 'status' || verb === 'cycle') return verb;
  throw new PrereqError('LAB_BAD_POWER_VERB', `unknown power verb ${JSON.stringify(v)}: use on, off, status or cycle (or Ganeti's power-on ...)`);
}

export interface PowerResult {
  node: string;
  powered: boolean;
}

function offMarker(node: NodeLayout): string {
  return join(node.dir, 'powered-off');
}

export async function powerStatus(node: NodeLayout, run: HostRunner): Promise<boolean> {
  if (node.kind === 'vm') return (await vmPid(node)) !== undefined;
  if (await exists(offMarker(node))) return false;
  return (await listNamespaces(run)).includes(node.namespace) && (await namespacePids(run, node.namespace)).length > 0;
}

async function setLinks(run: HostRunner, node: NodeLayout, state: 'up' | 'down'): Promise<void> {
  for (const [hostIf, nodeIf] of [[node.mgmtVeth, NODE_MGMT_IF], [node.replVeth, NODE_REPL_IF]] as const) {
    await run.run(['ip', 'link', 'set', nodeIf, state], { netns: node.namespace, allowFail: state === 'down' });
    await run.run(['ip', 'link', 'set', hostIf, state], { allowFail: state === 'down' });
  }
}

async function netnsOff(run: HostRunner, node: NodeLayout, log: Logger): Promise<void> {
  await writeFile(offMarker(node), `${new Date().toISOString()}\n`);
  await setLinks(run, node, 'down');
  // Everything at once, like a power cut; repeat while processes fork during the kill.
  for (let round = 0; round < 20; round++) {
    const pids = await namespacePids(run, node.namespace);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
  const left = await namespacePids(run, node.namespace);
  if (left.length) throw new ExecError('LAB_POWER_OFF_FAILED', `${node.name}: processes ${left.join(', ')} survived SIGKILL`, { pids: left });
  log.info({ node: node.name }, 'namespace node powered off');
}

async function netnsOn(run: HostRunner, record: LabRecord, node: NodeLayout, log: Logger): Promise<void> {
  await setLinks(run, node, 'up');
  const ovs = await ensureOvs(run, node);
  const sshd = await ensureSshd(run, record.layout, node, log);
  await rm(offMarker(node), { force: true });
  const entry = record.nodes.find((n) => n.name === node.name);
  if (entry) {
    entry.pids = { sshd, ...ovs };
    await saveRecord(record);
  }
  log.info({ node: node.name }, 'namespace node powered on');
}

async function vmOn(run: HostRunner, record: LabRecord, node: NodeLayout, log: Logger): Promise<void> {
  if (!record.vmBoot) throw new PrereqError('LAB_NO_VM_BOOT', `${record.layout.recordFile} names no kernel for VM nodes; run lab up again`);
  const qemu = await startVm(run, node, record.vmBoot, log);
  await waitForVmSshd(node);
  const entry = record.nodes.find((n) => n.name === node.name);
  if (entry) {
    entry.pids = { qemu };
    await saveRecord(record);
  }
}

/** Run one power verb on a recorded lab node. */
export async function labPower(ref: LabRef, name: string, verb: PowerVerb): Promise<PowerResult> {
  if (verb !== 'status' && process.getuid?.() !== 0) throw new PrereqError('LAB_NEEDS_ROOT', 'lab power needs root');
  const { record, node } = await recordedNode(ref, name);
  const log = ref.logger.child({ component: 'lab-power', node: name });
  const run = new HostRunner(log);
  const off = async () => {
    if (node.kind === 'vm') await stopVm(node, log);
    else await netnsOff(run, node, log);
  };
  const on = async () => {
    if (node.kind === 'vm') await vmOn(run, record, node, log);
    else await netnsOn(run, record, node, log);
  };
  if (verb === 'off' || verb === 'cycle') await off();
  if (verb === 'on' || verb === 'cycle') await on();
  return { node: name, powered: await powerStatus(node, run) };
}

/** How to run a command on a lab node: the host argv to spawn. */
export async function labExecArgv(ref: LabRef, name: string, argv: readonly string[]): Promise<string[]> {
  if (argv.length === 0) throw new PrereqError('LAB_EXEC_NO_COMMAND', 'lab exec needs a command after --');
  const { record, node } = await recordedNode(ref, name);
  if (node.kind === 'vm') {
    const entry = record.nodes.find((n) => n.name === name);
    if (!entry) throw new PrereqError('LAB_NO_SUCH_NODE', `lab node ${name} was never brought up`);
    return [
      'ssh', '-i', entry.ssh.privateKeyFile, '-o', `UserKnownHostsFile=${knownHostsFile(node)}`, '-o', 'StrictHostKeyChecking=yes',
      '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR',
      '-p', String(entry.ssh.port), `${entry.ssh.user}@${entry.ssh.host}`, '--', quoteArgv(argv),
    ];
  }
  // A namespace node: its network namespace, and its sshd's hostname (UTS) when it runs.
  const sshd = await sshdPid(node);
  const env = Object.entries({ ...lvmEnv(node), OVS_RUNDIR: node.ovsDir, OVS_DBDIR: node.ovsDir, OVS_LOGDIR: node.ovsDir }).map(([k, v]) => `${k}=${v}`);
  return ['nsenter', `--net=/run/netns/${node.namespace}`, ...(sshd !== undefined ? [`--uts=/proc/${sshd}/ns/uts`] : []), '--', 'env', ...env, ...argv];
}

/** The pinned host key of a VM node, in known_hosts form (written by lab up). */
export function knownHostsFile(node: NodeLayout): string {
  return join(node.dir, 'known_hosts');
}

/** Run a command on a lab node and capture its result. */
export async function labExec(ref: LabRef, name: string, argv: readonly string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const hostArgv = await labExecArgv(ref, name, argv);
  const run = new HostRunner(ref.logger.child({ component: 'lab-exec', node: name }));
  const r = await run.run(hostArgv, { allowFail: true, timeoutMs });
  return { code: r.code ?? 255, stdout: r.stdout, stderr: r.stderr };
}


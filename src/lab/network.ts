/**
 * Lab networking with iproute2: two bridges in the root namespace (management and
 * replication), and per node a namespace joined to both by veth pairs.
 */
import type { HostRunner } from './host.js';
import { NODE_MGMT_IF, NODE_REPL_IF, type LabNetwork, type NodeLayout } from './config.js';

interface IpAddrInfo {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export async function listNamespaces(run: HostRunner): Promise<string[]> {
  const r = await run.run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

export async function linkExists(run: HostRunner, name: string, netns?: string): Promise<boolean> {
  const r = await run.run(['ip', '-j', 'link', 'show', 'dev', name], { allowFail: true, ...(netns ? { netns } : {}) });
  return r.code === 0;
}

async function addresses(run: HostRunner, netns?: string): Promise<IpAddrInfo[]> {
  const r = await run.run(['ip', '-j', 'addr', 'show'], netns ? { netns } : {});
  return r.stdout.trim() ? (JSON.parse(r.stdout) as IpAddrInfo[]) : [];
}

/** Interfaces other than `except` holding an address in the /24 `base`. */
export async function subnetUsers(run: HostRunner, base: string, except: string): Promise<string[]> {
  return (await addresses(run))
    .filter((i) => i.ifname !== except && (i.addr_info ?? []).some((a) => a.family === 'inet' && a.local.startsWith(`${base}.`)))
    .map((i) => i.ifname);
}

async function ensureAddress(run: HostRunner, dev: string, cidr: string, netns?: string): Promise<void> {
  const [ip] = cidr.split('/');
  const has = (await addresses(run, netns)).some((i) => i.ifname === dev && (i.addr_info ?? []).some((a) => a.local === ip));
  if (!has) await run.run(['ip', 'addr', 'add', cidr, 'dev', dev], netns ? { netns } : {});
}

export async function ensureBridge(run: HostRunner, net: LabNetwork): Promise<void> {
  if (!(await linkExists(run, net.bridge))) await run.run(['ip', 'link', 'add', net.bridge, 'type', 'bridge']);
  await ensureAddress(run, net.bridge, net.hostCidr);
  await run.run(['ip', 'link', 'set', net.bridge, 'up']);
}

/**
 * Delete a link if it exists. A veth whose peer sat in a just-deleted namespace vanishes
 * on its own a moment later (the kernel cleans namespaces up asynchronously), so losing
 * that race counts as success.
 */
export async function removeLink(run: HostRunner, name: string): Promise<boolean> {
  if (!(await linkExists(run, name))) return false;
  const r = await run.run(['ip', 'link', 'del', name], { allowFail: true });
  if (r.code !== 0 && (await linkExists(run, name))) {
    await run.run(['ip', 'link', 'del', name]);
  }
  return true;
}

export async function ensureNodeNetwork(run: HostRunner, node: NodeLayout, mgmt: LabNetwork, repl: LabNetwork): Promise<void> {
  if (!(await listNamespaces(run)).includes(node.namespace)) await run.run(['ip', 'netns', 'add', node.namespace]);
  const ns = { netns: node.namespace };
  await run.run(['ip', 'link', 'set', 'lo', 'up'], ns);
  const legs: [string, string, LabNetwork, string][] = [
    [node.mgmtVeth, NODE_MGMT_IF, mgmt, node.address],
    [node.replVeth, NODE_REPL_IF, repl, node.secondaryAddress],
  ];
  for (const [hostIf, nodeIf, net, address] of legs) {
    if (!(await linkExists(run, hostIf))) {
      // A half-made pair (inside end left over) would block the create: remove it first.
      if (await linkExists(run, nodeIf, node.namespace)) await run.run(['ip', 'link', 'del', nodeIf], ns);
      await run.run(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nodeIf, 'netns', node.namespace]);
    }
    await run.run(['ip', 'link', 'set', hostIf, 'master', net.bridge, 'up']);
    await ensureAddress(run, nodeIf, `${address}/24`, node.namespace);
    await run.run(['ip', 'link', 'set', nodeIf, 'up'], ns);
  }
}

/** PIDs of every process whose network namespace is `ns` (iproute2 compares ns inodes). */
export async function namespacePids(run: HostRunner, ns: string): Promise<number[]> {
  const r = await run.run(['ip', 'netns', 'pids', ns], { allowFail: true });
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 1);
}

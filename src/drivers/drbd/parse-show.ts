/**
 * `drbdsetup show` (8.4 and 9): the running configuration as nested `word ... { }`
 * blocks. 8.4 has one net section and _this_host/_remote_host addresses per resource;
 * 9 has connections (with _peer_node_id, paths and _cstate) and a node-id. The shared
 * secret never leaves this module ("[redacted]").
 */
import { ExecError } from '../../util/errors.js';

export interface ShowNode { readonly words: readonly string[]; readonly children?: readonly ShowNode[] }

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /#[^\n]*|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};"#]+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].startsWith('#')) continue;
    tokens.push(m[1] !== undefined ? m[1] : m[0]);
  }
  return tokens;
}

/** Nested `word ... { ... }` / `word ... ;` statements; `_is_default` markers dropped. */
export function parseShowTree(text: string): ShowNode[] {
  const tokens = tokenize(text);
  let i = 0;
  function block(): ShowNode[] {
    const out: ShowNode[] = [];
    let words: string[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t === '}') break;
      if (t === ';') { if (words.length) out.push({ words }); words = []; continue; }
      if (t === '{') { out.push({ words, children: block() }); words = []; continue; }
      if (t !== '_is_default') words.push(t);
    }
    if (words.length) out.push({ words });
    return out;
  }
  return block();
}

export interface DrbdAddress { readonly family: string; readonly host: string; readonly port: number }
export interface ShowVolume {
  readonly volume: number;
  readonly minor?: number;
  /** Absent for a diskless volume ("disk none;"). */
  readonly disk?: string;
  readonly metaDisk?: string;
  /** "[ 0 ]" index (8.4 external), or "internal"/"flexible" when so written. */
  readonly metaIndex?: string;
  readonly diskOptions: Readonly<Record<string, string>>;
}
export interface ShowConnection {
  readonly peerNodeId?: number;
  readonly name?: string;
  readonly local?: DrbdAddress;
  readonly remote?: DrbdAddress;
  /** DRBD 9 only (_cstate). */
  readonly cstate?: string;
  readonly net: Readonly<Record<string, string>>;
}
export interface ShowResource {
  readonly name: string;
  readonly nodeId?: number;
  readonly options: Readonly<Record<string, string>>;
  readonly volumes: readonly ShowVolume[];
  readonly connections: readonly ShowConnection[];
}

const SECRETS = new Set(['shared-secret']);

function address(words: readonly string[]): DrbdAddress {
  // "address ipv4 1.2.3.4:7788", "_this_host ipv4 1.2.3.4:7788", "address ipv6 [::1]:7788"
  const [family, hp] = words.length >= 3 ? [words[1]!, words[2]!] : ['ipv4', words[1] ?? ''];
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hp);
  if (!m) throw new ExecError('PARSE_FAILED', `drbdsetup show: bad address ${JSON.stringify(words.join(' '))}`);
  return { family, host: m[1]!, port: Number(m[2]) };
}

function options(nodes: readonly ShowNode[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of nodes ?? []) if (!n.children && n.words.length >= 2) out[n.words[0]!] = SECRETS.has(n.words[0]!) ? '[redacted]' : n.words.slice(1).join(' ');
  return out;
}

const find = (nodes: readonly ShowNode[], key: string): ShowNode | undefined => nodes.find((n) => n.words[0] === key);
const findAll = (nodes: readonly ShowNode[], key: string): ShowNode[] => nodes.filter((n) => n.words[0] === key);
const value = (nodes: readonly ShowNode[], key: string): string | undefined => find(nodes.filter((n) => !n.children), key)?.words[1];

function volume(n: ShowNode): ShowVolume {
  const kids = n.children ?? [];
  const plain = kids.filter((k) => !k.children);
  const dev = find(plain, 'device')?.words ?? [];
  const minor = dev[1] === 'minor' ? dev[2] : /^\/dev\/drbd(\d+)$/.exec(dev[1] ?? '')?.[1];
  const disk = value(kids, 'disk');
  const meta = find(plain, 'meta-disk')?.words ?? [];
  const idx = meta.indexOf('[');
  const metaIndex = idx > 0 ? meta[idx + 1] : meta[1] === 'internal' ? 'internal' : undefined;
  return {
    volume: Number(n.words[1] ?? 0),
    ...(minor !== undefined ? { minor: Number(minor) } : {}),
    ...(disk !== undefined && disk !== 'none' ? { disk } : {}),
    ...(meta[1] !== undefined && meta[1] !== 'internal' ? { metaDisk: meta[1] } : {}),
    ...(metaIndex !== undefined ? { metaIndex } : {}),
    diskOptions: options(kids.find((k) => k.words[0] === 'disk' && k.children)?.children),
  };
}

function connection9(n: ShowNode): ShowConnection {
  const kids = n.children ?? [];
  const path = find(kids, 'path')?.children ?? [];
  const net = options(find(kids, 'net')?.children);
  const thisHost = find(path, '_this_host');
  const remoteHost = find(path, '_remote_host');
  const peer = value(kids, '_peer_node_id');
  const cstate = value(kids, '_cstate');
  const name = net._name;
  return {
    ...(peer !== undefined ? { peerNodeId: Number(peer) } : {}), ...(name !== undefined ? { name } : {}),
    ...(thisHost ? { local: address(thisHost.words) } : {}), ...(remoteHost ? { remote: address(remoteHost.words) } : {}),
    ...(cstate !== undefined ? { cstate } : {}), net,
  };
}

/** 8.4: one implicit connection from net + _this_host/_remote_host addresses. */
function connection84(kids: readonly ShowNode[]): ShowConnection | undefined {
  const thisAddr = find(find(kids, '_this_host')?.children ?? [], 'address');
  const remoteAddr = find(find(kids, '_remote_host')?.children ?? [], 'address');
  if (!thisAddr && !remoteAddr) return undefined;
  return { ...(thisAddr ? { local: address(thisAddr.words) } : {}), ...(remoteAddr ? { remote: address(remoteAddr.words) } : {}), net: options(find(kids, 'net')?.children) };
}

function resource(n: ShowNode): ShowResource {
  const kids = n.children ?? [];
  const thisHost = find(kids, '_this_host')?.children ?? [];
  const nodeId = value(thisHost, 'node-id');
  const conns = findAll(kids, 'connection');
  const c84 = conns.length === 0 ? connection84(kids) : undefined;
  return {
    name: n.words[1] ?? '',
    ...(nodeId !== undefined ? { nodeId: Number(nodeId) } : {}),
    options: options(find(kids, 'options')?.children),
    volumes: findAll(thisHost, 'volume').map(volume),
    connections: c84 ? [c84] : conns.map(connection9),
  };
}

/** Every resource in the output (`drbdsetup show` lists all; `show MINOR` one). */
export function parseDrbdShow(text: string): ShowResource[] {
  return parseShowTree(text).filter((n) => n.words[0] === 'resource' && n.children).map(resource);
}

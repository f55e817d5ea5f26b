/**
 * Parsers for DRBD state: /proc/drbd (8.3 and 8.4) and `drbdsetup show` (8.3 flat
 * and 8.4 resource syntax). The shared secret never leaves the parser.
 */
import { ExecError } from '../../util/errors.js';

export interface DrbdMinor {
  readonly minor: number;
  /** cs: Connected, WFConnection, StandAlone, SyncSource, SyncTarget, Unconfigured, ... */
  readonly connection: string;
  readonly role?: string;
  readonly peerRole?: string;
  readonly disk?: string;
  readonly peerDisk?: string;
  readonly protocol?: string;
  /** KiB out of sync (oos:), when reported. */
  readonly outOfSyncKiB?: number;
  /** Resync progress, when a resync runs. */
  readonly syncPercent?: number;
  readonly syncEtaSec?: number;
}
export interface ProcDrbd { readonly version?: string; readonly minors: Readonly<Record<number, DrbdMinor>> }

export function parseProcDrbd(text: string): ProcDrbd {
  const version = /^version: (\S+)/m.exec(text)?.[1];
  const minors: Record<number, DrbdMinor> = {};
  let cur: { -readonly [K in keyof DrbdMinor]: DrbdMinor[K] } | undefined;
  for (const line of text.split('\n')) {
    const head = /^\s*(\d+): cs:(\S+)(?:\s+(?:ro|st):(\S+)\/(\S+)\s+ds:(\S+)\/(\S+)(?:\s+([ABC])\b)?)?/.exec(line);
    if (head) {
      cur = { minor: Number(head[1]), connection: head[2]! };
      if (head[3] !== undefined) Object.assign(cur, { role: head[3], peerRole: head[4], disk: head[5], peerDisk: head[6] });
      if (head[7] !== undefined) cur.protocol = head[7];
      minors[cur.minor] = cur;
      continue;
    }
    if (!cur) continue;
    const oos = /\boos:(\d+)/.exec(line);
    if (oos) cur.outOfSyncKiB = Number(oos[1]);
    const sync = /sync'ed:\s*([\d.]+)%/.exec(line);
    if (sync) cur.syncPercent = Number(sync[1]);
    const eta = /finish: (\d+):(\d+):(\d+)/.exec(line);
    if (eta) cur.syncEtaSec = Number(eta[1]) * 3600 + Number(eta[2]) * 60 + Number(eta[3]);
  }
  return { ...(version !== undefined ? { version } : {}), minors };
}

// ---- drbdsetup show ----

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

/** Nested `word ... { ... }` / `word ... ;` statements. */
export function parseShowTree(text: string): ShowNode[] {
  const tokens = tokenize(text);
  let i = 0;
  function block(): ShowNode[] {
    const out: ShowNode[] = [];
    let words: string[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t === '}') { if (words.length) out.push({ words }); return out; }
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
export interface DrbdShow {
  readonly minor?: number;
  readonly disk?: string;
  readonly metaDisk?: string;
  readonly metaIndex?: number;
  readonly local?: DrbdAddress;
  readonly remote?: DrbdAddress;
  readonly protocol?: string;
  /** net section options; secrets are replaced by "[redacted]". */
  readonly net: Readonly<Record<string, string>>;
  readonly diskOptions: Readonly<Record<string, string>>;
}

const SECRET_KEYS = new Set(['shared-secret']);

function address(words: readonly string[]): DrbdAddress {
  const [family, hp] = words.length >= 3 ? [words[1]!, words[2]!] : ['ipv4', words[1] ?? ''];
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hp);
  if (!m) throw new ExecError('PARSE_FAILED', `drbdsetup show: bad address ${JSON.stringify(words.join(' '))}`);
  return { family, host: m[1]!, port: Number(m[2]) };
}

function options(nodes: readonly ShowNode[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of nodes ?? []) if (!n.children && n.words.length >= 2) out[n.words[0]!] = SECRET_KEYS.has(n.words[0]!) ? '[redacted]' : n.words.slice(1).join(' ');
  return out;
}

/** Walk the tree once, whatever the nesting (8.3 flat, 8.4 resource/volume). */
export function parseDrbdShow(text: string): DrbdShow {
  const res: { -readonly [K in keyof DrbdShow]: DrbdShow[K] } = { net: {}, diskOptions: {} };
  function walk(nodes: readonly ShowNode[], where: string): void {
    for (const n of nodes) {
      const key = n.words[0] ?? '';
      if (n.children) {
        if (key === 'net') res.net = options(n.children);
        else if (key === 'disk') res.diskOptions = options(n.children);
        else walk(n.children, key);
        continue;
      }
      if (key === 'protocol' && n.words[1]) res.protocol = n.words[1];
      else if (key === 'address' && where === '_this_host') res.local = address(n.words);
      else if (key === 'address' && where === '_remote_host') res.remote = address(n.words);
      else if (key === 'device') {
        const minor = n.words[1] === 'minor' ? n.words[2] : /^\/dev\/drbd(\d+)$/.exec(n.words[1] ?? '')?.[1];
        if (minor !== undefined) res.minor = Number(minor);
      } else if (key === 'disk' && n.words[1]) res.disk = n.words[1];
      else if (key === 'meta-disk' && n.words[1]) {
        res.metaDisk = n.words[1];
        const idx = n.words.indexOf('[');
        if (idx > 0 && n.words[idx + 1] !== undefined) res.metaIndex = Number(n.words[idx + 1]);
      }
    }
  }
  walk(parseShowTree(text), '');
  return res;
}

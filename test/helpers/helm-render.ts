/**
 * A DOUBLE of `helm template` (helm is not packaged in Debian and cannot be fetched here):
 * the subset of Go text/template and of Helm's functions that charts/gantry uses, with Go's
 * semantics kept: `{{-`/`-}}` trim the whitespace (newlines included) beside them, pipelines
 * pass the previous value as the last argument, emptiness is Go's (false, 0, "", nil, empty
 * map or list), `define`/`include` name templates across files, `fail` aborts the render.
 * Anything outside the subset throws naming the template and the action, so a chart change
 * that needs more fails its test loudly instead of rendering wrong.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';

type Node =
  | { t: 'text'; s: string }
  | { t: 'out'; expr: string }
  | { t: 'if'; branches: { cond: string | undefined; body: Node[] }[] }
  | { t: 'range'; vars: string[]; expr: string; body: Node[]; orElse: Node[] }
  | { t: 'define'; name: string; body: Node[] };

interface Action { t: 'action'; s: string }
type Token = { t: 'text'; s: string } | Action;

/** Split a template into text and actions, applying the trim markers. */
function tokenize(src: string, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) { out.push({ t: 'text', s: text }); break; }
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error(`${file}: unclosed action at ${open}`);
    let inner = src.slice(open + 2, close);
    if (inner.startsWith('-')) { text = text.replace(/\s+$/, ''); inner = inner.slice(1); }
    trimNext = inner.endsWith('-');
    if (trimNext) inner = inner.slice(0, -1);
    out.push({ t: 'text', s: text });
    const s = inner.trim();
    if (!(s.startsWith('/*') && s.endsWith('*/'))) out.push({ t: 'action', s });
    i = close + 2;
  }
  return out.filter((x) => x.t === 'action' || x.s !== '');
}

function parseNodes(tokens: Token[], file: string): Node[] {
  let pos = 0;
  const block = (stops: string[]): { body: Node[]; stop: string } => {
    const body: Node[] = [];
    while (pos < tokens.length) {
      const tok = tokens[pos++]!;
      if (tok.t === 'text') { body.push({ t: 'text', s: tok.s }); continue; }
      const word = tok.s.split(/\s+/)[0]!;
      if (stops.includes(word)) return { body, stop: tok.s };
      if (word === 'if') {
        const branches: { cond: string | undefined; body: Node[] }[] = [];
        let cond: string | undefined = tok.s.slice(2).trim();
        for (;;) {
          const r = block(['else', 'end']);
          branches.push({ cond, body: r.body });
          if (r.stop === 'end') break;
          const rest = r.stop.slice(4).trim();
          cond = rest.startsWith('if ') ? rest.slice(3).trim() : undefined;
        }
        body.push({ t: 'if', branches });
      } else if (word === 'range') {
        const m = /^range\s+(?:(\$\w+)\s*(?:,\s*(\$\w+))?\s*:=\s*)?(.+)$/.exec(tok.s);
        if (!m) throw new Error(`${file}: cannot parse {{${tok.s}}}`);
        const r = block(['else', 'end']);
        const orElse = r.stop === 'else' ? block(['end']).body : [];
        body.push({ t: 'range', vars: [m[1], m[2]].filter((v): v is string => v !== undefined), expr: m[3]!, body: r.body, orElse });
      } else if (word === 'define') {
        const name = JSON.parse(tok.s.slice(6).trim()) as string;
        body.push({ t: 'define', name, body: block(['end']).body });
      } else if (['with', 'template', 'block', 'break', 'continue'].includes(word)) {
        throw new Error(`${file}: {{${tok.s}}} is outside what this helm double renders`);
      } else {
        body.push({ t: 'out', expr: tok.s });
      }
    }
    if (stops.length) throw new Error(`${file}: missing {{end}}`);
    return { body, stop: '' };
  };
  return block([]).body;
}

type Val = unknown;
const empty = (v: Val): boolean => v === undefined || v === null || v === false || v === 0 || v === ''
  || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

class Fail extends Error {}

export class HelmDouble {
  private readonly defines = new Map<string, Node[]>();

  constructor(private readonly files: ReadonlyMap<string, Node[]>) {
    for (const nodes of files.values()) for (const n of nodes) if (n.t === 'define') this.defines.set(n.name, n.body);
  }

  /** From template sources (file name -> text), as load() reads them from a chart. */
  static fromSources(sources: Record<string, string>): HelmDouble {
    return new HelmDouble(new Map(Object.entries(sources).map(([f, src]) => [f, parseNodes(tokenize(src, f), f)])));
  }

  static async load(chartDir: string): Promise<{ helm: HelmDouble; values: Record<string, unknown>; chart: Record<string, unknown> }> {
    const dir = path.join(chartDir, 'templates');
    const files = new Map<string, Node[]>();
    for (const f of (await readdir(dir)).sort()) {
      if (!f.endsWith('.yaml') && !f.endsWith('.tpl')) continue;
      files.set(f, parseNodes(tokenize(await readFile(path.join(dir, f), 'utf8'), f), f));
    }
    const values = parse(await readFile(path.join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const chart = parse(await readFile(path.join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
    return { helm: new HelmDouble(files), values, chart };
  }

  /** Every manifest template (not _*.tpl) rendered: file name -> text. Throws the chart's `fail` message. */
  render(root: Record<string, unknown>): Map<string, string> {
    const out = new Map<string, string>();
    for (const [f, nodes] of this.files) {
      if (f.startsWith('_')) continue;
      out.set(f, this.run(nodes, root, { $: root }, f));
    }
    return out;
  }

  private run(nodes: Node[], dot: Val, vars: Record<string, Val>, file: string): string {
    let s = '';
    for (const n of nodes) {
      if (n.t === 'text') s += n.s;
      else if (n.t === 'define') continue;
      else if (n.t === 'out') {
        const v = this.pipeline(n.expr, dot, vars, file);
        if (/^\$\w+\s*:=/.test(n.expr)) continue;
        s += v === undefined || v === null ? '<no value>' : String(v);
      } else if (n.t === 'if') {
        const b = n.branches.find((br) => br.cond === undefined || !empty(this.pipeline(br.cond, dot, vars, file)));
        if (b) s += this.run(b.body, dot, vars, file);
      } else {
        const coll = this.pipeline(n.expr, dot, vars, file);
        const entries: [Val, Val][] = Array.isArray(coll) ? coll.map((v, i) => [i, v])
          : coll && typeof coll === 'object' ? Object.keys(coll).sort().map((k) => [k, (coll as Record<string, Val>)[k]]) : [];
        if (entries.length === 0) { s += this.run(n.orElse, dot, vars, file); continue; }
        for (const [k, v] of entries) {
          const scope = { ...vars };
          if (n.vars.length === 1) scope[n.vars[0]!] = v;
          if (n.vars.length === 2) { scope[n.vars[0]!] = k; scope[n.vars[1]!] = v; }
          s += this.run(n.body, v, scope, file);
        }
      }
    }
    return s;
  }

  /** `a | f x | g`: each stage gets the previous value as its last argument. */
  private pipeline(expr: string, dot: Val, vars: Record<string, Val>, file: string): Val {
    const decl = /^(\$\w+)\s*:=\s*(.+)$/.exec(expr);
    if (decl) { vars[decl[1]!] = this.pipeline(decl[2]!, dot, vars, file); return undefined; }
    const stages = splitTop(lex(expr, file), '|');
    let prev: Val;
    let first = true;
    for (const st of stages) {
      prev = this.command(st, dot, vars, file, first ? undefined : { v: prev });
      first = false;
    }
    return prev;
  }

  private command(toks: string[], dot: Val, vars: Record<string, Val>, file: string, piped?: { v: Val }): Val {
    if (toks.length === 0) throw new Error(`${file}: empty command`);
    const args = groupArgs(toks).map((a) => a);
    const head = args[0]!;
    const evalArg = (a: string[]): Val => (a.length === 1 ? this.operand(a[0]!, dot, vars, file) : this.pipeline(a.slice(1, -1).join(' '), dot, vars, file));
    if (head.length === 1 && /^[a-zA-Z]\w*$/.test(head[0]!) && !['true', 'false', 'nil'].includes(head[0]!)) {
      const vals = args.slice(1).map(evalArg);
      if (piped) vals.push(piped.v);
      return this.call(head[0]!, vals, file);
    }
    if (args.length > 1 || piped) throw new Error(`${file}: ${toks.join(' ')}: a value takes no arguments`);
    return evalArg(head);
  }

  private operand(tok: string, dot: Val, vars: Record<string, Val>, file: string): Val {
    if (tok.startsWith('"')) return JSON.parse(tok) as string;
    if (/^-?\d+(\.\d+)?$/.test(tok)) return Number(tok);
    if (tok === 'true' || tok === 'false') return tok === 'true';
    if (tok === 'nil') return null;
    const walk = (base: Val, chain: string): Val => chain.split('.').filter(Boolean).reduce<Val>((o, k) => (o && typeof o === 'object' ? (o as Record<string, Val>)[k] : undefined), base);
    if (tok === '.') return dot;
    if (tok.startsWith('.')) return walk(dot, tok);
    if (tok.startsWith('$')) {
      const [name, ...rest] = tok.split('.');
      if (!(name! in vars)) throw new Error(`${file}: undefined variable ${name}`);
      return walk(vars[name!], rest.join('.'));
    }
    throw new Error(`${file}: cannot evaluate ${tok}`);
  }

  private call(fn: string, a: Val[], file: string): Val {
    const str = (v: Val) => (v === undefined || v === null ? '' : String(v));
    switch (fn) {
      case 'include': {
        const body = this.defines.get(str(a[0]));
        if (!body) throw new Error(`${file}: no template ${str(a[0])}`);
        return this.run(body, a[1], { $: a[1] }, file);
      }
      case 'nindent': return '\n' + str(a[1]).split('\n').map((l) => ' '.repeat(Number(a[0])) + l).join('\n');
      case 'indent': return str(a[1]).split('\n').map((l) => ' '.repeat(Number(a[0])) + l).join('\n');
      case 'toYaml': return empty(a[0]) && typeof a[0] === 'object' ? '{}' : stringify(a[0], { lineWidth: 0 }).trimEnd();
      case 'quote': return JSON.stringify(str(a[0]));
      case 'default': return empty(a[1]) ? a[0] : a[1];
      case 'printf': { let i = 1; return str(a[0]).replace(/%[sdv]/g, () => str(a[i++])); }
      case 'eq': return a[0] === a[1];
      case 'ne': return a[0] !== a[1];
      case 'not': return empty(a[0]);
      case 'and': return a.find((v) => empty(v)) ?? a.at(-1);
      case 'or': return a.find((v) => !empty(v)) ?? a.at(-1);
      case 'fail': throw new Fail(str(a[0]));
      default: throw new Error(`${file}: function ${fn} is outside what this helm double renders`);
    }
  }
}

/** Tokens of an action: strings, parentheses, pipes, words. */
function lex(s: string, file: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|\(|\)|\||:=|,|[^\s()|,]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(s))) { out.push(m[1]!); at = re.lastIndex; }
  if (s.slice(at).trim() !== '') throw new Error(`${file}: cannot lex ${s}`);
  return out;
}

/** Split on `sep` outside parentheses. */
function splitTop(toks: string[], sep: string): string[][] {
  const out: string[][] = [[]];
  let depth = 0;
  for (const t of toks) {
    if (t === '(') depth++;
    if (t === ')') depth--;
    if (t === sep && depth === 0) out.push([]);
    else out.at(-1)!.push(t);
  }
  return out;
}

/** Arguments of a command: a word, or a parenthesized group kept with its parentheses. */
function groupArgs(toks: string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < toks.length; i++) {
    if (toks[i] !== '(') { out.push([toks[i]!]); continue; }
    let depth = 0;
    const start = i;
    for (; i < toks.length; i++) {
      if (toks[i] === '(') depth++;
      if (toks[i] === ')' && --depth === 0) break;
    }
    out.push(toks.slice(start, i + 1));
  }
  return out;
}

/** Deep-merge `over` into `base` (helm's --set / -f values). */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? mergeValues(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** `helm template NAME CHART --namespace NS` with `values` over the chart's: each rendered document, parsed. */
export async function helmTemplate(chartDir: string, o: { release: string; namespace: string; values?: Record<string, unknown> }): Promise<Record<string, any>[]> {
  const { helm, values, chart } = await HelmDouble.load(chartDir);
  const root = { Values: mergeValues(values, o.values ?? {}), Release: { Name: o.release, Namespace: o.namespace }, Chart: { ...chart, AppVersion: chart.appVersion } };
  const docs: Record<string, any>[] = [];
  for (const [file, text] of helm.render(root)) {
    for (const part of text.split(/^---\s*$/m)) {
      if (part.trim() === '') continue;
      let d: unknown;
      // YAML 1.1 as Kubernetes reads manifests (sigs.k8s.io/yaml): 0400 is octal
      try { d = parse(part, { version: '1.1' }); } catch (e) { throw new Error(`${file}: rendered YAML does not parse: ${(e as Error).message}\n${part}`); }
      if (d && typeof d === 'object') docs.push(d as Record<string, any>);
    }
  }
  return docs;
}

export { Fail as HelmFail };

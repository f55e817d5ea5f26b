/**
 * charts/gantry rendered by a DOUBLE of `helm template` (test/helpers/helm-render.ts: helm is
 * not packaged in Debian and cannot be fetched here), checked document by document: the
 * remote API option (rapi.enabled) runs `gantry run --kubernetes --serve` on 5080 with its
 * users and TLS Secrets, a Service, and RBAC for the patches; the args are options the real
 * CLI has.
 */
import path from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { HelmDouble, helmTemplate } from '../helpers/helm-render.js';

const CHART = path.resolve(import.meta.dirname, '../../charts/gantry');
const render = (values: Record<string, unknown>) => helmTemplate(CHART, { release: 'gantry', namespace: 'clusters', values });
const kindOf = (docs: Record<string, any>[], kind: string) => docs.filter((d) => d.kind === kind);
const container = (docs: Record<string, any>[]) => kindOf(docs, 'Deployment')[0]!.spec.template.spec.containers[0];

/** Every --flag in `args` is an option of `gantry run` (or a global one). */
async function unknownFlags(args: string[]): Promise<string[]> {
  const program = await buildProgram(['run']);
  const run = program.commands.find((c: Command) => c.name() === 'run')!;
  const known = new Set([...run.options, ...program.options].map((o) => o.long));
  return args.filter((a) => a.startsWith('--') && !known.has(a));
}

describe('the helm double (Go text/template semantics the chart relies on)', () => {
  it('given trim markers, include | nindent, range over a map, else if, printf and default, it renders what Go text/template renders', () => {
    const h = HelmDouble.fromSources({
      '_h.tpl': '{{- define "lbl" -}}\na: {{ .x }}\n{{- end -}}',
      't.yaml': 'top:\n  m: {{- include "lbl" .Values | nindent 4 }}\n{{- range $k, $v := .Values.m }}\n{{ $k }}={{ $v | quote }}\n{{- end }}\n'
        + '{{ if .Values.no }}no{{ else if .Values.x }}x{{ end }}\n{{ printf "%s:%v" "h" 5 }} {{ default "d" .Values.empty }}',
    });
    const out = h.render({ Values: { x: 1, m: { b: 2, a: 'y' }, empty: '' } });
    expect([...out.keys()]).toEqual(['t.yaml']);
    expect(out.get('t.yaml')).toBe('top:\n  m:\n    a: 1\na="y"\nb="2"\nx\nh:5 d');
  });

  it('given an action outside its subset, it throws naming the template instead of rendering something else', () => {
    expect(() => HelmDouble.fromSources({ 'w.yaml': '{{ with .Values.a }}{{ . }}{{ end }}' })).toThrow(/w.yaml: .*outside what this helm double renders/);
    expect(() => HelmDouble.fromSources({ 'f.yaml': '{{ lower "A" }}' }).render({ Values: {} })).toThrow(/f.yaml: function lower/);
  });
});

describe('charts/gantry with the remote API (rendered by the helm double)', () => {
  it('given rapi.enabled in kubernetes mode with users and TLS Secrets, it runs gantry run --kubernetes --serve on 5080 with both Secrets mounted read-only', async () => {
    const docs = await render({ mode: 'kubernetes', rapi: { enabled: true, usersSecret: 'rapi-users', tlsSecret: 'rapi-tls', anonymousRead: true } });
    const c = container(docs);
    expect(c.args.slice(0, 3)).toEqual(['run', '--kubernetes', '--namespace']);
    expect(c.args).toEqual(expect.arrayContaining(['--serve', '--anonymous-read']));
    const arg = (flag: string) => c.args[c.args.indexOf(flag) + 1];
    expect(arg('--listen')).toBe('0.0.0.0:5080');
    expect(arg('--users')).toBe('/etc/gantry/rapi-users/users');
    expect([arg('--tls-cert'), arg('--tls-key')]).toEqual(['/etc/gantry/rapi-tls/tls.crt', '/etc/gantry/rapi-tls/tls.key']);
    expect(arg('--state-dir')).toBe('/var/lib/gantry');
    expect(await unknownFlags(c.args)).toEqual([]);
    expect(c.ports).toContainEqual({ name: 'rapi', containerPort: 5080 });
    expect(c.volumeMounts).toEqual(expect.arrayContaining([
      { name: 'rapi-users', mountPath: '/etc/gantry/rapi-users', readOnly: true },
      { name: 'rapi-tls', mountPath: '/etc/gantry/rapi-tls', readOnly: true },
    ]));
    const volumes = kindOf(docs, 'Deployment')[0]!.spec.template.spec.volumes;
    expect(volumes).toEqual(expect.arrayContaining([
      { name: 'rapi-users', secret: { secretName: 'rapi-users', defaultMode: 0o400 } },
      { name: 'rapi-tls', secret: { secretName: 'rapi-tls', defaultMode: 0o400 } },
    ]));

    const [svc] = kindOf(docs, 'Service');
    expect(svc).toMatchObject({ metadata: { name: 'gantry-rapi' }, spec: { type: 'ClusterIP', ports: [{ name: 'rapi', port: 5080, targetPort: 'rapi', protocol: 'TCP' }] } });
    // the Service reaches the Lease holder only: its pod carries the leader label (src/kube/leader-label.ts)
    expect(svc!.spec.selector).toEqual({ ...kindOf(docs, 'Deployment')[0]!.spec.selector.matchLabels, 'gantry.dev/rapi-leader': 'true' });
    expect(arg('--pod-name')).toBe('$(POD_NAME)');
    expect(c.env).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);

    const rules = kindOf(docs, 'Role')[0]!.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const allowed = (resource: string, verb: string) => rules.some((r) => r.apiGroups.includes('gantry.dev') && r.resources.includes(resource) && r.verbs.includes(verb));
    for (const res of ['clusters', 'nodegroups', 'nodes', 'networks', 'instances']) {
      expect(allowed(res, 'patch'), `patch ${res}`).toBe(true);
      expect(allowed(res, 'get') && allowed(res, 'list') && allowed(res, 'watch'), `read ${res}`).toBe(true);
    }
    expect(allowed('instances', 'create')).toBe(true);
    expect(rules.some((r) => r.apiGroups.includes('') && r.resources.includes('pods') && r.verbs.includes('patch'))).toBe(true);
    expect(allowed('nodes', 'create')).toBe(false);
    // delete: only Instances (a rename deletes the old CR after creating the new one)
    expect(allowed('instances', 'delete')).toBe(true);
    expect(rules.filter((r) => r.verbs.includes('delete')).flatMap((r) => r.resources)).toEqual(['instances']);
  });

  it('given rapi.enabled without Secrets, it passes no --users or TLS files (self-signed certificate in the state volume) and mounts no Secret', async () => {
    const docs = await render({ mode: 'kubernetes', rapi: { enabled: true, port: 6443 } });
    const c = container(docs);
    expect(c.args).toContain('--serve');
    expect(c.args[c.args.indexOf('--listen') + 1]).toBe('0.0.0.0:6443');
    expect(c.args.filter((a: string) => ['--users', '--tls-cert', '--tls-key', '--anonymous-read'].includes(a))).toEqual([]);
    expect(c.volumeMounts.map((m: { name: string }) => m.name)).toEqual(['manifests', 'ssh', 'state']);
    expect(kindOf(docs, 'Service')[0]!.spec.ports[0]).toMatchObject({ port: 5080, targetPort: 'rapi' });
    expect(c.ports).toContainEqual({ name: 'rapi', containerPort: 6443 });
  });

  it('given the default values, it serves no API: no --serve, no Service, no write verbs', async () => {
    for (const mode of ['file', 'kubernetes']) {
      const docs = await render({ mode });
      expect(container(docs).args).not.toContain('--serve');
      expect(container(docs).args).not.toContain('--pod-name');
      expect(await unknownFlags(container(docs).args)).toEqual([]);
      expect(kindOf(docs, 'Service')).toEqual([]);
      for (const role of kindOf(docs, 'Role')) {
        for (const r of role.rules) if (r.apiGroups.includes('gantry.dev') && !r.resources[0].endsWith('/status')) expect(r.verbs).toEqual(['get', 'list', 'watch']);
      }
    }
  });

  it('given rapi.enabled in file mode, it refuses to render, naming mode (the manifests are a read-only ConfigMap: API writes could not work)', async () => {
    await expect(render({ mode: 'file', rapi: { enabled: true } })).rejects.toThrow(/rapi.enabled needs mode: kubernetes/);
  });
});

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostKeyProblem } from './checks.js';
import { checkIPolicyLayer, subnetsOverlap } from './checks-set.js';
import { DEFAULT_MAX_SPEC, DEFAULT_MIN_SPEC, DEFAULT_STD_SPEC } from './defaults.js';
import type { PathSegment } from '../api/index.js';
import { parseManifestText } from './load.js';
import { buildDesired } from './build.js';
import { formatLoadError } from './errors.js';

const CLUSTER = 'apiVersion: gantry.dev/v1alpha1\nkind: Cluster\nmetadata: { name: c1 }\nspec: { nicParams: { mode: bridged, link: br0 } }\n';

const hasKeygen = spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined;
const keygen = hasKeygen ? (type: string, bits?: number): string => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-hk-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-f', join(dir, 'k')]);
    return readFileSync(join(dir, 'k.pub'), 'utf8').trim();
  } finally { rmSync(dir, { recursive: true, force: true }); }
} : undefined;

describe('hostKeyProblem', () => {
  it.skipIf(!hasKeygen)('given real ssh-keygen keys of every type a node offers, it finds nothing wrong', () => {
    for (const [t, bits] of [['ed25519'], ['rsa', 2048], ['ecdsa', 256], ['ecdsa', 384], ['ecdsa', 521]] as const) {
      const line = keygen!(t, bits);
      expect(hostKeyProblem(line), line).toBeUndefined();
    }
  });

  it.skipIf(!hasKeygen)('given a real key cut short, a key under another type name, or broken base64, it names the problem', () => {
    const [type, b64] = keygen!('ed25519').split(' ') as [string, string];
    const raw = Buffer.from(b64, 'base64');
    expect(hostKeyProblem(`${type} ${raw.subarray(0, raw.length - 4).toString('base64')}`)).toMatch(/do not add up/);
    // the inner lengths add up but the key is 31 bytes instead of 32
    const short = Buffer.concat([raw.subarray(0, 15), Buffer.from([0, 0, 0, 31]), raw.subarray(19, 50)]);
    expect(hostKeyProblem(`${type} ${short.toString('base64')}`)).toMatch(/truncated or malformed ssh-ed25519/);
    expect(hostKeyProblem(`ssh-rsa ${b64}`)).toMatch(/decodes to a "ssh-ed25519" key/);
    expect(hostKeyProblem(`${type} not*base64`)).toMatch(/not base64/);
    const ecdsa = keygen!('ecdsa', 256);
    expect(hostKeyProblem(ecdsa.replace('ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384'))).toMatch(/decodes to a "ecdsa-sha2-nistp256" key/);
  });
});

describe('subnetsOverlap', () => {
  it('given nested, disjoint and mixed-family subnets, it says which overlap', () => {
    expect(subnetsOverlap('10.0.0.0/16', '10.0.5.0/24')).toBe(true);
    expect(subnetsOverlap('10.0.5.0/24', '10.0.0.0/16')).toBe(true);
    expect(subnetsOverlap('10.0.0.0/24', '10.0.1.0/24')).toBe(false);
    expect(subnetsOverlap('2001:db8::/48', '2001:db8:0:1::/64')).toBe(true);
    expect(subnetsOverlap('10.0.0.0/8', '2001:db8::/32')).toBe(false);
  });
});

describe('overlapping subnets through buildDesired', () => {
  const doc = (net: string, spec: string) => `apiVersion: gantry.dev/v1alpha1\nkind: Network\nmetadata: { name: ${net} }\nspec: ${spec}\n`;
  const errorsOf = (...docs: string[]) => {
    const parsed = parseManifestText('m.yaml', [CLUSTER, ...docs].join('---\n'));
    return [...parsed.errors, ...buildDesired(parsed.resources, undefined, parsed.failed).errors].map(formatLoadError);
  };
  it('given the same subnet on two VLANs of one OVS switch, it accepts it; on one bridge, it refuses the second network', () => {
    expect(errorsOf(
      doc('v10', '{ subnet: 10.0.0.0/24, mode: openvswitch, link: ovs0, vlan: 10 }'),
      doc('v20', '{ subnet: 10.0.0.0/24, mode: openvswitch, link: ovs0, vlan: 20 }'),
    )).toEqual([]);
    expect(errorsOf(doc('a', '{ subnet: 10.0.0.0/24 }'), doc('b', '{ subnet: 10.0.0.128/25 }'))).toEqual([
      expect.stringMatching(/spec\.subnet: subnet of network b overlaps network a's on link br0/),
    ]);
  });

  it('given a group that connects two overlapping networks of different links to one bridge, it reports the group once', () => {
    const group = 'apiVersion: gantry.dev/v1alpha1\nkind: NodeGroup\nmetadata: { name: g1 }\nspec: { networks: [{ network: a, link: br9 }, { network: b, link: br9 }] }\n';
    expect(errorsOf(doc('a', '{ subnet: 10.0.0.0/24, link: br1 }'), doc('b', '{ subnet: 10.0.0.0/24, link: br2 }'), group)).toEqual([
      expect.stringMatching(/spec\.networks\[1\]\.network: subnet of network b overlaps network a's on link br9/),
    ]);
    const same = 'apiVersion: gantry.dev/v1alpha1\nkind: NodeGroup\nmetadata: { name: g1 }\nspec: { networks: [{ network: a }, { network: b }] }\n';
    expect(errorsOf(doc('a', '{ subnet: 10.0.0.0/24 }'), doc('b', '{ subnet: 10.0.0.0/24 }'), same)).toHaveLength(1);
  });
});

describe('checkIPolicyLayer', () => {
  const run = (layer: object, eff: object) => {
    const errs: [PathSegment[], string][] = [];
    const ok = checkIPolicyLayer(layer, { minSpec: { ...DEFAULT_MIN_SPEC }, maxSpec: { ...DEFAULT_MAX_SPEC }, stdSpec: { ...DEFAULT_STD_SPEC }, diskTemplates: [], vcpuRatio: 4, spindleRatio: 32, ...eff }, (p, _c, m) => errs.push([p, m]));
    return { ok, errs };
  };

  it('given a std spec below the min set in the same layer, it reports the std field once and says the policy is broken', () => {
    const { ok, errs } = run({ stdSpec: { memory: 64 } }, { stdSpec: { ...DEFAULT_STD_SPEC, memory: 64 } });
    expect(ok).toBe(false);
    expect(errs).toEqual([[['spec', 'ipolicy', 'stdSpec', 'memory'], 'instance policy memory: std 64 is outside min..max (128..32768)']]);
  });

  it('given a min over the max that only the max sets, it points at the max', () => {
    const { errs } = run({ maxSpec: { vcpus: 0 } }, { maxSpec: { ...DEFAULT_MAX_SPEC, vcpus: 0 } });
    expect(errs.map((e) => e[0])).toEqual([['spec', 'ipolicy', 'maxSpec', 'vcpus']]);
  });

  it('given no policy in the layer, it checks nothing and says it is fine', () => {
    expect(run(undefined as unknown as object, {})).toEqual({ ok: true, errs: [] });
  });
});

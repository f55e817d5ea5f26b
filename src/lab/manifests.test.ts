import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renderNodeManifests } from './manifests.js';

describe('renderNodeManifests', () => {
  it('given two lab nodes it writes one Node document each with the pinned ssh endpoint', () => {
    const base = { group: 'default', privateKeyFile: '/var/lib/gantry-lab/id_ed25519', hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxE6sRu42W/0EjKwoOkIPBJOdKQeIrV7NJx+u7qGXT4' };
    const text = renderNodeManifests([
      { ...base, name: 'node1', address: '198.18.0.11', secondaryAddress: '198.19.0.11', role: 'master-candidate', ovsdbSocket: '/s1', nodeDir: '/lab/node1', vgName: 'gantry', loopDevice: '/dev/loop1' },
      { ...base, name: 'node2', address: '198.18.0.12', secondaryAddress: '198.19.0.12', role: 'regular', ovsdbSocket: '/s2', nodeDir: '/lab/node2', vgName: 'gantry', loopDevice: '/dev/loop2' },
    ]);
    const docs = parseAllDocuments(text).map((d) => d.toJS());
    expect(docs).toHaveLength(2);
    expect(docs[1]).toEqual({
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Node',
      metadata: { name: 'node2' },
      spec: {
        group: 'default',
        address: '198.18.0.12',
        secondaryAddress: '198.19.0.12',
        role: 'regular',
        ssh: { host: '198.18.0.12', port: 22, user: 'root', hostKey: base.hostKey, privateKeyFile: base.privateKeyFile },
        ovsdbSocket: '/s2',
        paths: { runDir: '/lab/node2/run', fileStorageDir: '/lab/node2/file-storage' },
        profile: { volumeGroups: [{ name: 'gantry', pvs: ['/dev/loop2'] }] },
      },
    });
  });
});

describe('renderNodeManifests for a VM node', () => {
  it('given a VM node it pins its key, declares the VG on /dev/vda and leaves the node paths at their defaults', () => {
    const text = renderNodeManifests([
      {
        kind: 'vm', name: 'node3', group: 'default', address: '198.18.0.13', secondaryAddress: '198.19.0.13', role: 'regular', privateKeyFile: '/k',
        hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxE6sRu42W/0EjKwoOkIPBJOdKQeIrV7NJx+u7qGXT4', ovsdbSocket: '/run/openvswitch/db.sock', nodeDir: '/lab/node3', vgName: 'gantry', loopDevice: '/dev/vda',
      },
    ]);
    const spec = (parseAllDocuments(text)[0]!.toJS() as { spec: Record<string, unknown> }).spec;
    expect(spec.paths).toBeUndefined();
    expect(spec.profile).toEqual({ volumeGroups: [{ name: 'gantry', pvs: ['/dev/vda'] }] });
    expect(spec.ssh).toMatchObject({ host: '198.18.0.13', hostKey: expect.stringMatching(/^ssh-ed25519 /) });
  });
});

describe('renderNodeManifests with the lab\'s out-of-band program', () => {
  it('given the lab power program, each Node declares it as spec.oob and the manifest validates', async () => {
    const { parseManifestText } = await import('../desired/load.js');
    const { buildDesired } = await import('../desired/build.js');
    const { labOobProgram } = await import('./lab.js');
    const program = labOobProgram('gtx', '/var/lib/gtx-lab');
    expect(program.slice(2)).toEqual(['lab', 'power', '--prefix', 'gtx', '--state-dir', '/var/lib/gtx-lab']);
    expect(program[1]).toMatch(/\/bin\/gantry\.js$/);
    const text = renderNodeManifests([{
      name: 'node1', group: 'default', address: '198.18.0.11', secondaryAddress: '198.19.0.11', role: 'regular', privateKeyFile: '/k',
      hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxE6sRu42W/0EjKwoOkIPBJOdKQeIrV7NJx+u7qGXT4', ovsdbSocket: '/s1', nodeDir: '/lab/node1', vgName: 'gantry', loopDevice: '/dev/loop1', oobProgram: program,
    }]);
    const parsed = parseManifestText('nodes.yaml', text + '---\napiVersion: gantry.dev/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\nspec: {}\n');
    expect(parsed.errors).toEqual([]);
    const built = buildDesired(parsed.resources);
    expect(built.errors).toEqual([]);
    expect(built.state?.nodes.get('node1')?.oob).toEqual({ program, timeoutSeconds: 60 });
  });
});

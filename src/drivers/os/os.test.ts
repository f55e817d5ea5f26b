import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalTransport } from '../../transport/local.js';
import { silentLogger } from '../../util/log.js';
import {
  buildOsEnv,
  checkImageInfo,
  checkOsRequest,
  declaredImageFormat,
  imageInfoArgv,
  imageWriteArgv,
  osRunArgv,
  OsScriptError,
  parseApiVersions,
  parseOsName,
  parseParametersList,
  parseVariants,
  runOsScript,
  validateOsParams,
  writeImage,
  type OsDefinition,
} from './os.js';

describe('OS names and parameters', () => {
  it('given name+variant, it splits them; bad names are refused', () => {
    expect(parseOsName('busybox+default')).toEqual({ name: 'busybox', variant: 'default' });
    expect(parseOsName('debootstrap')).toEqual({ name: 'debootstrap' });
    expect(() => parseOsName('a/b')).toThrow(/OS name/);
    expect(() => parseOsName('a+b c')).toThrow(/variant/);
  });

  it('given parameter names, only ^[a-z0-9_]+$ passes', () => {
    expect(() => validateOsParams({ poweroff_after: '3', message2: 'x' })).not.toThrow();
    for (const bad of ['Message', 'a-b', '', 'x y']) expect(() => validateOsParams({ [bad]: '1' })).toThrow(/must match/);
  });

  it('given definition files, it parses versions, variants and documented parameters', () => {
    expect(parseApiVersions('20\n15\n\n')).toEqual([20, 15]);
    expect(parseVariants('default\n# comment\nminimal\n')).toEqual(['default', 'minimal']);
    expect(parseParametersList('poweroff_after Power off after N ticks\nmessage\n')).toEqual([
      { name: 'poweroff_after', description: 'Power off after N ticks' },
      { name: 'message', description: '' },
    ]);
  });

  it('given a definition, it checks API version, variant (defaulting to the first) and declared params', () => {
    const def: OsDefinition = { dir: '/os/x', apiVersions: [20], variants: ['default', 'big'], parameters: [{ name: 'message', description: '' }] };
    expect(checkOsRequest(def, { name: 'x' }, {})).toBe('default');
    expect(checkOsRequest(def, { name: 'x', variant: 'big' }, { message: 'hi' })).toBe('big');
    expect(() => checkOsRequest(def, { name: 'x', variant: 'tiny' }, {})).toThrow(/no variant tiny/);
    expect(() => checkOsRequest(def, { name: 'x' }, { colour: 'red' })).toThrow(/colour/);
    expect(() => checkOsRequest({ ...def, apiVersions: [15] }, { name: 'x' }, {})).toThrow(/API/);
  });
});

describe('buildOsEnv', () => {
  it('given an instance with disks, nics and params, it builds the OS API 20 environment', () => {
    const env = buildOsEnv({
      os: { name: 'busybox', variant: 'default' },
      instance: 'web1.lab',
      disks: [{ path: '/dev/vg/web1.disk0', frontendType: 'paravirtual', backendType: 'block' }, { path: '/srv/d1', access: 'ro' }],
      nics: [{ mac: 'aa:00:00:01:02:03', ip: '198.18.201.10', mode: 'bridged', link: 'br0', network: { name: 'lan', subnet: '198.18.201.0/24', gateway: '198.18.201.1' } }],
      params: { poweroff_after: '3', message: 'hi there' },
    });
    expect(env).toEqual({
      OS_API_VERSION: '20',
      OS_NAME: 'busybox',
      OS_VARIANT: 'default',
      INSTANCE_OS: 'busybox+default',
      INSTANCE_NAME: 'web1.lab',
      HYPERVISOR: 'kvm',
      DEBUG_LEVEL: '0',
      DISK_COUNT: '2',
      DISK_0_PATH: '/dev/vg/web1.disk0',
      DISK_0_ACCESS: 'rw',
      DISK_0_FRONTEND_TYPE: 'paravirtual',
      DISK_0_BACKEND_TYPE: 'block',
      DISK_1_PATH: '/srv/d1',
      DISK_1_ACCESS: 'ro',
      NIC_COUNT: '1',
      NIC_0_MAC: 'aa:00:00:01:02:03',
      NIC_0_IP: '198.18.201.10',
      NIC_0_MODE: 'bridged',
      NIC_0_LINK: 'br0',
      NIC_0_BRIDGE: 'br0',
      NIC_0_NETWORK_NAME: 'lan',
      NIC_0_NETWORK_SUBNET: '198.18.201.0/24',
      NIC_0_NETWORK_GATEWAY: '198.18.201.1',
      OSP_POWEROFF_AFTER: '3',
      OSP_MESSAGE: 'hi there',
    });
    for (const k of Object.keys(env)) expect(k).toMatch(/^[A-Z_][A-Z0-9_]*$/);
  });

  it('given rename/import extras and a routed nic, it adds them and no bridge', () => {
    const env = buildOsEnv({ os: { name: 'x' }, instance: 'b', disks: [], nics: [{ mac: 'aa:00:00:00:00:01', mode: 'routed', link: 'table100' }], oldInstanceName: 'a', importDevice: '/dev/x', importIndex: 0 });
    expect(env).toMatchObject({ OLD_INSTANCE_NAME: 'a', IMPORT_DEVICE: '/dev/x', IMPORT_INDEX: '0', NIC_0_LINK: 'table100' });
    expect(env.NIC_0_BRIDGE).toBeUndefined();
    expect(env.OS_VARIANT).toBeUndefined();
  });
});

describe('running OS scripts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-os-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const transport = new LocalTransport({ logger: silentLogger() });

  it('given a script, the data travels as positional args and output lands in the log', () => {
    const argv = osRunArgv({ osDir: '/os/busybox/', script: 'create', env: {}, logPath: '/run/g/web1/os.log' });
    expect(argv.slice(3)).toEqual(['gantry-os', '/os/busybox/create', '/run/g/web1/os.log', '', '']);
    expect(argv[2]).not.toContain('/os/busybox');
    expect(() => osRunArgv({ osDir: 'rel', script: 'create', env: {}, logPath: '/l' })).toThrow(/absolute/);
  });

  it('given a create that succeeds and one that fails, it returns the log tail or an OsScriptError', async () => {
    writeFileSync(join(dir, 'create'), '#!/bin/sh\necho "creating $INSTANCE_NAME in $(pwd)"\n', { mode: 0o755 });
    writeFileSync(join(dir, 'verify'), '#!/bin/sh\necho "bad param $OSP_MESSAGE" >&2\nexit 3\n', { mode: 0o755 });
    const log = join(dir, 'run/web1/os.log');
    const out = await runOsScript(transport, { osDir: dir, script: 'create', env: buildOsEnv({ os: { name: 't' }, instance: 'web1', disks: [], nics: [] }), logPath: log });
    expect(out).toContain(`creating web1 in ${dir}`);
    const err = await runOsScript(transport, { osDir: dir, script: 'verify', env: { OSP_MESSAGE: 'zz' }, logPath: log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OsScriptError);
    expect((err as OsScriptError).message).toMatch(/exit 3.*bad param zz/);
    expect(readFileSync(log, 'utf8')).toMatch(/=== exit 0[\s\S]*=== exit 3/);
  });
});

const imgGolden = (f: string) => readFileSync(new URL(`./testdata/${f}`, import.meta.url), 'utf8');

describe('image provider', () => {
  it('given an image and a disk, it always passes the declared source format, in place when the target exists', () => {
    expect(imageWriteArgv({ image: '/img/a.raw', disk: '/srv/d0', sourceFormat: 'raw' })).toEqual(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', '/img/a.raw', '/srv/d0']);
    expect(imageWriteArgv({ image: '/img/a.qcow2', disk: '/dev/vg/lv', sourceFormat: 'qcow2', targetExists: true })).toEqual([
      'qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', '-n', '/img/a.qcow2', '/dev/vg/lv',
    ]);
    expect(imageInfoArgv('/img/a.qcow2')).toEqual(['qemu-img', 'info', '--output=json', '/img/a.qcow2']);
  });
  it('given a qcow2 disk file as the target, it writes through its qcow2 structure (-O qcow2 -n)', () => {
    expect(imageWriteArgv({ image: '/img/a.raw', disk: '/srv/web.disk0.img', sourceFormat: 'raw', targetExists: true, targetFormat: 'qcow2' })).toEqual([
      'qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-n', '/img/a.raw', '/srv/web.disk0.img',
    ]);
  });
  it('given relative or traversing image paths it refuses before building argv', () => {
    for (const bad of ['img/a', '/img/../etc/shadow', '/img/./a', '/img//a', '/img/-o']) {
      expect(() => imageWriteArgv({ image: bad, disk: '/srv/d0', sourceFormat: 'raw' })).toThrow(/absolute, normal path/);
    }
  });
  it('given the image_format OS parameter it declares that format, raw by default, and refuses unknown ones', () => {
    expect(declaredImageFormat({})).toBe('raw');
    expect(declaredImageFormat({ image_format: 'qcow2' })).toBe('qcow2');
    expect(() => declaredImageFormat({ image_format: 'luks' })).toThrow(/not one of raw, qcow2/);
  });
  it('given real qemu-img info of a raw and a qcow2 image it accepts each only as its own format', () => {
    expect(() => checkImageInfo(imgGolden('info-raw.json'), { image: '/i', sourceFormat: 'raw' })).not.toThrow();
    expect(() => checkImageInfo(imgGolden('info-qcow2.json'), { image: '/i', sourceFormat: 'qcow2' })).not.toThrow();
    // a "raw" image that probes as qcow2 (a qcow2 header written into it) is refused
    expect(() => checkImageInfo(imgGolden('info-qcow2.json'), { image: '/i', sourceFormat: 'raw' })).toThrow(/is qcow2, but its declared format .* is raw/);
  });
  it('given real qemu-img info of a qcow2 with a backing file it refuses (it would read another host file)', () => {
    expect(() => checkImageInfo(imgGolden('info-qcow2-backing.json'), { image: '/i', sourceFormat: 'qcow2' })).toThrow(/refers to another file \(\/tmp\/sdcap\/img.raw\)/);
  });
});

describe('image provider against the real qemu-img', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-img-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const t = new LocalTransport({ logger: silentLogger(), node: 'local' });
  const sh = (argv: string[]) => t.exec(argv).then((r) => expect(r.code).toBe(0));

  it('given a qcow2 image declared raw it refuses and leaves the disk as it was; declared qcow2 it writes it', async () => {
    const image = join(dir, 'os.qcow2');
    const disk = join(dir, 'disk0');
    await sh(['qemu-img', 'create', '-q', '-f', 'qcow2', image, '4M']);
    writeFileSync(disk, Buffer.alloc(4 << 20, 0x5a));
    await expect(writeImage(t, { image, disk, sourceFormat: 'raw', targetExists: true })).rejects.toMatchObject({ code: 'OS_IMAGE_FORMAT_MISMATCH' });
    expect(readFileSync(disk).every((b) => b === 0x5a)).toBe(true);
    await writeImage(t, { image, disk, sourceFormat: 'qcow2', targetExists: true });
    expect(readFileSync(disk).every((b) => b === 0)).toBe(true);
  });
  it('given a missing image it refuses with qemu-img\'s own reason', async () => {
    await expect(writeImage(t, { image: join(dir, 'nope.img'), disk: join(dir, 'd'), sourceFormat: 'raw' })).rejects.toThrow(/No such file or directory/);
  });
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { imgCreateCmd, imgInfoCmd, imgResizeCmd, listImagesCmd, parentDir, pathTypeCmd, rmCmd } from './commands.js';
import { parseInfoStream } from './parse.js';

describe('file disk argv builders', () => {
  it('given a raw or qcow2 disk it builds qemu-img create with a MiB size', () => {
    expect(imgCreateCmd('/srv/disks/web1.disk0', 'raw', 1024)).toEqual(['qemu-img', 'create', '-q', '-f', 'raw', '/srv/disks/web1.disk0', '1024M']);
    expect(imgCreateCmd('/srv/disks/web1.disk1', 'qcow2', 64)[4]).toBe('qcow2');
  });
  it('given a resize it always passes -f and never --shrink', () => {
    expect(imgResizeCmd('/srv/d', 'qcow2', 2048)).toEqual(['qemu-img', 'resize', '-q', '-f', 'qcow2', '/srv/d', '2048M']);
    expect(imgResizeCmd('/srv/d', 'raw', 2048)).toEqual(['qemu-img', 'resize', '-q', '-f', 'raw', '/srv/d', '2048M']);
  });
  it('given a directory it lists images with one find -exec qemu-img info', () => {
    expect(listImagesCmd('/srv/disks')).toEqual(['find', '/srv/disks', '-maxdepth', '1', '-type', 'f', '-name', '*', '-exec', 'qemu-img', 'info', '-U', '--output=json', '{}', ';']);
    expect(listImagesCmd('/srv/disks', '*.disk*')[7]).toBe('*.disk*');
  });
  it('given several name patterns, find matches any of them (one parenthesised -o group, no shell)', () => {
    expect(listImagesCmd('/srv/disks', ['*.disk*.img', '*.disk*.img.reinstall']).slice(6, 15)).toEqual(['(', '-name', '*.disk*.img', '-o', '-name', '*.disk*.img.reinstall', ')', '-exec', 'qemu-img']);
    expect(() => listImagesCmd('/srv', [])).toThrow(/no name pattern/);
    expect(() => listImagesCmd('/srv', ['*.img', '*;rm'])).toThrow();
  });
  it.skipIf(!existsSync('/usr/bin/qemu-img'))('given an image, its empty reinstall mark and an unrelated file, the real find and qemu-img with the node patterns list the image and the mark (raw, 0 MiB), nothing else', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-files-'));
    try {
      await promisify(execFile)('qemu-img', imgCreateCmd(path.join(dir, 'web1.disk0.img'), 'raw', 1).slice(1));
      await writeFile(path.join(dir, 'web1.disk0.img.reinstall'), '');
      await writeFile(path.join(dir, 'notes.txt'), 'x');
      const argv = listImagesCmd(dir, ['*.disk*.img', '*.disk*.img.reinstall']);
      const { stdout } = await promisify(execFile)(argv[0]!, argv.slice(1), { encoding: 'utf8' });
      const files = parseInfoStream(stdout).sort((a, b) => a.path.localeCompare(b.path));
      expect(files).toEqual([
        { path: path.join(dir, 'web1.disk0.img'), format: 'raw', virtualSizeMiB: 1 },
        { path: path.join(dir, 'web1.disk0.img.reinstall'), format: 'raw', virtualSizeMiB: 0 },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('given info, rm and stat it uses -- and absolute paths', () => {
    expect(imgInfoCmd('/srv/d')).toEqual(['qemu-img', 'info', '-U', '--output=json', '/srv/d']);
    expect(rmCmd('/srv/d')).toEqual(['rm', '-f', '--', '/srv/d']);
    expect(pathTypeCmd(parentDir('/srv/disks/d'))).toEqual(['stat', '-L', '-c', '%F', '--', '/srv/disks']);
  });
  it('given relative, traversing or odd paths, formats or sizes it throws', () => {
    expect(() => imgCreateCmd('disks/d', 'raw', 1)).toThrow(/absolute/);
    expect(() => rmCmd('/srv/../etc/passwd')).toThrow();
    expect(() => imgCreateCmd('/srv/d', 'vmdk' as 'raw', 1)).toThrow(/unsupported image format/);
    expect(() => imgCreateCmd('/srv/d', 'raw', -1)).toThrow(/invalid size/);
    expect(() => listImagesCmd('/srv', '*;rm')).toThrow();
  });
});

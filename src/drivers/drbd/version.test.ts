import { describe, expect, it } from 'vitest';
import { decodeVersionCode, detectFamily, familyOf, parseDrbdadmVersion, parseProcDrbdHeader } from './version.js';
import { ganeti, golden, hasGaneti, skipNote } from './testdata/golden.js';

describe('DRBD version detection', () => {
  it('given drbdadm --version inside the VM (8.4.11 module, utils 9.22), it picks the 8.4 family', () => {
    const v = parseDrbdadmVersion(golden('v84/drbdadm-version.txt'));
    expect(v).toEqual({ kernel: { major: 8, minor: 4, patch: 11 }, utils: { major: 9, minor: 22, patch: 0 }, api: 1 });
    expect(detectFamily(golden('v84/drbdadm-version.txt'), golden('v84/proc-empty.txt')).family).toBe('8.4');
  });

  it('given drbdadm --version on a host without the module, it refuses with DRBD_NO_MODULE', () => {
    expect(parseDrbdadmVersion(golden('v84/drbdadm-version-no-module.txt'))).toEqual({ utils: { major: 9, minor: 22, patch: 0 }, api: 2 });
    expect(() => detectFamily(golden('v84/drbdadm-version-no-module.txt'), undefined)).toThrow(expect.objectContaining({ code: 'DRBD_NO_MODULE' }));
  });

  it('given /proc/drbd first lines, it reads 8.4 and 9 and refuses a disagreement', () => {
    expect(parseProcDrbdHeader(golden('v84/proc-empty.txt'))).toEqual({ version: { major: 8, minor: 4, patch: 11 }, api: 1, protoMin: 86, protoMax: 101 });
    expect(detectFamily(undefined, golden('v9/proc-drbd.txt'))).toMatchObject({ family: '9', kernel: { major: 9, minor: 2, patch: 8 } });
    expect(() => detectFamily(golden('v84/drbdadm-version.txt'), golden('v9/proc-drbd.txt'))).toThrow(expect.objectContaining({ code: 'DRBD_VERSION_MISMATCH' }));
    expect(decodeVersionCode('0x000000')).toBeUndefined();
    expect(decodeVersionCode('0x090208')).toEqual({ major: 9, minor: 2, patch: 8 });
  });

  it.skipIf(!hasGaneti('proc_drbd83.txt'))(`given an 8.3 /proc/drbd ${skipNote('proc_drbd83.txt')}, it refuses the version`, () => {
    const h = parseProcDrbdHeader(ganeti('proc_drbd83.txt'));
    expect(h?.version).toEqual({ major: 8, minor: 3, patch: 1 });
    expect(() => familyOf(h!.version)).toThrow(expect.objectContaining({ code: 'DRBD_UNSUPPORTED_VERSION' }));
  });
});

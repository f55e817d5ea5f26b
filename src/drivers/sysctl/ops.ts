import { PrereqError } from '../../util/errors.js';
import { NOOP, readFailed, runAll, type EnsureOp } from '../facts/shared.js';
import { sysctlReadCmd, sysctlWriteCmd } from './commands.js';
import { normaliseValue, parseSysctl } from './parse.js';

/** What a sysctl write needs (the executor passes its action: only the shape matters). */
export interface SysctlSetParams { readonly key: string; readonly value: string }

/** Write only when the live value differs; a key the kernel does not have is a prereq failure. */
export const sysctlSetOp: EnsureOp<SysctlSetParams> = {
  read: (a) => [sysctlReadCmd([a.key])],
  describe: (a) => [sysctlWriteCmd(a.key, a.value)],
  decide(a, reads) {
    const r = reads[0];
    if (!r) throw new Error('sysctl: expected one read result');
    const live = parseSysctl(r.stdout)[a.key];
    if (live === undefined) {
      if (/No such file/.test(r.stderr)) return { kind: 'refuse', error: new PrereqError('SYSCTL_UNKNOWN_KEY', `sysctl ${a.key} does not exist on this kernel`, { key: a.key }) };
      return { kind: 'refuse', error: readFailed(r, 'SYSCTL_READ_FAILED') };
    }
    return live === normaliseValue(a.value) ? NOOP : runAll([sysctlWriteCmd(a.key, a.value)]);
  },
};

/** Pure argv builders for VXLAN links (iproute2). */
import { PrereqError } from '../../util/errors.js';
import { checkIfName } from '../facts/shared.js';
import { checkIp } from '../bridge/commands.js';

export interface VxlanSpec {
  readonly name: string;
  readonly vni: number;
  readonly local?: string;
  readonly remote?: string;
  readonly group?: string;
  readonly dstPort: number;
  readonly dev?: string;
}

export const vxlansCmd = (): string[] => ['ip', '-j', '-d', 'link', 'show', 'type', 'vxlan'];

/** `ip link add NAME type vxlan id VNI [local A] [remote B | group G] dstport P [dev D]`. */
export function vxlanAddCmd(s: VxlanSpec): string[] {
  if (!Number.isSafeInteger(s.vni) || s.vni < 0 || s.vni > 0xffffff) throw new PrereqError('INVALID_NAME', `invalid VNI ${s.vni}: 0..16777215`);
  if (!Number.isSafeInteger(s.dstPort) || s.dstPort < 1 || s.dstPort > 65535) throw new PrereqError('INVALID_NAME', `invalid VXLAN dstport ${s.dstPort}`);
  if (s.remote !== undefined && s.group !== undefined) throw new PrereqError('INVALID_NAME', `vxlan ${s.name}: remote and group are exclusive`);
  return [
    'ip', 'link', 'add', 'name', checkIfName(s.name), 'type', 'vxlan', 'id', String(s.vni),
    ...(s.local !== undefined ? ['local', checkIp(s.local)] : []),
    ...(s.remote !== undefined ? ['remote', checkIp(s.remote)] : []),
    ...(s.group !== undefined ? ['group', checkIp(s.group)] : []),
    'dstport', String(s.dstPort),
    ...(s.dev !== undefined ? ['dev', checkIfName(s.dev)] : []),
  ];
}

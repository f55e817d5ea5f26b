/**
 * Actions are data: a closed set of verbs, each aimed at one node, each carrying the
 * reason the planner chose it (for the drift report; never consulted during apply).
 * The executor maps an action to one driver operation (src/drivers/<subsystem>/ops.ts).
 */

interface Base {
  /** Node the action runs on. */
  readonly node: string;
  /** The resource this action serves, "Kind/name" (e.g. "Node/node1", "Instance/web1"). */
  readonly subject: string;
  /** Why the planner chose this action, in words a sysadmin reads in the drift report. */
  readonly reason: string;
}

// ---- node profile: network ----
export interface BridgeEnsure extends Base { readonly verb: 'bridge.ensure'; readonly name: string; readonly vlanFiltering: boolean; readonly mtu?: number; readonly addresses: readonly string[]; readonly ports: readonly string[] }
export interface BridgeRemove extends Base { readonly verb: 'bridge.remove'; readonly name: string }
export interface OvsBridgeEnsure extends Base { readonly verb: 'ovs.bridge.ensure'; readonly name: string; readonly datapathType: string }
export interface OvsBridgeRemove extends Base { readonly verb: 'ovs.bridge.remove'; readonly name: string }
export interface OvsPortEnsure extends Base { readonly verb: 'ovs.port.ensure'; readonly bridge: string; readonly port: string; readonly tag?: number; readonly trunks: readonly number[]; readonly type: string }
export interface OvsPortRemove extends Base { readonly verb: 'ovs.port.remove'; readonly bridge: string; readonly port: string }
export interface VxlanEnsure extends Base { readonly verb: 'vxlan.ensure'; readonly name: string; readonly vni: number; readonly local?: string; readonly remote?: string; readonly group?: string; readonly dstPort: number; readonly dev?: string; readonly master?: string }
export interface VxlanRemove extends Base { readonly verb: 'vxlan.remove'; readonly name: string }
export interface SysctlSet extends Base { readonly verb: 'sysctl.set'; readonly key: string; readonly value: string }

// ---- node profile: storage ----
export interface VgEnsure extends Base { readonly verb: 'vg.ensure'; readonly name: string; readonly pvs: readonly string[] }

// ---- instance disks ----
export interface LvCreate extends Base { readonly verb: 'lv.create'; readonly vg: string; readonly name: string; readonly sizeMiB: number; readonly tags: readonly string[] }
export interface LvExtend extends Base { readonly verb: 'lv.extend'; readonly vg: string; readonly name: string; readonly sizeMiB: number }
export interface LvRemove extends Base { readonly verb: 'lv.remove'; readonly vg: string; readonly name: string }
export interface FileCreate extends Base { readonly verb: 'file.create'; readonly path: string; readonly sizeMiB: number; readonly format: 'raw' | 'qcow2' }
export interface FileGrow extends Base { readonly verb: 'file.grow'; readonly path: string; readonly sizeMiB: number }
export interface FileRemove extends Base { readonly verb: 'file.remove'; readonly path: string }

export type Action =
  | BridgeEnsure | BridgeRemove
  | OvsBridgeEnsure | OvsBridgeRemove | OvsPortEnsure | OvsPortRemove
  | VxlanEnsure | VxlanRemove
  | SysctlSet
  | VgEnsure
  | LvCreate | LvExtend | LvRemove
  | FileCreate | FileGrow | FileRemove;

export type Verb = Action['verb'];

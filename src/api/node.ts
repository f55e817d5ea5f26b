import { Type, type Static } from '@sinclair/typebox';
import { AbsPath, Hostname, Ipv4, Port, Size, SSH_PUBKEY_RE, StrEnum, Strict, Tags, MESSAGE_KEY } from './common.js';
import { NdParams, NodeProfile } from './params.js';

export const NODE_ROLES = ['master-candidate', 'regular', 'drained', 'offline'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

/** Node: gnt-node add/modify, plus the profile (bridges, VGs, sysctls) it must have. */
export const NodeSpec = Type.Object(
  {
    group: Type.Optional(Hostname('NodeGroup name (default "default")')),
    address: Ipv4('primary IP address (-s is the secondary)'),
    secondaryAddress: Type.Optional(Ipv4('secondary (replication) IP for DRBD (default: address)')),
    role: Type.Optional(StrEnum(NODE_ROLES, 'role (default regular); drained = evacuate and allocate nothing; offline = unreachable, ignored')),
    ssh: Type.Optional(Type.Object({
      host: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$', [MESSAGE_KEY]: 'is not a host name or address (it may not start with "-" or ".")', description: 'SSH host (default: address)' })),
      port: Type.Optional(Port('SSH port (default 22)')),
      user: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_-]{0,31}$', description: 'SSH user (default root)' })),
      hostKey: Type.Optional(Type.String({ pattern: SSH_PUBKEY_RE, [MESSAGE_KEY]: 'is not an OpenSSH public key line ("ssh-ed25519 AAAA...")', description: 'pinned host key, OpenSSH public key line' })),
      privateKeyFile: Type.Optional(AbsPath('private key for this node (default: the controller user\'s ~/.ssh/id_ed25519, id_ecdsa or id_rsa, the first that exists, as ssh does; plus the ssh-agent when SSH_AUTH_SOCK is set)')),
    }, Strict)),
    oob: Type.Optional(Type.Object({
      program: Type.Array(Type.String({ minLength: 1, maxLength: 4096, pattern: '^[^\\x00-\\x1f]+$', [MESSAGE_KEY]: 'is not a plain argument (no control characters)' }), { minItems: 1, maxItems: 32, description: 'out-of-band power program as argv (Ganeti oob_program); Gantry appends the verb (power-status, power-off, power-on, power-cycle) and the node name; power-status prints {"powered": true|false}' }),
      timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'kill the program and count the verb as failed after this long (default 60)' })),
    }, { ...Strict, description: 'out-of-band power control: how Gantry fences this node (confirms it dead) before failing its instances over' })),
    ovsdbSocket: Type.Optional(AbsPath('ovsdb-server socket (default: the system one)')),
    paths: Type.Optional(Type.Object({
      runDir: Type.Optional(AbsPath('per-instance directories: QMP and console sockets, pid files, the instance record (default /var/lib/gantry/instances; keep it on persistent storage)')),
      fileStorageDir: Type.Optional(AbsPath('file disk directory for this node (default: the cluster\'s; lab nodes share one filesystem so each gets its own)')),
    }, Strict)),
    memory: Type.Optional(Size('memory to plan with (default: observed)')),
    cpus: Type.Optional(Type.Integer({ minimum: 1, description: 'CPUs to plan with (default: observed)' })),
    ndParams: Type.Optional(NdParams),
    spindles: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'spindles (physical volumes of the cluster volume group) to plan with on exclusive storage (default: the observed PV count)' })),
    profile: Type.Optional(NodeProfile),
    tags: Type.Optional(Tags()),
  },
  { ...Strict, description: 'node (gnt-node)' },
);
export type NodeSpec = Static<typeof NodeSpec>;

/**
 * Building blocks shared by the five kinds. Every schema here is written so that the
 * same JSON Schema serves three readers: ajv (file mode), the Kubernetes API server
 * (structural CRD openAPIV3Schema) and editors. That rules out `$ref`, `patternProperties`,
 * unions of types (except the int-or-string form) and regex look-arounds (the API
 * server uses RE2). Keys starting with `x-gantry-` are for ajv error messages only and
 * are stripped from the CRDs.
 */
import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';

export const API_GROUP = 'gantry.dev';
export const API_VERSION_NAME = 'v1alpha1';
export const API_VERSION = `${API_GROUP}/${API_VERSION_NAME}`;

/** Message template keyword: "<value> <message>" when the value fails its pattern. */
export const MESSAGE_KEY = 'x-gantry-message';

// ---- patterns (RE2-compatible: no look-around, no back-references) ----

/** RFC 1123 DNS name: labels of [a-z0-9-], not starting or ending with '-'. */
export const HOSTNAME_RE = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$';
/** Linux interface name: at most 15 characters, no leading '.' or '-' (so never "." / ".."). */
export const IFNAME_RE = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$';
/** LVM volume group / logical volume name. */
export const LVM_NAME_RE = '^[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,126}$';
/**
 * An absolute path in normal form, made only of characters that never mean anything to a
 * shell: one or more "/segment", no "." or ".." segment, no "//", no trailing "/" (so "/"
 * itself is refused too). Checked before any join, so a join never climbs out of a dir.
 */
const PATH_SEGMENT = '([A-Za-z0-9_+@:-]|\\.[A-Za-z0-9_+@:-]|\\.\\.[A-Za-z0-9_.+@:-])[A-Za-z0-9_.+@:-]*';
export const ABS_PATH_RE = `^(/${PATH_SEGMENT})+$`;
export const ABS_PATH_MESSAGE = 'is not a normal absolute path (it starts with "/", has no "." or ".." segment, no "//", no trailing "/", and only A-Z a-z 0-9 _ . + @ : / -)';
/** A size: an integer (MiB) or a number with a unit (K, M, G, T, P; optional i and B, any case). */
export const SIZE_RE = '^[0-9]+(\\.[0-9]+)?[ ]?([KkMmGgTtPp]([Ii]?[Bb])?)?$';
export const IPV4_RE = '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$';
export const IPV4_CIDR_RE = '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/([0-9]|[12][0-9]|3[0-2])$';
export const IPV6_RE = '^[0-9A-Fa-f:.]{2,45}$';
export const IPV6_CIDR_RE = '^[0-9A-Fa-f:.]{2,45}/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$';
export const MAC_RE = '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$';
export const MAC_PREFIX_RE = '^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$';
/** Ganeti tags: no whitespace, at most 128 characters. */
export const TAG_RE = '^[A-Za-z0-9_.:+*/@=-]{1,128}$';
/** sysctl key, dotted or slashed (net.ipv4.ip_forward, net/ipv4/conf/br0/forwarding). */
export const SYSCTL_KEY_RE = '^[a-z0-9_]+([./][A-Za-z0-9_-]+)*$';
/** An allow-list entry for sysctl keys: a dotted key, or a prefix ending in "*" (net.ipv4.conf.*, vm.dirty_*). */
export const SYSCTL_ALLOW_RE = '^[a-z0-9_]+(\\.[A-Za-z0-9_-]+)*(\\.?\\*)?$';
/** OS name as Ganeti writes it: provider+variant (image+debian, debootstrap+default). */
export const OS_NAME_RE = '^[a-z0-9][a-z0-9_.-]*(\\+[a-z0-9][a-z0-9_.-]*)?$';
export const PARAM_KEY_RE = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';
/** A value that reaches a command as one argv element: printable ASCII, no newline. */
export const PRINTABLE_RE = '^[ -~]*$';
export const SSH_PUBKEY_RE = '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com) [A-Za-z0-9+/]+={0,3}( [ -~]*)?$';

// ---- scalar helpers ----

export function StrEnum<const T extends readonly string[]>(values: T, description?: string): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
}

function Pattern(pattern: string, message: string, description: string, extra: Record<string, unknown> = {}) {
  return Type.String({ pattern, description, [MESSAGE_KEY]: message, ...extra });
}

export const Hostname = (description = 'RFC 1123 DNS name') =>
  Pattern(HOSTNAME_RE, 'is not a valid hostname (RFC 1123: lowercase letters, digits, "-", dot-separated labels of at most 63 characters)', description, { maxLength: 253 });
export const IfName = (description = 'network interface name') =>
  Pattern(IFNAME_RE, 'is not a valid interface name (at most 15 of A-Z a-z 0-9 _ . -, not starting with "." or "-")', description, { maxLength: 15 });
export const LvmName = (description = 'LVM volume group name') =>
  Pattern(LVM_NAME_RE, 'is not a valid LVM name', description, { maxLength: 127 });
export const AbsPath = (description = 'absolute path') =>
  Pattern(ABS_PATH_RE, ABS_PATH_MESSAGE, description, { maxLength: 4096 });
export const Ipv4 = (description = 'IPv4 address') => Pattern(IPV4_RE, 'is not an IPv4 address', description);
export const Ipv4Cidr = (description = 'IPv4 network in CIDR notation') => Pattern(IPV4_CIDR_RE, 'is not an IPv4 CIDR (like 192.0.2.0/24)', description);
export const Ipv6 = (description = 'IPv6 address') => Pattern(IPV6_RE, 'is not an IPv6 address', description);
export const Ipv6Cidr = (description = 'IPv6 network in CIDR notation') => Pattern(IPV6_CIDR_RE, 'is not an IPv6 CIDR (like 2001:db8::/64)', description);
/** An interface address: IPv4 or IPv6 address with its prefix length. */
export const IpCidr = (description = 'IPv4 or IPv6 address/prefix') => Pattern(`(${IPV4_CIDR_RE})|(${IPV6_CIDR_RE})`, 'is not an IPv4 or IPv6 address/prefix (like 192.0.2.1/24 or 2001:db8::1/64)', description);
export const MacPrefix = (description = 'MAC prefix, three octets') => Pattern(MAC_PREFIX_RE, 'is not a MAC prefix (like aa:00:00)', description);
export const Tag = () => Pattern(TAG_RE, 'is not a valid tag (no whitespace, at most 128 characters)', 'tag');
export const Tags = (description = 'tags, as with gnt-* add-tags') => Type.Array(Tag(), { description, maxItems: 1024 });
export const Printable = (description: string) => Pattern(PRINTABLE_RE, 'must be printable ASCII on one line', description, { maxLength: 4096 });

/** Size: an integer number of MiB, or a string with a unit ("512M", "10G", "20g", "1T", "10GiB"). */
export const Size = (description = 'size: integer MiB or a string with a unit (512M, 10G, 1T, 10GiB)') =>
  Type.Unsafe<number | string>({
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: SIZE_RE,
    minimum: 0,
    description,
    [MESSAGE_KEY]: 'is not a size (an integer MiB or a number with a unit: 512M, 10G, 1T, 10GiB)',
  });
export type SizeValue = number | string;

export const Vlan = (description = 'VLAN id') => Type.Integer({ minimum: 1, maximum: 4094, description });
export const Port = (description = 'TCP/UDP port') => Type.Integer({ minimum: 1, maximum: 65535, description });

/** A string-keyed map with values of one schema (additionalProperties, never patternProperties). */
export function StringMap<T extends TSchema>(value: T, description: string): TUnsafe<Record<string, Static<T>>> {
  return Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: value, description });
}

/** A string or an integer value (sysctl values, OS parameters written as numbers). */
export const IntOrString = (description: string) =>
  Type.Unsafe<number | string>({ 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }], description });

export const Strict = { additionalProperties: false } as const;

// ---- metadata and envelope ----

export const Metadata = Type.Object(
  {
    name: Hostname('resource name'),
    namespace: Type.Optional(Type.String({ description: 'ignored in file mode' })),
    labels: Type.Optional(StringMap(Type.String(), 'labels')),
    annotations: Type.Optional(StringMap(Type.String(), 'annotations')),
    // set by the Kubernetes API server on custom resources; accepted, never required
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    creationTimestamp: Type.Optional(Type.Unknown()),
    deletionTimestamp: Type.Optional(Type.Unknown()),
    deletionGracePeriodSeconds: Type.Optional(Type.Integer()),
    generateName: Type.Optional(Type.String()),
    selfLink: Type.Optional(Type.String()),
    finalizers: Type.Optional(Type.Array(Type.String())),
    ownerReferences: Type.Optional(Type.Array(Type.Unknown())),
    managedFields: Type.Optional(Type.Array(Type.Unknown())),
  },
  { ...Strict, description: 'object metadata: name, namespace, labels, annotations (plus the fields the Kubernetes API server sets)' },
);
export type Metadata = Static<typeof Metadata>;

/** Kubernetes-style condition. */
export const Condition = Type.Object({
  type: Type.String(),
  status: StrEnum(['True', 'False', 'Unknown'] as const),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  lastTransitionTime: Type.Optional(Type.String()),
  observedGeneration: Type.Optional(Type.Integer()),
});

/** Status: written by the controller, ignored when read from files. Unknown fields are kept. */
export function StatusOf(props: Record<string, TSchema>) {
  return Type.Unsafe<Record<string, unknown>>({
    type: 'object',
    'x-kubernetes-preserve-unknown-fields': true,
    description: 'observed state, written by gantry (ignored in manifests)',
    properties: {
      observedGeneration: { type: 'integer' },
      conditions: { type: 'array', items: Condition },
      ...props,
    },
  });
}

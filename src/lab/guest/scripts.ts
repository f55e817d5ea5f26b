/**
 * The text of the lab guest's /init and of the lab OS definition ("busybox"). Kept as
 * TS strings so the build is one self-contained module; all of it is POSIX sh that runs
 * either as PID 1 inside the guest (busybox ash) or on a node (dash) through the Transport.
 */
import { GUEST_HEADER_BYTES, GUEST_HEADER_END, GUEST_HEADER_MAGIC } from './header.js';

/** Kernel command line for the lab guest: serial console, quiet, reboot on panic. */
export const GUEST_KERNEL_ARGS = 'console=ttyS0 quiet loglevel=3 panic=5';

/** PID 1 of the guest. Reads the header from the first disk, configures eth0, ticks. */
export const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /etc /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/null >/dev/console 2>&1
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done </lib/modules/load.order

# The disk appears asynchronously after virtio probing.
i=0
while [ ! -b /dev/vda ] && [ ! -b /dev/sda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done

hostname=gantry-guest ip= gateway= ip6= gateway6= ping= poweroff_after=0 message=
for d in /dev/vda /dev/sda; do
  [ -b "$d" ] || continue
  dd if="$d" bs=${GUEST_HEADER_BYTES} count=1 2>/dev/null | tr -d '\\000' >/tmp/cfg
  [ "$(head -n 1 /tmp/cfg)" = "${GUEST_HEADER_MAGIC}" ] && break
  : >/tmp/cfg
done
while IFS= read -r line; do
  case "$line" in
    ${GUEST_HEADER_END}) break ;;
    hostname=*) hostname=\${line#hostname=} ;;
    ip=*) ip=\${line#ip=} ;;
    gateway=*) gateway=\${line#gateway=} ;;
    ip6=*) ip6=\${line#ip6=} ;;
    gateway6=*) gateway6=\${line#gateway6=} ;;
    ping=*) ping=\${line#ping=} ;;
    poweroff_after=*) poweroff_after=\${line#poweroff_after=} ;;
    message=*) message=\${line#message=} ;;
  esac
done </tmp/cfg
case "$poweroff_after" in ''|*[!0-9]*) poweroff_after=0 ;; esac
hostname "$hostname"

ip link set lo up
if [ -n "$ip" ] && ip link show eth0 >/dev/null 2>&1; then
  ip link set eth0 up
  ip addr add "$ip" dev eth0
  [ -n "$gateway" ] && ip route add default via "$gateway"
fi
if [ -n "$ip6" ] && ip link show eth0 >/dev/null 2>&1; then
  # No duplicate address detection: the address is the node's to hand out (busybox ip has no nodad).
  echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad
  ip link set eth0 up
  ip -6 addr add "$ip6" dev eth0
  [ -n "$gateway6" ] && ip -6 route add default via "$gateway6"
fi

# ACPI power button (QMP system_powerdown): power off cleanly, like acpid would.
for ev in /sys/class/input/event*; do
  [ "$(cat "$ev/device/name" 2>/dev/null)" = "Power Button" ] || continue
  ( head -c 1 "/dev/input/\${ev##*/}" >/dev/null
    echo "gantry-guest $hostname powerdown-request"; sync; poweroff -f ) &
done

echo "gantry-guest $hostname booted"
[ -n "$ip" ] && echo "gantry-guest $hostname ip $ip"
[ -n "$ip6" ] && echo "gantry-guest $hostname ip6 $ip6"
[ -n "$message" ] && echo "gantry-guest $hostname message $message"
for t in $ping; do
  if ping -c 3 -W 2 "$t" >/dev/null 2>&1; then r=ok; else r=failed; fi
  echo "gantry-guest $hostname ping $t $r"
done
n=0
while :; do
  sleep 1
  n=$((n+1))
  echo "gantry-guest $hostname tick $n"
  if [ "$poweroff_after" -gt 0 ] && [ "$n" -ge "$poweroff_after" ]; then
    echo "gantry-guest $hostname poweroff"
    sync
    poweroff -f
  fi
done
`;

const CREATE = `#!/bin/sh
# Lab OS "busybox": write the guest configuration header to the first disk.
set -eu
: "\${DISK_0_PATH:?DISK_0_PATH is not set}"
: "\${INSTANCE_NAME:?INSTANCE_NAME is not set}"
oneline() { printf '%s' "$1" | tr '\\n\\r' '  '; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  printf '%s\\n' '${GUEST_HEADER_MAGIC}'
  printf 'hostname=%s\\n' "$(oneline "\${INSTANCE_NAME%%.*}")"
  if [ "\${NIC_COUNT:-0}" -gt 0 ] && [ -n "\${NIC_0_IP:-}" ]; then
    prefix=24
    case "\${NIC_0_NETWORK_SUBNET:-}" in */*) prefix=\${NIC_0_NETWORK_SUBNET#*/} ;; esac
    printf 'ip=%s/%s\\n' "$NIC_0_IP" "$prefix"
    if [ -n "\${NIC_0_NETWORK_GATEWAY:-}" ]; then printf 'gateway=%s\\n' "$NIC_0_NETWORK_GATEWAY"; fi
  fi
  if [ "\${NIC_COUNT:-0}" -gt 0 ] && [ -n "\${NIC_0_IP6:-}" ]; then
    prefix6=64
    case "\${NIC_0_NETWORK_SUBNET6:-}" in */*) prefix6=\${NIC_0_NETWORK_SUBNET6#*/} ;; esac
    printf 'ip6=%s/%s\\n' "$NIC_0_IP6" "$prefix6"
    if [ -n "\${NIC_0_NETWORK_GATEWAY6:-}" ]; then printf 'gateway6=%s\\n' "$NIC_0_NETWORK_GATEWAY6"; fi
  fi
  if [ -n "\${OSP_PING:-}" ]; then printf 'ping=%s\\n' "$(oneline "$OSP_PING")"; fi
  if [ -n "\${OSP_POWEROFF_AFTER:-}" ]; then printf 'poweroff_after=%s\\n' "$(oneline "$OSP_POWEROFF_AFTER")"; fi
  if [ -n "\${OSP_MESSAGE:-}" ]; then printf 'message=%s\\n' "$(oneline "$OSP_MESSAGE")"; fi
  printf '%s\\n' '${GUEST_HEADER_END}'
} >"$tmp"
# conv=sync pads the block with zeros, so an old longer header never survives.
dd if="$tmp" of="$DISK_0_PATH" bs=${GUEST_HEADER_BYTES} count=1 conv=notrunc,sync 2>/dev/null
echo "busybox: wrote guest header for $INSTANCE_NAME to $DISK_0_PATH"
`;

const IMPORT = `#!/bin/sh
# Lab OS "busybox": the disk image arrives on stdin.
set -eu
: "\${IMPORT_DEVICE:=\${DISK_0_PATH:?no IMPORT_DEVICE or DISK_0_PATH}}"
dd of="$IMPORT_DEVICE" bs=1M conv=notrunc 2>/dev/null
`;

const EXPORT = `#!/bin/sh
# Lab OS "busybox": the disk image leaves on stdout.
set -eu
: "\${EXPORT_DEVICE:=\${DISK_0_PATH:?no EXPORT_DEVICE or DISK_0_PATH}}"
dd if="$EXPORT_DEVICE" bs=1M 2>/dev/null
`;

const RENAME = `#!/bin/sh
# Lab OS "busybox": rewrite the hostname line of the header.
set -eu
: "\${DISK_0_PATH:?DISK_0_PATH is not set}"
: "\${INSTANCE_NAME:?INSTANCE_NAME is not set}"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
dd if="$DISK_0_PATH" bs=${GUEST_HEADER_BYTES} count=1 2>/dev/null | tr -d '\\000' >"$tmp.in"
new=$(printf '%s' "\${INSTANCE_NAME%%.*}" | tr '\\n\\r' '  ')
while IFS= read -r line; do
  case "$line" in
    hostname=*) printf 'hostname=%s\\n' "$new" ;;
    *) printf '%s\\n' "$line" ;;
  esac
done <"$tmp.in" >"$tmp"
rm -f "$tmp.in"
dd if="$tmp" of="$DISK_0_PATH" bs=${GUEST_HEADER_BYTES} count=1 conv=notrunc,sync 2>/dev/null
`;

const VERIFY = `#!/bin/sh
# Lab OS "busybox": check the OS parameters.
case "\${OSP_POWEROFF_AFTER:-0}" in
  ''|*[!0-9]*) echo "poweroff_after must be a non-negative integer" >&2; exit 1 ;;
esac
exit 0
`;

/** Files of the lab OS definition directory: name -> [content, mode]. */
export const LAB_OS_FILES: Readonly<Record<string, readonly [string, number]>> = {
  create: [CREATE, 0o755],
  import: [IMPORT, 0o755],
  export: [EXPORT, 0o755],
  rename: [RENAME, 0o755],
  verify: [VERIFY, 0o755],
  ganeti_api_version: ['20\n', 0o644],
  'variants.list': ['default\n', 0o644],
  'parameters.list': ['poweroff_after Power the guest off after this many ticks (0 = never)\nmessage A line the guest prints after booting\nping Addresses the guest pings once after booting (space-separated)\n', 0o644],
};

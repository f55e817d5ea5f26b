#!/bin/bash
# Boot ONE throwaway QEMU (TCG) VM with Debian's 6.1 kernel and its in-tree drbd.ko
# (8.4.11), the host's root shared read-only over virtio-9p, and run a capture script
# inside it (chrooted into the host root, so the host's drbd-utils 9.22 run). Used to
# capture the DRBD 8.4 golden files in ../ (see ../README.md). Not part of the lab.
#
#   boot-vm.sh WORKDIR SCRIPT
# WORKDIR (absolute, created) receives the initramfs, four sparse disks, serial.log
# and, under out/, whatever SCRIPT writes to /out. SCRIPT runs as root in the VM with
# /dev/vda,vdb (data, meta of side A) and /dev/vdc,vdd (side B), loopback up.
set -euo pipefail
W=$1; SCRIPT=$2
K=${K:-$(ls /lib/modules | sort -V | tail -1)}
mkdir -p "$W/out" "$W/initrd/bin" "$W/initrd/host" "$W/initrd/dev" "$W/initrd/proc" "$W/initrd/sys"
cp "$SCRIPT" "$W/out/capture.sh"
cp /bin/busybox "$W/initrd/bin/busybox"
MODS="virtio_pci virtio_blk 9pnet_virtio 9p crc32c_generic drbd"
for m in $MODS; do
  for p in $(modprobe -S "$K" -D "$m" | awk '/^insmod/ {print $2}'); do
    mkdir -p "$W/initrd$(dirname "$p")"; cp "$p" "$W/initrd$p"
  done
done
cp /lib/modules/"$K"/modules.* "$W/initrd/lib/modules/$K/"
cat > "$W/initrd/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_pci virtio_blk 9pnet_virtio 9p crc32c_generic drbd; do modprobe $m; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /host
mount -t proc proc /host/proc; mount -t sysfs sys /host/sys; mount -t devtmpfs dev /host/dev
mount -t tmpfs tmp /host/run; mount -t tmpfs tmp /host/tmp; mount -t tmpfs tmp /host/var/lib
mount -t 9p -o trans=virtio,version=9p2000.L out /host/mnt
ip link set lo up
echo "capture: start $(cat /proc/uptime)"
chroot /host /bin/bash -c 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin; mkdir -p /var/lib/drbd /run/lock; cd /mnt && bash ./capture.sh' > /host/mnt/capture.log 2>&1
echo "capture: rc=$? end $(cat /proc/uptime)"
sync; poweroff -f
INIT
chmod +x "$W/initrd/init"
(cd "$W/initrd" && find . | cpio -o -H newc --quiet | gzip -1 > "$W/initrd.gz")
for d in a.data b.data; do truncate -s 256M "$W/$d"; done
for d in a.meta b.meta; do truncate -s 128M "$W/$d"; done
exec timeout 900 qemu-system-x86_64 -accel tcg -m 768 -smp 1 -nographic -no-reboot \
  -kernel /boot/vmlinuz-"$K" -initrd "$W/initrd.gz" -append "console=ttyS0 quiet panic=-1" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on \
  -virtfs local,path="$W/out",mount_tag=out,security_model=none \
  -drive file="$W/a.data",if=virtio,format=raw -drive file="$W/a.meta",if=virtio,format=raw \
  -drive file="$W/b.data",if=virtio,format=raw -drive file="$W/b.meta",if=virtio,format=raw \
  > "$W/serial.log" 2>&1

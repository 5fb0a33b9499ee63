#!/bin/sh
# PID 1 inside user-mode Linux, for tests/ktls/run.sh.  The root is the
# host's / (hostfs, read-only); /run is a tmpfs for everything written.
# Loads the kernel TLS modules, runs the command run.sh left in the shared
# folder, and hands its exit status back through that folder, because
# linux.uml itself always exits 0.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
BB=/bin/busybox
$BB mount -t proc proc /proc
$BB mount -t sysfs sys /sys
$BB mount -t devtmpfs dev /dev 2>/dev/null
$BB mount -t tmpfs tmp /run
$BB mkdir -p /dev/shm && $BB mount -t tmpfs shm /dev/shm
# bash's process substitution wants /dev/fd.
$BB ln -sf /proc/self/fd /dev/fd
$BB ifconfig lo 127.0.0.1 up
out=
for a in $(cat /proc/cmdline); do
	case "$a" in mtlsd_out=*) out=${a#mtlsd_out=} ;; esac
done
$BB mkdir -p /run/out /run/tmp
$BB mount -t hostfs -o "$out" none /run/out || { echo "cannot mount $out"; $BB poweroff -f; }
mods=$(ls -d /usr/lib/uml/modules/*/kernel 2>/dev/null | head -n 1)
for m in crypto/gf128mul crypto/ghash-generic crypto/ctr crypto/gcm net/tls/tls; do
	$BB insmod "$mods/$m.ko" 2>/dev/null || echo "# insmod $m failed"
done
echo "# UML up: kernel $(uname -r), ULPs: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
export TMPDIR=/run/tmp HOME=/run/tmp
/bin/sh /run/out/cmd.sh
echo $? > /run/out/rc
$BB sync
$BB poweroff -f

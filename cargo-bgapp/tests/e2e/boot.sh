#!/bin/sh
# Boots systemd as PID 1 of the namespace this script runs in, over an
# overlay of the machine's root (or of the root filesystem LOWER, a device
# image): run it as
#   unshare --fork --pid --mount --propagation private sh boot.sh DIR NAME [LOWER]
# DIR holds `upper/` (the system's disk: kept between boots) and `work/`.
# NAME names the cgroup the system lives in, below this process's own in
# every hierarchy, so that two systems never share a cgroup and ending
# one removes all it made (the groups are listed in DIR/cgroups).
set -eu
dir="$1"; name="$2"; lower="${3:-/}"
root="$dir/root"
mkdir -p "$dir/upper" "$dir/work" "$root"

# Our own cgroup in every hierarchy: systemd takes the cgroup it starts in
# as its root and builds its tree below it.
: > "$dir/cgroups"
while IFS=: read -r _ controllers path; do
  case "$controllers" in
    "")
      # cgroup v2: beside v1 (hybrid) or alone (unified).
      if mountpoint -q /sys/fs/cgroup/unified; then
        mount_dir=/sys/fs/cgroup/unified
      else
        mount_dir=/sys/fs/cgroup
      fi
      needed=yes ;;
    name=systemd) mount_dir=/sys/fs/cgroup/systemd; needed=yes ;;
    *) mount_dir="/sys/fs/cgroup/$controllers"; needed=no ;;
  esac
  # Only hierarchies mounted where systemd looks for them matter.
  if ! mountpoint -q "$mount_dir"; then
    [ "$needed" = no ] || { echo "boot.sh: no cgroup hierarchy at $mount_dir" >&2; exit 1; }
    continue
  fi
  group="${mount_dir}${path%/}/$name"
  if ! {
    mkdir -p "$group" &&
    # A new cpuset has no CPUs until it is given its parent's.
    if [ -f "$group/cpuset.cpus" ]; then
      cat "$group/../cpuset.cpus" > "$group/cpuset.cpus" &&
      cat "$group/../cpuset.mems" > "$group/cpuset.mems"
    fi &&
    echo $$ > "$group/cgroup.procs" &&
    # What the test removes when the system ends.
    echo "$group" >> "$dir/cgroups"
  }; then
    [ "$needed" = no ] || { echo "boot.sh: cannot use cgroup $group" >&2; exit 1; }
  fi
done < /proc/self/cgroup

mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mkdir -p "$root/.oldroot"
cd "$root"
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
# Shared, as on a device: systemd makes / shared itself only when booted
# by the kernel, not in a container, and without it what a service's
# helper mounts for it (LoadCredential='s credentials, moved into
# /run/credentials/<unit>) never reaches the service. The namespace was
# made private, so nothing propagates to this machine.
mount --make-rshared /
exec env container=bgapp-e2e /lib/systemd/systemd --system

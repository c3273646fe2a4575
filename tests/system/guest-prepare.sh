# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
#
# guest-prepare.sh ROOT — run by guest-init (busybox sh, in the initramfs)
# on the guest's new root before systemd boots from it: ROOT is the host's
# root with a writable layer in RAM. Only that layer changes:
#
#  - every unit the host's administrator enabled (/etc/systemd/system/
#    *.wants/) is masked: the host's services have nothing to do here;
#  - so are the gettys (the tier logs nobody in) and the units that run
#    when /etc or /var looks older than /usr (ldconfig, the hwdb rebuild,
#    ...), which would only burn time under TCG;
#  - the tier's own unit (iovad-system-test.service, next to this script)
#    is added to multi-user.target: it runs the checks and powers off.
set -eu
root=$1
here=$(dirname "$0")
units=$root/etc/systemd/system
masked=0
mask() { ln -sfn /dev/null "$units/$1"; masked=$((masked + 1)); }

for w in "$units"/*.wants/*; do
	[ -e "$w" ] || [ -L "$w" ] || continue
	mask "${w##*/}"
done
mask getty.target
mask serial-getty@.service
mask getty@.service
for u in "$root"/lib/systemd/system/*.service; do
	grep -q '^ConditionNeedsUpdate=' "$u" && mask "${u##*/}"
done
cp "$here/iovad-system-test.service" "$units/iovad-system-test.service"
mkdir -p "$units/multi-user.target.wants"
ln -sfn ../iovad-system-test.service "$units/multi-user.target.wants/iovad-system-test.service"
echo "guest-prepare: masked $masked units, added iovad-system-test.service"

# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
# shellcheck disable=SC2154,SC2153
#
# The container flow (README.md, "Containers through CDI"): sourced by
# guest-system.sh once its own checks are done, with its helpers (check,
# say, fail, iovad_call, wait_until, contains) and test.env. podman 4.3
# starts containers from a local root file system (no registry, no
# network) with `--device iovad.org/pci=ADDRESS`: iovad's CDI spec gives
# them the system bus socket and the environment, its hook makes the iovad
# container oci-<id> for the container's uid, binds and attaches; the
# workload (cdi-workload) gets its lease and device fd from iovad alone and
# checks edu DMA through them.

EDU1=${EDU%% *} EDU2=${EDU##* }
SPEC=/run/cdi/iovad.org-pci.json
CDI_HOOK=/usr/libexec/iovad/iovad-cdi-hook
# podman's storage in the guest's RAM (vfs: the root is already an overlay),
# the root file system of every container: the guest's /usr, read-only.
ROOTFS=/var/tmp/cdi-rootfs
P() { podman --root /var/tmp/podman/root --runroot /run/podman-test --storage-driver vfs "$@"; }
# Measured on Debian 12: podman as root needs explicit ulimits; runc (crun
# refuses hosts with hybrid cgroups; this guest has unified ones, runc works on both).
RUN_OPTS="--rm --runtime runc --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
	-v /usr:/usr:ro -v $WORKLOAD:/cdi-workload:ro"
# prun UID ADDRESS COMMAND...: a container of that uid with that iovad device.
# --rootfs DIR ends podman's options: what follows DIR is the command.
# PRUN_NAME names the container; PRUN_EXTRA has more options (more devices).
prun() {
	u=$1 a=$2
	shift 2
	# shellcheck disable=SC2086
	P run $RUN_OPTS ${PRUN_NAME:+--name "$PRUN_NAME"} $PRUN_EXTRA --user "$u" --device "iovad.org/pci=$a" --rootfs "$ROOTFS" "$@"
}
oci_containers() { iovad_call /org/iovad1 Manager ListContainers | grep -o '"oci-[0-9a-f]*"' | tr '\n' ' '; }
no_oci_containers() { [ -z "$(oci_containers)" ]; }
drv() { basename "$(readlink "/sys/bus/pci/devices/$1/driver")"; }

check "installed the CDI hook $CDI_HOOK" test -x "$CDI_HOOK"
say "the container flow at $(uptime_s)s: $(podman --version), $(runc --version | head -n 1)"
# The edu groups go back to nobody's container; iovad.conf lets the hook bind the e1000e.
iovad_call "$sys" Container Destroy > /dev/null
mkdir -p /etc/iovad
printf '{ "cdi": { "bind_devices": [ "%s" ] } }\n' "$NIC" > /etc/iovad/iovad.conf
systemctl restart iovad.service
check "iovad restarted with cdi.bind_devices [$NIC] ($(systemctl is-active iovad.service))" is_active
journalctl -b -u iovad.service -o cat --no-pager -g 'CDI spec' | tail -n 1 | sed 's/^/iovad: /'
check "iovad wrote its CDI spec $SPEC" test -s "$SPEC"
out=$(/usr/bin/python3 "$run/cdi-validate.py" --schema-dir "$CDI_SCHEMA" "$SPEC" 2>&1)
check "the spec validates against the CDI schema and the CDI package's rules: $out" contains "$out" "valid: $SPEC"
names=$(/usr/bin/python3 -c 'import json, sys; print(" ".join(d["name"] for d in json.load(open(sys.argv[1]))["devices"]))' "$SPEC")
check "the spec lists both edu devices (vfio-pci) and $NIC (cdi.bind_devices): $names" \
	test "$names" = "$EDU1 $EDU2 $NIC"
check "... and no VFIO node" sh -c "! grep -q -e /dev/vfio -e deviceNodes $SPEC"

# The root file system: directories and the links of a merged /usr.
mkdir -p "$ROOTFS" && (cd "$ROOTFS" && mkdir -p usr etc proc sys dev tmp run var &&
	ln -sfn usr/bin bin && ln -sfn usr/sbin sbin && ln -sfn usr/lib lib && ln -sfn usr/lib64 lib64)
printf 'root:x:0:0::/:/bin/sh\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\n' > "$ROOTFS/etc/group"
# What crun (the other runtime) does here, for the record: the flow uses runc.
out=$(P run --rm --runtime crun --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	-v /usr:/usr:ro --rootfs "$ROOTFS" true 2>&1)
rc=$?
say "crun on this guest's cgroups ($(stat -fc %T /sys/fs/cgroup)): exit $rc${out:+: $out}"

# A workload of uid 1000 on the first edu: DMA with the bytes checked, no /dev/vfio.
t0=$(now_ms)
prun 1000 "$EDU1" sh -c 'ls /dev/vfio; echo "ls /dev/vfio: exit $?"; exec /cdi-workload' > "$run/cdi-run.log" 2>&1
rc=$?
dt=$(($(now_ms) - t0))
sed 's/^/cdi| /' "$run/cdi-run.log"
check "podman run --device iovad.org/pci=$EDU1 --user 1000: the workload passes, exit $rc ($dt ms)" \
	grep -q '^cdi-workload: PASS' "$run/cdi-run.log"
check "... its edu DMA through the AllocateMapped lease has the bytes checked" \
	grep -q "^ok: $EDU1: DMA check: .* match" "$run/cdi-run.log"
check "... in the iovad container made for uid 1000" grep -q "^ok: iovad container 'oci-[0-9a-f]*' is this uid's (Users 1000)" "$run/cdi-run.log"
check "... and ls /dev/vfio fails inside ($(grep -m 1 'ls /dev/vfio' "$run/cdi-run.log"))" \
	sh -c "grep -q 'ls /dev/vfio: exit [1-9]' '$run/cdi-run.log'"
out=$(iovad_call /org/iovad1 Manager ListContainers)
check "after it exits, no iovad container is left ($out) and so no lease" test "$out" = "a(so) 0"
check "... and the hook left no record ($(ls /run/iovad-cdi))" test -z "$(ls /run/iovad-cdi)"
check "iovad logged the hook's container" journal_has -u iovad.service -g "Created container 'oci-"

# While a workload of uid 1000 loops on DMA, a second container asks for its device: refused.
prun 1000 "$EDU1" /cdi-workload --loop 20 > "$run/cdi-first.log" 2>&1 &
first=$!
wait_until 600 grep -q '^cdi-workload: looping' "$run/cdi-first.log"
check "a first container (uid 1000) loops on DMA through $EDU1 (iovad containers: $(oci_containers))" \
	grep -q '^cdi-workload: looping' "$run/cdi-first.log"
held=$(oci_containers)
prun 1000 "$EDU1" /cdi-workload > "$run/cdi-second.log" 2>&1
rc=$?
sed 's/^/cdi-second| /' "$run/cdi-second.log"
check "a second container asking for $EDU1 is refused (exit $rc)" test "$rc" -ne 0
check "... with the clear error" grep -q "device $EDU1 is in use: its IOMMU group [0-9]* is attached to iovad container 'oci-" \
	"$run/cdi-second.log"
check "... and the first's iovad container is still there ($(oci_containers))" test "$(oci_containers)" = "$held"
# Another uid, on the other edu at the same time: its own iovad container, users [65534].
prun 65534 "$EDU2" /cdi-workload > "$run/cdi-other.log" 2>&1
rc=$?
sed 's/^/cdi-other| /' "$run/cdi-other.log"
check "meanwhile a workload of uid 65534 on $EDU2 passes in an iovad container of its own (exit $rc)" \
	grep -q "^ok: iovad container 'oci-[0-9a-f]*' is this uid's (Users 65534)" "$run/cdi-other.log"
check "... with its edu DMA bytes checked" grep -q "^ok: $EDU2: DMA check: .* match" "$run/cdi-other.log"
wait "$first"
rc=$?
sed 's/^/cdi-first| /' "$run/cdi-first.log"
check "the first container was unaffected: every DMA round checked, exit $rc ($(grep -o '[0-9]* more DMA rounds.*' "$run/cdi-first.log"))" \
	test "$rc" -eq 0
wait_until 100 no_oci_containers
check "afterwards no oci-* container is left ($(oci_containers))" no_oci_containers

# A container killed in the middle of its DMA loop.
PRUN_NAME=cdi-kill prun 1000 "$EDU1" /cdi-workload --loop 600 > "$run/cdi-kill.log" 2>&1 &
killed=$!
wait_until 600 grep -q '^cdi-workload: looping' "$run/cdi-kill.log"
lease=$(sed -n 's/^cdi-workload: lease \([^ ]*\) .*/\1/p' "$run/cdi-kill.log")
check "a container loops on DMA through $lease" grep -q '^cdi-workload: looping' "$run/cdi-kill.log"
P kill cdi-kill > /dev/null
wait "$killed"
rc=$?
check "podman kill ends it mid-DMA (podman run: exit $rc)" test "$rc" -ne 0
wait_until 100 no_oci_containers
check "afterwards its iovad container is gone ($(oci_containers)), and with it the lease" no_oci_containers
out=$(busctl get-property org.iovad1 "$lease" org.iovad1.Lease Iova 2>&1)
check "... $lease does not exist ($out)" contains "$out" "There is no lease"
# ... by a container with both edu devices: one iovad container with both groups.
PRUN_EXTRA="--device iovad.org/pci=$EDU2" prun 1000 "$EDU1" /cdi-workload > "$run/cdi-again.log" 2>&1
rc=$?
sed 's/^/cdi-again| /' "$run/cdi-again.log"
check "the device can be used again: a new container's workload passes (exit $rc)" \
	grep -q '^cdi-workload: PASS' "$run/cdi-again.log"
check "... in a container given both edu devices, whose one iovad container has both groups ($(grep -o 'has [0-9]* groups*:.*' "$run/cdi-again.log"))" \
	grep -q -e "^cdi-workload: iovad container 'oci-[0-9a-f]*' has 2 groups: $EDU_GROUPS\$" \
	-e "^cdi-workload: iovad container 'oci-[0-9a-f]*' has 2 groups: ${EDU_GROUPS##* } ${EDU_GROUPS%% *}\$" "$run/cdi-again.log"
wait_until 100 no_oci_containers
check "... and afterwards no oci-* container is left ($(oci_containers))" no_oci_containers

# The e1000e on its own driver: the hook binds it to vfio-pci and hands it back afterwards.
check "$NIC is on $(drv "$NIC") before" test "$(drv "$NIC")" = "$NIC_DRIVER"
prun 1000 "$NIC" sh -c "readlink /sys/bus/pci/devices/$NIC/driver; iovactl open $NIC" > "$run/cdi-nic.log" 2>&1
rc=$?
sed 's/^/cdi-nic| /' "$run/cdi-nic.log"
check "in a container of uid 1000, $NIC is on vfio-pci and iovactl open gets its device fd from iovad (exit $rc)" \
	sh -c "test $rc -eq 0 && grep -q 'drivers/vfio-pci' '$run/cdi-nic.log'"
check "afterwards $NIC is back on $(drv "$NIC")" test "$(drv "$NIC")" = "$NIC_DRIVER"
check "... and no oci-* container is left ($(oci_containers))" no_oci_containers
journalctl -b -u iovad.service -o cat --no-pager -g "oci-|Bound|Gave" | tail -n 30 | sed 's/^/iovad: /'
rm -f /etc/iovad/iovad.conf

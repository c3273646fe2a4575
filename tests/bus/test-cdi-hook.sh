#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# iovad-cdi-hook against the real iovad (simulated x86-vtd), driven as a
# container runtime drives it: the OCI state on stdin, the bundle's
# config.json on disk. create makes oci-<id> for the container's uid
# (through linux.uidMappings), binds a device that is not on vfio-pci and
# attaches its group; a second OCI container asking for the same device
# is refused with a clear error and changes nothing; a failed create undoes
# itself; release undoes exactly what create did, idempotently.
source "$(dirname "$0")/bus-env.sh"

HOOK=$IOVAD_BUILD/client/cdi-hook/iovad-cdi-hook
[ -x "$HOOK" ] || fail "$HOOK is missing"
RECORDS=/run/iovad-cdi

bus_env_start x86-vtd
BUNDLES=$ENV_DIR/bundles
ids=()

bundle() { # bundle ID CONFIG-JSON: a bundle directory with that config.json
	mkdir -p "$BUNDLES/$1"
	printf '%s\n' "$2" > "$BUNDLES/$1/config.json"
	ids+=("$1")
}
state() { printf '{"ociVersion": "1.0.2", "id": "%s", "status": "%s", "pid": %d, "bundle": "%s"}' "$1" "$2" $$ "$BUNDLES/$1"; }
hook() { # hook VERB ADDRESS ID: the hook as the runtime runs it; its stderr on stdout
	state "$3" creating | "$HOOK" "$1" "$2" 2>&1
}
cleanup_records() { for i in "${ids[@]}"; do rm -f "$RECORDS/$i.json"; done; }
trap 'cleanup_records; _bus_env_cleanup' EXIT
prop() { busctl get-property org.iovad1 "$1" "$2" "$3" 2>&1; }
cpath() { echo "/org/iovad1/container/$(echo "$1" | sed 's/-/_2d/g')"; }
driver() { prop "/org/iovad1/device/$(echo "$1" | sed 's/:/_3a/g; s/\./_2e/g')" org.iovad1.Device Driver; }
containers() { busctl call org.iovad1 /org/iovad1 org.iovad1.Manager ListContainers; }

A=a1b2c3d4e5f6a7b8c9d0$$
B=b1b2c3d4e5f6a7b8c9d0$$
bundle "$A" '{"ociVersion": "1.0.2", "process": {"user": {"uid": 1000, "gid": 1000}}}'
bundle "$B" '{"ociVersion": "1.0.2", "process": {"user": {"uid": 1001, "gid": 1001}}}'
CA=oci-${A:0:12} CB=oci-${B:0:12}

# create: a container for uid 1000, the group of 01:00.0 (5) attached; 01:00.1 (also group 5) joins it.
out=$(hook create 0000:01:00.0 "$A") || fail "create 0000:01:00.0: $out"
[ "$(prop "$(cpath "$CA")" org.iovad1.Container Users)" = "au 1 1000" ] || fail "$CA's users: $(prop "$(cpath "$CA")" org.iovad1.Container Users)"
[ "$(prop "$(cpath "$CA")" org.iovad1.Container Groups)" = "au 1 5" ] || fail "$CA's groups"
[ -s "$RECORDS/$A.json" ] || fail "no record in $RECORDS"
out=$(hook create 0000:01:00.1 "$A") || fail "create 0000:01:00.1 (same group, same container): $out"
out=$(hook create 0000:01:00.0 "$A") || fail "create run twice: $out"
[ "$(prop "$(cpath "$CA")" org.iovad1.Container Groups)" = "au 1 5" ] || fail "$CA's groups after the second device"
echo "ok: create made $CA for uid 1000 with group 5, reused for a second device of the group"

# uid 1000 uses it; uid 1001 may not.
out=$(as_uid 1000 busctl call org.iovad1 "$(cpath "$CA")" org.iovad1.Container Lease 'ta{sv}' 4096 0 2>&1) ||
	fail "uid 1000 cannot lease in $CA: $out"
out=$(as_uid 1001 busctl call org.iovad1 "$(cpath "$CA")" org.iovad1.Container Lease 'ta{sv}' 4096 0 2>&1) &&
	fail "uid 1001 leased in $CA: $out"

# A second OCI container asking for the same device: refused, nothing of it is left.
before=$(containers)
refusal=$(hook create 0000:01:00.0 "$B") && fail "a second container got 0000:01:00.0: $refusal"
out=$refusal
grep -q "iovad-cdi-hook create 0000:01:00.0: device 0000:01:00.0 is in use: its IOMMU group 5 is attached to iovad container '$CA'" <<<"$out" ||
	fail "the refusal does not say why: $out"
[ "$(containers)" = "$before" ] || fail "the refused create changed the containers: $(containers)"
[ ! -e "$RECORDS/$B.json" ] || fail "the refused create left a record"
out=$(hook release 0000:01:00.0 "$B") || fail "release after a refused create: $out"
[ "$(prop "$(cpath "$CA")" org.iovad1.Container Groups)" = "au 1 5" ] || fail "the second container's release touched $CA"
echo "ok: a second container is refused: $refusal"

# release: the container goes with its lease; a second release does nothing.
out=$(hook release 0000:01:00.0 "$A") || fail "release: $out"
containers | grep -q "$CA" && fail "$CA is still there after release: $(containers)"
[ ! -e "$RECORDS/$A.json" ] || fail "the record is still there after release"
out=$(hook release 0000:01:00.1 "$A") || fail "release again: $out"
[ "$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager ListContainers)" = "a(so) 0" ] || fail "containers left: $(containers)"
echo "ok: release destroyed $CA and its lease, and is idempotent"

# The bind path: 00:14.0 is on xhci_hcd; create binds it, release gives it back.
C=c1b2c3d4e5f6a7b8c9d0$$
bundle "$C" '{"ociVersion": "1.0.2", "process": {"user": {"uid": 1000}}, "linux": {"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}}'
[ "$(driver 0000:00:14.0)" = 's "xhci_hcd"' ] || fail "00:14.0 is on $(driver 0000:00:14.0)"
out=$(hook create 0000:00:14.0 "$C") || fail "create 0000:00:14.0: $out"
[ "$(driver 0000:00:14.0)" = 's "vfio-pci"' ] || fail "create did not bind 00:14.0: $(driver 0000:00:14.0)"
users=$(prop "$(cpath "oci-${C:0:12}")" org.iovad1.Container Users)
[ "$users" = "au 1 101000" ] || fail "uid 1000 through the mapping 0 -> 100000 should be 101000: $users"
out=$(hook release 0000:00:14.0 "$C") || fail "release 0000:00:14.0: $out"
[ "$(driver 0000:00:14.0)" = 's "xhci_hcd"' ] || fail "release did not give 00:14.0 back: $(driver 0000:00:14.0)"
echo "ok: create bound 00:14.0 to vfio-pci for uid 101000 (mapped), release gave it back to xhci_hcd"

# A failed create undoes itself: 00:1f.3's group 9 has devices on host drivers (not viable).
D=d1b2c3d4e5f6a7b8c9d0$$
bundle "$D" '{"ociVersion": "1.0.2", "process": {"user": {"uid": 1000}}}'
out=$(hook create 0000:00:1f.3 "$D") && fail "create of a device in a group that is not viable: $out"
grep -q "attaching group 9 of 0000:00:1f.3 to iovad container 'oci-${D:0:12}' failed: " <<<"$out" || fail "the failure does not say why: $out"
[ "$(driver 0000:00:1f.3)" = 's "snd_hda_intel"' ] || fail "the failed create left 00:1f.3 on $(driver 0000:00:1f.3)"
[ "$(containers)" = "a(so) 0" ] || fail "the failed create left a container: $(containers)"
[ ! -e "$RECORDS/$D.json" ] || fail "the failed create left a record"
echo "ok: a failed create undid its bind and its container: $out"

# Bad input is refused with its reason.
out=$("$HOOK" create 0000:01:00.0 < /dev/null 2>&1) && fail "create without an OCI state"
grep -q 'stdin is not an OCI state' <<<"$out" || fail "no state: $out"
out=$(echo '{"id": "../x", "bundle": "/tmp"}' | "$HOOK" create 0000:01:00.0 2>&1) && fail "create with id ../x"
grep -q 'no usable "id"' <<<"$out" || fail "bad id: $out"
E=e1b2c3d4e5f6a7b8c9d0$$
bundle "$E" '{"ociVersion": "1.0.2", "process": {"user": {"uid": 5}}, "linux": {"uidMappings": [{"containerID": 1000, "hostID": 100000, "size": 10}]}}'
out=$(hook create 0000:01:00.0 "$E") && fail "create with an unmapped uid"
grep -q 'uid 5 of the container is in none of its linux.uidMappings' <<<"$out" || fail "unmapped uid: $out"
rc=0
"$HOOK" create 01:00.0 < /dev/null > /dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a bad address: exit $rc, expected 2"
[ "$(containers)" = "a(so) 0" ] || fail "bad input left a container: $(containers)"
echo "ok: bad input is refused with its reason"
bus_env_stop

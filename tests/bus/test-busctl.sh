#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# iovad through busctl, as an admin would use it: the object tree,
# properties, the ObjectManager, a container's life and leases of an
# unprivileged user, with the answers busctl prints.
source "$(dirname "$0")/bus-env.sh"

expect() { # expect WANT COMMAND...: the command's stdout is exactly WANT
	local want=$1 got
	shift
	got=$("$@") || fail "$* failed"
	[ "$got" = "$want" ] || fail "$*: expected '$want', got '$got'"
}

eventually() { # eventually WANT COMMAND...: a bounded poll (30 s) until the output is WANT
	local want=$1 got i
	shift
	for ((i = 0; i < 300; i++)); do
		got=$("$@") || fail "$* failed"
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	fail "$*: expected '$want' within 30 s, got '$got'"
}

refused() { # refused MESSAGE-PART COMMAND...: the command fails and says so
	local part=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$* succeeded"
	fi
	grep -q -- "$part" <<<"$out" || fail "$*: expected an error mentioning '$part', got: $out"
}

M=(org.iovad1 /org/iovad1 org.iovad1.Manager)
C=/org/iovad1/container/web
CI=org.iovad1.Container

bus_env_start x86-vtd

# The manager and the object tree.
expect 's "simulated"' busctl get-property "${M[@]}" Backend
expect 's "x86-vtd"' busctl get-property "${M[@]}" Platform
[[ "$(busctl get-property "${M[@]}" Version)" =~ ^s\ \"[0-9]+\.[0-9]+ ]] || fail "odd Version"
tree=$(busctl tree --list org.iovad1)
grep -qx /org/iovad1 <<<"$tree" || fail "no /org/iovad1 in the tree"
grep -qx /org/iovad1/device/_30000_3a01_3a00_2e0 <<<"$tree" || fail "device 0000:01:00.0 is not in the tree"
[ "$(grep -c '^/org/iovad1/device/' <<<"$tree")" = 13 ] || fail "x86-vtd has 13 devices"
# (Outputs are read whole before grep: an early "grep -q" would break the pipe under pipefail.)
out=$(busctl introspect org.iovad1 /org/iovad1 org.iovad1.Manager)
grep -q '^\.CreateContainer *method *sa{sv} *o ' <<<"$out" \
	|| fail "CreateContainer is not introspected as (sa{sv}) -> o"
expect 'a(tts) 1 4276092928 4277141503 "msi"' busctl call "${M[@]}" GetGroupReservedRegions u 5
refused "There is no IOMMU group 77" busctl call "${M[@]}" GetGroupReservedRegions u 77

# A container for uid 65534, made and attached by root.
expect "o \"$C\"" busctl call "${M[@]}" CreateContainer 'sa{sv}' web 1 users au 1 65534
refused "exists" busctl call "${M[@]}" CreateContainer 'sa{sv}' web 0
expect "o \"$C\"" busctl call "${M[@]}" GetContainer s web
expect "a(so) 1 \"web\" \"$C\"" busctl call "${M[@]}" ListContainers
refused "No container" busctl call "${M[@]}" GetContainer s nope
busctl call org.iovad1 "$C" $CI AttachGroup u 5
expect 'au 1 5' busctl get-property org.iovad1 "$C" $CI Groups
expect 'au 1 65534' busctl get-property org.iovad1 "$C" $CI Users
expect '(tt) 0 549755813887' busctl get-property org.iovad1 "$C" $CI Aperture
expect 'a(tt) 2 0 4276092927 4277141504 549755813887' busctl get-property org.iovad1 "$C" $CI UsableRanges
expect 'a(ttss) 1 4276092928 4277141503 "msi" "group 5"' busctl get-property org.iovad1 "$C" $CI ReservedRegions
expect 'u 65535' busctl get-property org.iovad1 "$C" $CI DmaMappingsAvailable
expect "o \"$C\"" busctl get-property org.iovad1 /org/iovad1/device/_30000_3a01_3a00_2e0 org.iovad1.Device Container
out=$(busctl call org.iovad1 /org/iovad1 org.freedesktop.DBus.ObjectManager GetManagedObjects)
grep -q "\"$C\"" <<<"$out" \
	|| fail "GetManagedObjects does not list the container"

# The user leases; busctl leaves the bus right after, and the lease goes with it.
out=$(as_uid 65534 busctl call org.iovad1 "$C" $CI Lease 'ta{sv}' 8192 1 limit t 4294967295)
[[ "$out" =~ ^ot\ \"/org/iovad1/lease/[0-9]+\"\ [0-9]+$ ]] || fail "odd Lease reply: $out"
iova=${out##* }
[ "$iova" -le $((4294967295 - 8191)) ] || fail "the lease is above its limit: $iova"
eventually 'a(ottb) 0' as_uid 65534 busctl call org.iovad1 "$C" $CI ListLeases
# A persistent lease (root) outlives busctl; the user does not see it.
out=$(busctl call org.iovad1 "$C" $CI Lease 'ta{sv}' 4096 2 persistent b true iova t 1048576)
lease=$(sed -n 's/^ot "\([^"]*\)" 1048576$/\1/p' <<<"$out")
[ -n "$lease" ] || fail "odd persistent Lease reply: $out"
expect "a(ottb) 1 \"$lease\" 1048576 4096 false" busctl call org.iovad1 "$C" $CI ListLeases
expect 'a(ottb) 0' as_uid 65534 busctl call org.iovad1 "$C" $CI ListLeases
expect 't 1048576' busctl get-property org.iovad1 "$lease" org.iovad1.Lease Iova
expect 'u 0' busctl get-property org.iovad1 "$lease" org.iovad1.Lease Owner
expect 'b false' busctl get-property org.iovad1 "$lease" org.iovad1.Lease Mapped
refused "overlaps" busctl call org.iovad1 "$C" $CI Lease 'ta{sv}' 4096 1 iova t 1048576
refused "MSI\|msi" busctl call org.iovad1 "$C" $CI Lease 'ta{sv}' 4096 1 iova t 4276092928
# A lease where group 14's RMRR sits: the dry run names it, the attach is refused.
out=$(busctl call org.iovad1 "$C" $CI Lease 'ta{sv}' 4096 2 persistent b true iova t 950272)
rmrr=$(sed -n 's/^ot "\([^"]*\)" 950272$/\1/p' <<<"$out")
[ -n "$rmrr" ] || fail "odd Lease reply: $out"
expect "a(ttso) 1 950272 954367 \"direct\" \"$rmrr\"" busctl call org.iovad1 "$C" $CI CheckAttach u 14
refused "lease ${rmrr##*/}" busctl call org.iovad1 "$C" $CI AttachGroup u 14
expect 'au 1 5' busctl get-property org.iovad1 "$C" $CI Groups
busctl call org.iovad1 "$rmrr" org.iovad1.Lease Release
expect 'a(ttso) 0' busctl call org.iovad1 "$C" $CI CheckAttach u 14

# Refusals for callers who may not.
refused "" as_uid 65534 busctl call "${M[@]}" CreateContainer 'sa{sv}' mine 0
refused "" as_uid 65534 busctl call org.iovad1 "$C" $CI AttachGroup u 12
refused "" as_uid 1000 busctl call org.iovad1 "$C" $CI Lease 'ta{sv}' 4096 0
expect 'au 1 5' busctl get-property org.iovad1 "$C" $CI Groups

# The persistent lease survives a restart, at the same path and address.
iovad_stop
iovad_start
expect "o \"$C\"" busctl call "${M[@]}" GetContainer s web
expect "a(ottb) 1 \"$lease\" 1048576 4096 false" busctl call org.iovad1 "$C" $CI ListLeases
busctl call org.iovad1 "$lease" org.iovad1.Lease Release
expect 'a(ottb) 0' busctl call org.iovad1 "$C" $CI ListLeases
busctl call org.iovad1 "$C" $CI DetachGroup u 5
busctl call org.iovad1 "$C" $CI Destroy
expect 'a(so) 0' busctl call "${M[@]}" ListContainers

bus_env_stop
echo "busctl: ok"

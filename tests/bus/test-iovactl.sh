#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# iovactl against the real iovad: every verb, its JSON, its exit statuses
# (0 ok, 1 refused, 2 usage, 3 no daemon, 4 check-attach conflict), and
# callers of other uids.
source "$(dirname "$0")/bus-env.sh"

X=$IOVAD_BUILD/client/iovactl
[ -x "$X" ] || fail "$X is missing"

# jq-like access with python3 (meson's own interpreter is always there):
# json EXPR reads JSON on stdin and prints EXPR evaluated with d bound to it.
json() {
	python3 -c 'import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1"
}

status_is() { # status_is N COMMAND...: the command exits with N
	local want=$1 rc=0
	shift
	"$@" >/dev/null 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "$*: exit status $rc, expected $want"
}

says() { # says TEXT COMMAND...: the command's output (stdout and stderr) contains TEXT
	local text=$1 out
	shift
	out=$("$@" 2>&1) || true
	grep -qF -- "$text" <<<"$out" || fail "$*: expected '$text' in: $out"
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

hold() { # hold FILE UID COMMAND...: run a --hold command as UID in the background until it holds; sets HOLD_PID
	local out=$1 uid=$2 i
	shift 2
	setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@" --hold >"$out" 2>&1 &
	HOLD_PID=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^Holding' "$out" && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || fail "$* --hold exited: $(cat "$out")"
		sleep 0.1
	done
	fail "$* --hold did not hold within 30 s"
}

release_hold() { # SIGTERM lets go, with exit status 0
	local rc=0
	kill -TERM "$HOLD_PID"
	wait "$HOLD_PID" || rc=$?
	[ "$rc" = 0 ] || fail "iovactl --hold exited with $rc on SIGTERM"
}

n_leases() { "$X" --json=short leases "$1" | json 'len(d)'; }

bus_env_start x86-vtd

# Daemon and devices.
[ "$("$X" --json=short status | json 'd["backend"]')" = simulated ] || fail "status: backend"
[ "$("$X" --json=short status | json 'd["platform"]')" = x86-vtd ] || fail "status: platform"
[ "$("$X" --json=short devices | json 'len(d)')" = 13 ] || fail "devices: x86-vtd has 13"
[ "$("$X" --json=short devices | json '[x["group"] for x in d if x["address"] == "0000:04:00.1"][0]')" = 14 ] \
	|| fail "devices: 04:00.1 is in group 14"
dev=$("$X" --json=short device 01:00.0)
[ "$(json 'd["driver"]' <<<"$dev")" = vfio-pci ] || fail "device: driver"
[ "$(json 'd["iommu_group"]' <<<"$dev")" = 5 ] || fail "device: group"
[ "$(json 'd["interrupt_isolation"]' <<<"$dev")" = remapped ] || fail "device: isolation"
[ "$(json 'd["container"]' <<<"$dev")" = null ] || fail "device: container"
says "Intel Corporation I350" "$X" device 0000:01:00.0
regions=$("$X" --json=short group-regions 14)
[ "$(json '[(r["start"], r["end"], r["type"]) for r in d]' <<<"$regions")" = \
	'[[950272, 954367, "direct"], [999424, 1003519, "direct"], [3185434624, 3185438719, "direct"], [4276092928, 4277141503, "msi"]]' ] \
	|| fail "group-regions 14: $regions"
status_is 1 "$X" group-regions 77
status_is 1 "$X" device 0000:7f:00.0

# Containers.
status_is 0 "$X" create web --user nobody --user 0
status_is 1 "$X" create web
status_is 1 "$X" create 'no way'
[ "$("$X" --json=short containers | json '[c["name"] for c in d]')" = '["web"]' ] || fail "containers"
status_is 0 "$X" attach web 5
status_is 1 "$X" attach web 5
status_is 1 "$X" attach web 77
show=$("$X" --json=short show web)
[ "$(json 'd["groups"]' <<<"$show")" = '[5]' ] || fail "show: groups"
[ "$(json 'd["users"]' <<<"$show")" = '[0, 65534]' ] || fail "show: users"
[ "$(json 'd["dma_mappings_available"]' <<<"$show")" = 65535 ] || fail "show: DMA mappings"
[ "$(json '[(r["start"], r["end"]) for r in d["usable_ranges"]]' <<<"$show")" = \
	'[[0, 4276092927], [4277141504, 549755813887]]' ] || fail "show: usable ranges"
says "msi" "$X" show web
[ "$("$X" --json=short device 01:00.0 | json 'd["container_name"]')" = web ] || fail "device: container name"

# Leases: persistent ones stay after iovactl exits; options are honoured.
fixed=$("$X" --json=short lease web 8K --persistent --iova=0xe8000)
[ "$(json 'd["iova"]' <<<"$fixed")" = 950272 ] || fail "lease --iova: $fixed"
fixed_path=$(json 'd["lease"]' <<<"$fixed")
aligned=$("$X" --json=short lease web 4K --persistent --align=2M --limit=0xffffffff)
a=$(json 'd["iova"]' <<<"$aligned")
[ $((a % 2097152)) = 0 ] && [ "$a" -le $((0xffffffff - 4095)) ] || fail "lease --align --limit: $aligned"
[ "$(n_leases web)" = 2 ] || fail "leases: 2 persistent leases"
status_is 1 "$X" lease web 4K --iova=0xfee00000
status_is 1 "$X" lease web 4097
status_is 1 "$X" lease nope 4K
status_is 2 "$X" lease web
status_is 2 "$X" lease web 4K --hugepages
says "org.iovad1.Error.ReservedConflict" "$X" lease web 4K --iova=0xfee00000
says "org.iovad1.Error.NoSuchContainer" "$X" lease nope 4K

# check-attach: 4 and the conflict while the lease sits on group 14's RMRR; attach refused, nothing changes.
status_is 4 "$X" check-attach web 14
ca=$("$X" --json=short check-attach web 14 || true)
[ "$(json 'd["can_attach"]' <<<"$ca")" = false ] || fail "check-attach: $ca"
[ "$(json '[(c["start"], c["type"], c["lease"]) for c in d["conflicts"]]' <<<"$ca")" = \
	"[[950272, \"direct\", \"$fixed_path\"]]" ] || fail "check-attach conflicts: $ca"
before=$("$X" --json=short show web)
says "org.iovad1.Error.ReservedConflict" "$X" attach web 14
[ "$("$X" --json=short show web)" = "$before" ] || fail "the refused attach changed the container"
status_is 0 "$X" check-attach web 12
says "lease" "$X" layout web

# Held leases live as long as iovactl; mapped ones use a DMA mapping.
hold "$ENV_DIR/hold.out" 0 "$X" allocate web 64K
[ "$(n_leases web)" = 3 ] || fail "the held allocation is not listed"
[ "$("$X" --json=short show web | json 'd["dma_mappings_available"]')" = 65534 ] || fail "DMA mappings after allocate"
[ "$("$X" --json=short leases web | json '[x["mapped"] for x in d].count(True)')" = 1 ] || fail "no mapped lease"
release_hold
eventually 2 n_leases web
[ "$("$X" --json=short show web | json 'd["dma_mappings_available"]')" = 65535 ] || fail "DMA mappings after release"
hold "$ENV_DIR/map.out" 0 "$X" map web 2M --readonly
[ "$(n_leases web)" = 3 ] || fail "the held mapping is not listed"
release_hold
eventually 2 n_leases web

# release with several leases: one ReleaseLeases, all or none.
p1=$("$X" --json=short lease web 4K --persistent | json 'd["lease"]')
p2=$("$X" --json=short lease web 8K --persistent | json 'd["lease"]')
[ "$(n_leases web)" = 4 ] || fail "two persistent leases are not listed"
says "Lease 2 of the list" "$X" release "${p1##*/}" "$p2" 999999
[ "$(n_leases web)" = 4 ] || fail "a refused release of several released some"
status_is 2 "$X" release "${p1##*/}" nonsense
status_is 0 "$X" release "${p1##*/}" "$p2"
[ "$(n_leases web)" = 2 ] || fail "release of two leases left $(n_leases web)"

# Another uid: a user of the container leases; a stranger is refused; neither sees root's leases.
hold "$ENV_DIR/nobody.out" 65534 "$X" lease web 4K
[ "$(as_uid 65534 "$X" --json=short leases web | json 'len(d)')" = 1 ] || fail "uid 65534 sees other leases"
[ "$(n_leases web)" = 3 ] || fail "root does not see uid 65534's lease"
status_is 1 as_uid 65534 "$X" create mine
status_is 1 as_uid 65534 "$X" attach web 12
status_is 1 as_uid 65534 "$X" lease web 4K --persistent
status_is 1 as_uid 65534 "$X" release "$fixed_path"
says "AccessDenied" as_uid 1000 "$X" lease web 4K
[ "$(as_uid 1000 "$X" --json=short leases web | json 'len(d)')" = 0 ] || fail "uid 1000 sees leases"
release_hold
eventually 2 n_leases web

# Devices: open hands out the device's fd (the simulated one holds its group); bind and unbind change the driver.
says "Opened 0000:01:00.0 as fd" "$X" open 01:00.0
status_is 1 "$X" open 02:00.0
status_is 1 as_uid 65534 "$X" bind 00:14.0
status_is 1 "$X" attach web 6
status_is 0 "$X" bind 00:14.0
[ "$("$X" --json=short device 00:14.0 | json 'd["driver"]')" = vfio-pci ] || fail "bind"
status_is 0 "$X" unbind 00:14.0
[ "$("$X" --json=short device 00:14.0 | json 'd["driver"]')" = xhci_hcd ] || fail "unbind"
# Delegation needs the iommufd backend; the refusal comes after authorization.
says "org.iovad1.Error.NotSupported" "$X" delegate 01:00.0 1000
says "AccessDenied" as_uid 65534 "$X" delegate 01:00.0 1000
says "org.iovad1.Error.NotAttached" "$X" open-delegated 01:00.0
says "org.iovad1.Error.NotAttached" "$X" undelegate 01:00.0
status_is 2 "$X" delegate 01:00.0

# Restart: the container and its persistent leases come back.
iovad_stop
status_is 3 "$X" status
status_is 3 env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$X" status
iovad_start
[ "$("$X" --json=short show web | json 'd["groups"]')" = '[5]' ] || fail "groups after restart"
[ "$("$X" --json=short leases web | json "[x[\"iova\"] for x in d if x[\"lease\"] == \"$fixed_path\"]")" = '[950272]' ] \
	|| fail "the persistent lease did not come back at its address"

# Release by path and by id, then tear down.
status_is 0 "$X" release "$fixed_path"
status_is 1 "$X" release "$fixed_path"
status_is 0 "$X" release "$(json 'd["lease"]' <<<"$aligned" | sed 's|.*/||')"
[ "$(n_leases web)" = 0 ] || fail "leases left"
status_is 0 "$X" detach web 5
status_is 1 "$X" detach web 5
status_is 0 "$X" destroy web
status_is 1 "$X" destroy web
status_is 2 "$X" frobnicate
bus_env_stop
echo "iovactl: ok"

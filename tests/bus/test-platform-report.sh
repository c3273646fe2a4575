#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What iovad reports about the platform beyond reserved regions, through
# busctl and iovactl: the software MSI window's use (MsiWindowPages,
# CheckMsiWindow, the warning before an attach that would overfill it)
# and PCI peer-to-peer risk (Device.PeerToPeer*, GetGroupPeerToPeer, the
# reserve_peer_windows option and its p2p holes).
source "$(dirname "$0")/bus-env.sh"

X=$IOVAD_BUILD/client/iovactl
[ -x "$X" ] || fail "$X is missing"

json() {
	python3 -c 'import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1"
}

page=$(getconf PAGESIZE)
[ "$page" -ge 4096 ] || page=4096

# The SMMUv3 server: one ITS in the device tree, one doorbell page of the 1 MiB window.
bus_env_start arm-smmuv3
busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' vm 0 >/dev/null
got=$(busctl get-property org.iovad1 /org/iovad1/container/vm org.iovad1.Container MsiWindowPages)
[ "$got" = '(uus) 0 0 ""' ] || fail "MsiWindowPages with no group: $got"
got=$(busctl call org.iovad1 /org/iovad1/container/vm org.iovad1.Container CheckMsiWindow u 4)
[ "$got" = "(uus) 1 $((0x100000 / page)) \"device tree\"" ] || fail "CheckMsiWindow 4: $got"
got=$(busctl call org.iovad1 /org/iovad1/container/vm org.iovad1.Container CheckMsiWindow u 77 2>&1) || true
grep -q "no IOMMU group 77" <<<"$got" || fail "CheckMsiWindow of no group: $got"
"$X" attach vm 4 2>"$ENV_DIR/attach.err" || fail "attach vm 4: $(cat "$ENV_DIR/attach.err")"
[ ! -s "$ENV_DIR/attach.err" ] || fail "attach vm 4 warned: $(cat "$ENV_DIR/attach.err")"
got=$(busctl get-property org.iovad1 /org/iovad1/container/vm org.iovad1.Container MsiWindowPages)
[ "$got" = "(uus) 1 $((0x100000 / page)) \"device tree\"" ] || fail "MsiWindowPages after attach: $got"
"$X" show vm | grep -qx " *MSI window: 1 of $((0x100000 / page)) doorbell pages (device tree)" \
	|| fail "show: $("$X" show vm)"
[ "$("$X" --json=short show vm | json 'd["msi_window"]')" = \
	"{\"needed_pages\": 1, \"window_pages\": $((0x100000 / page)), \"source\": \"device tree\"}" ] || fail "show --json"
bus_env_stop

# x86: no software MSI window.
bus_env_start x86-vtd
busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' vm 0 >/dev/null
"$X" attach vm 5 || fail "attach vm 5"
"$X" show vm | grep -qx " *MSI window: none" || fail "x86 show: $("$X" show vm)"
bus_env_stop

# Three GICv2m frames, a window of two pages: the attach goes ahead with a warning.
if [ "$page" = 4096 ]; then
	profile=$(mktemp /tmp/iovad-v2m.XXXXXX.json)
	cat >"$profile" <<'JSON'
{ "name": "v2m-small-window", "aperture_bits": 48, "page_sizes": [4096], "allow_unsafe_interrupts": true,
  "msi_controllers": [ { "type": "gicv2m", "base": "0x8020000" }, { "type": "gicv2m", "base": "0x8030000" },
                       { "type": "gicv2m", "base": "0x8040000" } ],
  "groups": [ { "id": 1, "reserved_regions": ["0x0000000008000000 0x0000000008001fff msi"],
                "devices": [ { "address": "0000:01:00.0", "vendor": "0x8086", "device": "0x1521",
                               "class": "0x020000", "driver": "vfio-pci" } ] } ] }
JSON
	bus_env_start "$profile"
	busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' vm 0 >/dev/null
	got=$("$X" check-attach vm 1 2>&1) || fail "check-attach vm 1: $got"
	grep -q "warning: with group 1 the devices of vm may need 3 MSI doorbell pages, but its software MSI window holds 2" \
		<<<"$got" || fail "check-attach gave no warning: $got"
	"$X" attach vm 1 2>"$ENV_DIR/attach.err" || fail "attach vm 1 refused"
	grep -q "may need 3 MSI doorbell pages" "$ENV_DIR/attach.err" || fail "attach: no warning: $(cat "$ENV_DIR/attach.err")"
	grep -q "may need 3 MSI doorbell pages in the software MSI window 0x8000000-0x8001fff, which holds 2" "$IOVAD_LOG" \
		|| fail "iovad logged no warning"
	"$X" show vm | grep -q "MSI window: 3 of 2 doorbell pages (device tree): TOO SMALL" || fail "show: $("$X" show vm)"
	bus_env_stop
	rm -f "$profile"
fi
# Peer-to-peer on recorded configuration spaces: a switch without ACS.
bus_env_start x86-switch
dev=/org/iovad1/device/$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager ListDevices |
	grep -o '"/org/iovad1/device/[^"]*"' | sed 's,.*/,,; s,",,g' | grep '_3a03_3a00_2e0$' | head -1)
got=$(busctl get-property org.iovad1 "$dev" org.iovad1.Device PeerToPeer)
[ "$got" = 's "peers"' ] || fail "PeerToPeer of 03:00.0: $got"
got=$(busctl get-property org.iovad1 "$dev" org.iovad1.Device PeerWindows)
[ "$got" = 'a(tts) 2 4261543936 4261675007 "0000:03:00.1 BAR 0" 4262461440 4263510015 "0000:02:03.0 memory window"' ] \
	|| fail "PeerWindows of 03:00.0: $got"
got=$(busctl get-property org.iovad1 "$dev" org.iovad1.Device PeerToPeerPath)
grep -qF '"0000:02:01.0" "switch downstream port" "no ACS capability"' <<<"$got" || fail "PeerToPeerPath: $got"
[ "$("$X" --json=short device 05:00.0 | json 'd["peer_to_peer"]')" = isolated ] || fail "05:00.0 is behind a root port with ACS"
"$X" device 03:00.1 | grep -q "0000:02:03.0 memory window" || fail "device: $("$X" device 03:00.1)"
got=$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager GetGroupPeerToPeer u 13)
grep -q '^sa(sss)a(tts) "peers" 4 .* 1 4261412864 4262461439 "0000:02:01.0 memory window"$' <<<"$got" \
	|| fail "GetGroupPeerToPeer 13: $got"
p2p=$("$X" --json=short peer-to-peer 13)
[ "$(json '[(w["start"], w["end"], w["window"]) for w in d["windows"]]' <<<"$p2p")" = \
	'[[4261412864, 4262461439, "0000:02:01.0 memory window"]]' ] || fail "peer-to-peer 13: $p2p"
"$X" peer-to-peer 15 | grep -q "Peer-to-peer: isolated" || fail "peer-to-peer 15: $("$X" peer-to-peer 15)"
got=$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager GetGroupPeerToPeer u 77 2>&1) || true
grep -q "no IOMMU group 77" <<<"$got" || fail "GetGroupPeerToPeer 77: $got"

# Without the option, a lease may sit on a peer's window; with it, that window is a hole.
"$X" create plain || fail "create plain"
"$X" attach plain 13 || fail "attach plain 13"
"$X" lease plain 4K --iova=0xfe000000 >/dev/null || fail "plain: a lease on the peer window was refused"
[ "$("$X" --json=short show plain | json 'd["reserve_peer_windows"]')" = false ] || fail "plain reserves"
"$X" destroy plain || fail "destroy plain"
"$X" create guarded --reserve-peer-windows || fail "create --reserve-peer-windows"
got=$(busctl get-property org.iovad1 /org/iovad1/container/guarded org.iovad1.Container ReservePeerWindows)
[ "$got" = "b true" ] || fail "ReservePeerWindows: $got"
"$X" bind 05:00.0 || fail "bind 05:00.0"
"$X" attach guarded 15 || fail "attach guarded 15"
[ "$("$X" --json=short show guarded | json '[r for r in d["reserved_regions"] if r["origin"] == "p2p"]')" = '[]' ] \
	|| fail "the isolated group brought p2p holes"
"$X" lease guarded 4K --iova=0xfe000000 --persistent >/dev/null || fail "guarded: lease before the switch's group"
# Attaching group 13 would make 0xfe000000 a hole under that lease: refused, and CheckAttach says so.
got=$("$X" --json=short check-attach guarded 13 || true)
[ "$(json '[(c["start"], c["end"], c["type"]) for c in d["conflicts"]]' <<<"$got")" = \
	'[[4261412864, 4262461439, "reserved"]]' ] || fail "check-attach guarded 13: $got"
got=$("$X" attach guarded 13 2>&1) && fail "attach guarded 13 was not refused"
grep -q ReservedConflict <<<"$got" || fail "attach guarded 13: $got"
lease=$("$X" --json=short leases guarded | json 'd[0]["lease"]')
"$X" release "$lease" || fail "release"
"$X" attach guarded 13 || fail "attach guarded 13 after the release"
regions=$("$X" --json=short show guarded)
[ "$(json '[(r["start"], r["end"], r["type"]) for r in d["reserved_regions"] if r["origin"] == "p2p"]' <<<"$regions")" = \
	'[[4261412864, 4262461439, "reserved"]]' ] || fail "guarded: p2p holes: $regions"
"$X" show guarded | grep -q "Peer windows: reserved (origin p2p)" || fail "show guarded"
got=$("$X" lease guarded 4K --iova=0xfe000000 2>&1) && fail "a lease in the p2p hole was granted: $got"
grep -q ReservedConflict <<<"$got" || fail "lease in the p2p hole: $got"
# The option survives a restart, and with it the hole.
iovad_stop
iovad_start
got=$(busctl get-property org.iovad1 /org/iovad1/container/guarded org.iovad1.Container ReservePeerWindows)
[ "$got" = "b true" ] || fail "ReservePeerWindows after restart: $got"
[ "$("$X" --json=short show guarded | json '[r["origin"] for r in d["reserved_regions"]].count("p2p")')" = 1 ] \
	|| fail "p2p hole after restart"
got=$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' bad 1 reserve_peer_windows s yes 2>&1) || true
grep -q "must be of type 'b'" <<<"$got" || fail "reserve_peer_windows of the wrong type: $got"
bus_env_stop
echo "platform report: ok"

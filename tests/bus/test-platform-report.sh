#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What iovad reports about the platform beyond reserved regions, through
# busctl and iovactl: the software MSI window's use (MsiWindowPages,
# CheckMsiWindow, the warning before an attach that would overfill it).
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
echo "platform report: ok"

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Golden introspection: each interface as the running iovad introspects it
# must match dbus/org.iovad1.<Interface>.xml, so that an accidental API
# change fails here. Usage: test-introspect.sh [PYTHON3 [introspect-compare.py]]
source "$(dirname "$0")/bus-env.sh"

python=${1:-python3}
compare=${2:-$(dirname "$0")/introspect-compare.py}

bus_env_start x86-vtd
dir=$ENV_DIR

# One live object of each kind; a persistent lease, so that it outlives busctl.
busctl call org.iovad1 /org/iovad1 org.iovad1.Manager CreateContainer 'sa{sv}' golden 0 >/dev/null
busctl call org.iovad1 /org/iovad1/container/golden org.iovad1.Container AttachGroup u 5
lease=$(busctl call org.iovad1 /org/iovad1/container/golden org.iovad1.Container Lease 'ta{sv}' 4096 \
	1 persistent b true | sed -n 's/^ot "\([^"]*\)".*/\1/p')
[ -n "$lease" ] || fail "no lease"
devices=$(busctl call org.iovad1 /org/iovad1 org.iovad1.Manager ListDevices)
device=$(grep -o '"/org/iovad1/device/[^"]*"' <<<"$devices" | sed -n '1s/"//gp')
[ -n "$device" ] || fail "no device"

failed=0
for pair in Manager:/org/iovad1 Container:/org/iovad1/container/golden Lease:"$lease" Device:"$device"; do
	iface=org.iovad1.${pair%%:*}
	path=${pair#*:}
	golden=$IOVAD_SOURCE/dbus/$iface.xml
	live=$dir/$iface.live.xml
	busctl introspect --xml-interface org.iovad1 "$path" >"$live"
	if [ ! -e "$golden" ]; then
		echo "$iface: $golden is missing" >&2
		failed=1
		continue
	fi
	"$python" "$compare" "$live" "$golden" "$iface" || failed=1
done

bus_env_stop
[ "$failed" = 0 ] || fail "live introspection differs from dbus/*.xml (see above)"

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The CDI spec iovad writes (docs/runtimes.md): valid against the CDI
# schema and the CDI package's own rules (cdi-validate.py, with Debian's
# python3-jsonschema and the schema files of
# golang-github-container-orchestrated-devices-container-device-interface-dev),
# one device per PCI device iovad hands out (on vfio-pci, or allowed by
# cdi.bind_devices), edits with the bus socket, the environment and the hooks
# and no VFIO node, kept current through Bind and Unbind, written atomically,
# and none with cdi.spec_dir "".
source "$(dirname "$0")/bus-env.sh"

X=$IOVAD_BUILD/client/iovactl
[ -x "$X" ] || fail "$X is missing"
PY=/usr/bin/python3
VALIDATE=$IOVAD_SOURCE/tests/bus/cdi-validate.py
SCHEMA=/usr/share/gocode/src/github.com/container-orchestrated-devices/container-device-interface/schema
[ -r "$SCHEMA/schema.json" ] && [ -r "$SCHEMA/defs.json" ] ||
	fail "$SCHEMA has no schema.json and defs.json: tests/setup-deps.sh installs them"
"$PY" -c 'import jsonschema' || fail "$PY has no jsonschema module: tests/setup-deps.sh installs python3-jsonschema"
HOOK=$(sed -n 's/^#define IOVAD_CDI_HOOK "\(.*\)"$/\1/p' "$IOVAD_BUILD/config.h")
[ -n "$HOOK" ] || fail "config.h has no IOVAD_CDI_HOOK"

json() { # json EXPR < FILE: EXPR with d bound to the parsed JSON
	"$PY" -c 'import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1"
}
names() { json '" ".join(x["name"] for x in d["devices"])' < "$SPEC"; }
eventually_names() { # eventually_names WANT: the spec's device names become WANT (10 s)
	local i got
	for ((i = 0; i < 100; i++)); do
		got=$(names)
		[ "$got" = "$1" ] && return 0
		sleep 0.1
	done
	fail "the spec lists '$got', expected '$1'"
}
valid() {
	local out
	out=$("$PY" "$VALIDATE" --schema-dir "$SCHEMA" "$SPEC" 2>&1) || fail "the spec is invalid: $out"
	echo "$out"
}

bus_env_start x86-vtd
SPEC=$ENV_DIR/run/cdi/iovad.org-pci.json
[ -s "$SPEC" ] || fail "no spec at $SPEC (the simulated backend's default: the runtime directory's cdi/)"
grep -q "Wrote the CDI spec $ENV_DIR/run/cdi/iovad.org-pci.json (kind iovad.org/pci, 6 devices)" "$IOVAD_LOG" ||
	fail "iovad did not log the spec it wrote: $(grep -i cdi "$IOVAD_LOG")"
valid
[ "$(stat -c %a "$SPEC")" = 644 ] || fail "the spec's mode is $(stat -c %a "$SPEC"), not 644"

# Exactly the devices on vfio-pci (the profile's groups 5, 12, 13, 14).
want=$(busctl call --json=short org.iovad1 /org/iovad1 org.iovad1.Manager ListDevices |
	json '" ".join(sorted(x[0] for x in d["data"][0] if x[3] == "vfio-pci"))')
[ "$want" = "0000:01:00.0 0000:01:00.1 0000:02:00.0 0000:03:00.0 0000:04:00.0 0000:04:00.1" ] ||
	fail "ListDevices' vfio-pci devices: $want"
[ "$(names)" = "$want" ] || fail "the spec lists '$(names)', expected '$want'"
json 'd["cdiVersion"] + " " + d["kind"]' < "$SPEC" | grep -qx '0.5.0 iovad.org/pci' || fail "cdiVersion or kind"

# Each device's edits: its environment and its two hooks; the spec's: the bus.
for a in $want; do
	dev=$(json "[x for x in d['devices'] if x['name'] == '$a'][0]['containerEdits']" < "$SPEC")
	got=$(json '" ".join(d["env"])' <<<"$dev")
	[ "$got" = "IOVAD_DEVICE=$a IOVAD_CONTAINER=device:$a" ] || fail "$a: env $got"
	got=$(json '";".join(h["hookName"] + " " + h["path"] + " " + " ".join(h["args"]) + " " + " ".join(h["env"]) for h in d["hooks"])' <<<"$dev")
	bus="DBUS_SYSTEM_BUS_ADDRESS=unix:path=$ENV_DIR/bus.sock"
	[ "$got" = "createRuntime $HOOK iovad-cdi-hook create $a $bus;poststop $HOOK iovad-cdi-hook release $a $bus" ] ||
		fail "$a: hooks $got"
	[ "$(json 'sorted(d)' <<<"$dev")" = '["env", "hooks"]' ] || fail "$a: edits other than env and hooks: $dev"
done
got=$(json 'd["containerEdits"]' < "$SPEC")
[ "$got" = '{"env": ["DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket"], "mounts": [{"hostPath": "'"$ENV_DIR"'/bus.sock", "containerPath": "/run/dbus/system_bus_socket", "options": ["bind", "nosuid", "nodev", "noexec"]}]}' ] ||
	fail "the spec's own edits: $got"
! grep -q -e '/dev/vfio' -e deviceNodes "$SPEC" || fail "the spec hands out VFIO nodes: $(grep -e /dev/vfio -e deviceNodes "$SPEC")"

# Bind and Unbind: the spec follows the driver.
before=$(stat -c %i "$SPEC")
"$X" bind 0000:00:14.0 > /dev/null || fail "iovactl bind 0000:00:14.0"
eventually_names "0000:00:14.0 $want"
valid
[ "$(stat -c %i "$SPEC")" != "$before" ] || fail "the spec was rewritten in place, not replaced (rename)"
"$X" unbind 0000:00:14.0 > /dev/null || fail "iovactl unbind 0000:00:14.0"
eventually_names "$want"
# An unchanged platform rewrites nothing (a ListDevices re-reads it).
before=$(stat -c %i "$SPEC")
busctl call org.iovad1 /org/iovad1 org.iovad1.Manager ListDevices > /dev/null
[ "$(stat -c %i "$SPEC")" = "$before" ] || fail "an unchanged spec was written again"
left=$(find "$ENV_DIR/run/cdi" -mindepth 1 ! -name iovad.org-pci.json)
[ -z "$left" ] || fail "temporary files left in the spec directory: $left"
bus_env_stop
echo "ok: the spec lists the 6 devices on vfio-pci, follows Bind and Unbind, and validates"

# cdi.bind_devices: a device on its host driver that the hook may bind is listed too; cdi.spec_dir moves the spec.
bus_env_start x86-vtd '{ "cdi": { "spec_dir": "/tmp/iovad-cdi-test-'$$'", "bind_devices": [ "0000:00:1f.3" ] } }'
SPEC=/tmp/iovad-cdi-test-$$/iovad.org-pci.json
trap 'rm -rf /tmp/iovad-cdi-test-$$; _bus_env_cleanup' EXIT
[ -s "$SPEC" ] || fail "no spec in cdi.spec_dir"
[ ! -e "$ENV_DIR/run/cdi" ] || fail "a spec in the runtime directory despite cdi.spec_dir"
[ "$(names)" = "0000:00:1f.3 $want" ] || fail "with bind_devices the spec lists '$(names)'"
valid
bus_env_stop
echo "ok: cdi.bind_devices lists 0000:00:1f.3 on snd_hda_intel; cdi.spec_dir moves the spec"

bus_env_start x86-vtd '{ "cdi": { "spec_dir": "" } }'
[ ! -e "$ENV_DIR/run/cdi" ] || fail "cdi.spec_dir \"\" wrote a spec"
bus_env_stop
echo "ok: cdi.spec_dir \"\" writes no spec"

# The configuration is checked.
for bad in '{ "cdi": { "spec_dir": "relative" } }' '{ "cdi": { "bind_devices": [ "00:1f.3" ] } }' '{ "cdi": { "specdir": "/x" } }'; do
	printf '%s\n' "$bad" > "/tmp/iovad-cdi-test-$$.conf"
	out=$(IOVAD_PROFILES_DIR="$IOVAD_SOURCE/daemon/profiles" "$IOVAD_BUILD/daemon/iovad" --simulate=x86-vtd \
		--state-dir="/tmp/iovad-cdi-test-$$.state" --runtime-dir="/tmp/iovad-cdi-test-$$.run" --no-polkit \
		--config="/tmp/iovad-cdi-test-$$.conf" 2>&1) && fail "iovad started with $bad"
	grep -q 'Configuration .* is invalid: cdi\.' <<<"$out" || fail "$bad: $out"
	rm -rf "/tmp/iovad-cdi-test-$$.conf" "/tmp/iovad-cdi-test-$$.state" "/tmp/iovad-cdi-test-$$.run"
done
echo "ok: bad cdi settings are refused with the key named"

# The validator itself fails on invalid specs (so the checks above can fail).
good=$(mktemp /tmp/iovad-cdi-spec.XXXXXX)
printf '%s\n' '{"cdiVersion": "0.5.0", "kind": "iovad.org/pci", "devices": [{"name": "0000:01:00.0", "containerEdits": {"env": ["A=1"]}}]}' > "$good"
"$PY" "$VALIDATE" --schema-dir "$SCHEMA" "$good" > /dev/null || fail "the validator refuses a valid spec"
for edit in 's/"0.5.0"/"0.6.0"/' 's/"name": "0000:01:00.0", //' 's/"iovad.org\/pci"/"iovad.org"/' \
	's/"0000:01:00.0"/"0000:01:00.0\/x"/' 's/"A=1"/"=1"/' 's/"env"/"environment"/' 's/\["A=1"\]/"A=1"/'; do
	sed "$edit" "$good" > "$good.bad"
	out=$("$PY" "$VALIDATE" --schema-dir "$SCHEMA" "$good.bad" 2>&1) && fail "the validator accepts an invalid spec ($edit)"
	echo "refused ($edit): $out"
done
rm -f "$good" "$good.bad"
echo "ok: the validator refuses invalid specs"

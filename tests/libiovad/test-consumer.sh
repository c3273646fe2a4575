#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# libiovad from outside the tree: "meson install" of the build into a
# staging directory, the consumer program compiled with only what
# pkg-config says about the installed libiovad (no source tree on the
# include path), then run against iovad on a private bus.
source "$(dirname "$0")/../bus/bus-env.sh"

: "${CONSUMER_SOURCE:?}" "${CONSUMER_CC:=cc}" "${CONSUMER_CFLAGS:=}"
command -v pkg-config >/dev/null || fail "pkg-config is not installed"

STAGE=$(mktemp -d /tmp/libiovad-stage.XXXXXX)
# bus-env.sh's EXIT trap stops the bus and daemon; the staging directory goes on success (kept to look at otherwise).
chmod 755 "$STAGE" # the consumer also runs as other uids
meson install -C "$IOVAD_BUILD" --no-rebuild --quiet --destdir "$STAGE" >"$STAGE/install.log" 2>&1 \
	|| fail "meson install: $(cat "$STAGE/install.log")"

prefix=$(meson introspect "$IOVAD_BUILD" --buildoptions |
	python3 -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
pc=$(find "$STAGE$prefix" -name libiovad.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no libiovad.pc under $STAGE$prefix"
[ -f "$STAGE$prefix/include/iovad.h" ] || fail "no include/iovad.h under $STAGE$prefix"

# The .pc file names the prefix it was configured for; point it at the staging copy.
pkg() { PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$STAGE$prefix" "$@" libiovad; }
pkg --exists || fail "pkg-config does not find libiovad"
[ "$(pkg --modversion)" = "$(meson introspect "$IOVAD_BUILD" --projectinfo | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')" ] \
	|| fail "libiovad.pc has the wrong version"
cflags=$(pkg --cflags)
libs=$(pkg --libs)
case " $cflags $libs " in
*"$IOVAD_SOURCE"* | *"$IOVAD_BUILD"*) fail "pkg-config points into the tree: $cflags $libs" ;;
esac
libdir=$(pkg --variable=libdir)
[ -e "$libdir/libiovad.so.1" ] || fail "no libiovad.so.1 in $libdir"

mkdir "$STAGE/consumer"
cp "$CONSUMER_SOURCE" "$STAGE/consumer/consumer.c"
# shellcheck disable=SC2086
(cd "$STAGE/consumer" && $CONSUMER_CC -std=c11 -Wall -Wextra -Werror $CONSUMER_CFLAGS -o consumer consumer.c $cflags $libs) \
	|| fail "the consumer does not build with: $cflags $libs"
# It runs against the staged library: the tree's is nowhere on its path.
ldd_out=$(LD_LIBRARY_PATH=$libdir ldd "$STAGE/consumer/consumer")
grep -q "libiovad.so.1 => $libdir/libiovad.so.1" <<<"$ldd_out" || fail "the consumer does not load the staged library: $ldd_out"

bus_env_start x86-vtd
X=$IOVAD_BUILD/client/iovactl
"$X" create workload --user 65534 >/dev/null || fail "create"
"$X" attach workload 5 || fail "attach"
# By name, and as a container runtime passes it: the container that holds a device.
for ref in workload device:0000:01:00.0; do
	out=$(IOVAD_CONTAINER=$ref LD_LIBRARY_PATH=$libdir as_uid 65534 "$STAGE/consumer/consumer" 2>&1) \
		|| fail "consumer with IOVAD_CONTAINER=$ref: $out"
	grep -q '^consumer: ok$' <<<"$out" || fail "consumer: $out"
	grep -q '^memory reads back what was written$' <<<"$out" || fail "consumer: $out"
done
# Over a direct connection, by the flag and from an fd, and the new symbol version from outside the tree.
objdump -T "$STAGE/consumer/consumer" | grep -q '(LIBIOVAD_1\.1) *iovad_open_fd$' \
	|| fail "the consumer does not need iovad_open_fd@LIBIOVAD_1.1: $(objdump -T "$STAGE/consumer/consumer" | grep iovad_open)"
for direct in open fd; do
	out=$(IOVAD_DIRECT=$direct IOVAD_CONTAINER=workload LD_LIBRARY_PATH=$libdir as_uid 65534 "$STAGE/consumer/consumer" 2>&1) \
		|| fail "consumer with IOVAD_DIRECT=$direct: $out"
	grep -q '^direct connection' <<<"$out" || fail "consumer with IOVAD_DIRECT=$direct: $out"
	grep -q '^consumer: ok$' <<<"$out" || fail "consumer with IOVAD_DIRECT=$direct: $out"
done
out=$(IOVAD_DIRECT=open IOVAD_CONTAINER=workload LD_LIBRARY_PATH=$libdir as_uid 1000 "$STAGE/consumer/consumer" 2>&1) \
	&& fail "consumer succeeded as a stranger over a direct connection: $out"
grep -q "org.freedesktop.DBus.Error.AccessDenied" <<<"$out" || fail "consumer as a stranger, direct: $out"
# And it fails, saying why, where it must.
out=$(IOVAD_CONTAINER=device:0000:02:00.0 LD_LIBRARY_PATH=$libdir as_uid 65534 "$STAGE/consumer/consumer" 2>&1) \
	&& fail "consumer succeeded for a device in no container: $out"
grep -q "iovad_resolve_container" <<<"$out" || fail "consumer: $out"
out=$(IOVAD_CONTAINER=workload LD_LIBRARY_PATH=$libdir as_uid 1000 "$STAGE/consumer/consumer" 2>&1) \
	&& fail "consumer succeeded as a stranger: $out"
grep -q "org.freedesktop.DBus.Error.AccessDenied" <<<"$out" || fail "consumer as a stranger: $out"
"$X" detach workload 5
"$X" destroy workload
bus_env_stop
rm -rf "$STAGE"
echo "libiovad consumer: ok"

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# libiovad exports exactly the symbols of its version script, all iovad_*,
# each with the version node the script lists it under (LIBIOVAD_1, then
# LIBIOVAD_1.1, ...: every node after the first inherits the one before),
# and each of them is declared in the public header.
set -euo pipefail
lib=$1 sym=$2 header=$3
fail() { echo "FAIL: $*" >&2; exit 1; }

soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libiovad.so.1 ] || fail "soname is '$soname'"

# The nodes in order and "symbol@@NODE" for every symbol the script lists.
nodes=$(sed -n 's/^\(LIBIOVAD_[0-9.]*\) {$/\1/p' "$sym")
[ "$(head -n1 <<<"$nodes")" = LIBIOVAD_1 ] || fail "the first version node is not LIBIOVAD_1"
prev=
for n in $nodes; do
	if [ -n "$prev" ]; then
		grep -q "^} $prev;$" "$sym" || fail "node $n does not inherit $prev"
	fi
	prev=$n
done
listed=$(awk '/^LIBIOVAD_[0-9.]* \{$/ { node = $1 }
	/^[[:space:]]*iovad_[a-z0-9_]*;$/ { s = $1; sub(/;$/, "", s); print s "@@" node }' "$sym" | sort)
[ -n "$listed" ] || fail "the version script lists nothing"

exported=$(nm -D --defined-only "$lib" | awk '{ print $3 }' | grep -vxF -f <(echo "$nodes") | sort)
[ -n "$exported" ] || fail "nothing exported"
bad=$(grep -v '^iovad_[a-z0-9_]*@@LIBIOVAD_[0-9.]*$' <<<"$exported" || true)
[ -z "$bad" ] || fail "exported beyond iovad_*@@LIBIOVAD_*: $bad"
[ "$exported" = "$listed" ] \
	|| fail "exported and listed differ: $(diff <(echo "$exported") <(echo "$listed") || true)"
for n in $nodes; do
	nm -D --defined-only "$lib" | awk '{ print $3 }' | grep -qxF "$n" || fail "version node $n is not defined"
done
for s in $(sed 's/@@.*//' <<<"$listed"); do
	grep -q "[ *]$s(" "$header" || fail "$s is not declared in $(basename "$header")"
done
echo "libiovad: $(wc -l <<<"$listed") symbols in $(wc -w <<<"$nodes") version nodes ($(tr '\n' ' ' <<<"$nodes")), all iovad_* and declared"

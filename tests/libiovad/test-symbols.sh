#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# libiovad exports exactly the symbols of its version script, all iovad_*
# and all LIBIOVAD_1, and each of them is declared in the public header.
set -euo pipefail
lib=$1 sym=$2 header=$3
fail() { echo "FAIL: $*" >&2; exit 1; }

soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libiovad.so.1 ] || fail "soname is '$soname'"

exported=$(nm -D --defined-only "$lib" | awk '{ print $3 }' | grep -v '^LIBIOVAD_1$' | sort)
[ -n "$exported" ] || fail "nothing exported"
bad=$(grep -v '^iovad_[a-z0-9_]*@@LIBIOVAD_1$' <<<"$exported" || true)
[ -z "$bad" ] || fail "exported beyond iovad_*@@LIBIOVAD_1: $bad"
listed=$(sed -n 's/^[[:space:]]*\(iovad_[a-z0-9_]*\);$/\1/p' "$sym" | sort)
[ "$(sed 's/@@LIBIOVAD_1$//' <<<"$exported")" = "$listed" ] \
	|| fail "exported and listed differ: $(diff <(sed 's/@@LIBIOVAD_1$//' <<<"$exported") <(echo "$listed") || true)"
for s in $listed; do
	grep -q "[ *]$s(" "$header" || fail "$s is not declared in $(basename "$header")"
done
echo "libiovad: $(wc -l <<<"$listed") symbols, all iovad_*@@LIBIOVAD_1 and declared"

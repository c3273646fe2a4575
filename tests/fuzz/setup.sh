#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What the fuzz tier needs beyond tests/setup-deps.sh: Debian 12's clang
# (14) and its runtime libraries, which hold libFuzzer and the sanitizers;
# with --coverage also llvm-14, for fuzz-coverage.sh. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(clang libclang-rt-14-dev)
[ "${1:-}" = --coverage ] && pkgs+=(llvm-14)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "fuzz setup: installing ${missing[*]}"
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
fi
# libFuzzer must be there: a clang without it would fail every target at link time.
f=$(clang -print-file-name=libclang_rt.fuzzer-$(uname -m).a)
[ -f "$f" ] || { echo "fuzz setup: libFuzzer is missing ($f)" >&2; exit 1; }

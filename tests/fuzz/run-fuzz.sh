#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one libFuzzer target over its seed corpus, then for RUNS more
# executions from it (deterministic seed). The seed corpus is only read:
# new inputs go to a scratch directory, crash files into the current
# directory (meson runs tests in the build directory).
#   run-fuzz.sh TARGET CORPUS DICT RUNS [libFuzzer options...]
set -euo pipefail
target=$1 corpus=$2 dict=$3 runs=$4
shift 4
[ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || { echo "run-fuzz: no seeds in $corpus" >&2; exit 1; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/iovad-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
dict_opt=()
[ -f "$dict" ] && dict_opt=(-dict="$dict")
name=$(basename "$target")
# libFuzzer's own default is 77, which meson would count as a skip.
common=(-error_exitcode=1 -timeout=25 -artifact_prefix="$PWD/$name-" "${dict_opt[@]}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

echo "== $name: every seed of $corpus"
"$target" -runs=0 "${common[@]}" "$@" "$scratch" "$corpus"
echo "== $name: $runs executions from the seeds"
"$target" -runs="$runs" -seed=1 "${common[@]}" "$@" "$scratch" "$corpus"

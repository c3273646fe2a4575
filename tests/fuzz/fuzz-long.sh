#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The long fuzz run: each target, one after the other (one process, one
# core), for RUNS executions (default 10^6) from its seed corpus, then a
# line of figures per target. See README.md.
#
#   tests/fuzz/fuzz-long.sh [--build DIR] [--runs N] [--work DIR] [TARGET...]
#
# DIR defaults to build-fuzz in the source tree (set up with clang and
# -Dfuzz=true when missing); the work directory (default
# /var/tmp/iovad-fuzz) keeps each target's grown corpus, its log and any
# crash file. Exits 1 if any target found a crash, a leak or a timeout.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-fuzz
runs=1000000
work=/var/tmp/iovad-fuzz
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	-h|--help) sed -n '3,13p' "$0"; exit 0 ;;
	-*) echo "fuzz-long: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=(region vfio-caps profile conf state lease-journal sysfs bus)

bash "$src/tests/fuzz/setup.sh"
[ -d "$build" ] || CC=clang meson setup "$build" -Dfuzz=true -Dkernel-tests=false
ninja -C "$build" -j2 $(printf 'tests/fuzz/fuzz-%s ' "${targets[@]}")

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$work"
failed=0
summary=()
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/fuzz-$t
	seeds=$src/tests/fuzz/corpus/$t
	dict=$src/tests/fuzz/dict/$t.dict
	corpus=$work/corpus/$t
	log=$work/$t.log
	dict_opt=()
	[ -f "$dict" ] && dict_opt=(-dict="$dict")
	# A fresh corpus each run, so the figures are those of this run.
	rm -rf "$corpus"
	mkdir -p "$corpus" "$work/artifacts"
	echo "== fuzz-$t: $runs executions (log: $log)"
	start=$(date +%s.%N)
	rc=0
	"$bin" -runs="$runs" -error_exitcode=1 -timeout=25 -print_final_stats=1 "${dict_opt[@]}" \
		-artifact_prefix="$work/artifacts/$t-" "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
	cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\) .*/\1/p' <<<"$last")
	if [ "$rc" -eq 0 ]; then
		result=ok
	else
		result="FAILED (exit $rc; $(ls "$work/artifacts" | grep "^$t-" | tr '\n' ' '))"
		failed=1
	fi
	line=$(printf '%-14s %10s execs %6ss  cov %5s  ft %6s  corpus %-12s %s' \
		"$t" "${execs:-?}" "$secs" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")
	echo "$line"
	summary+=("$line")
done
echo "== summary (runs=$runs)"
printf '%s\n' "${summary[@]}"
exit $failed

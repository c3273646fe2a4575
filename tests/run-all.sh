#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole test suite from a fresh clone: installs dependencies, builds with
# warnings as errors, runs every tier (unit, bus, kernel, system), then builds again
# with AddressSanitizer and UndefinedBehaviorSanitizer and runs the unit and
# bus tiers once more, and last builds the fuzz targets with clang and runs
# each over its seed corpus (tests/fuzz/README.md). Run as root from the
# source tree.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
bash tests/setup-deps.sh

echo "== build (werror) =="
[ -d build-ci ] || meson setup build-ci -Dwerror=true
ninja -C build-ci
echo "== tests: unit, bus, kernel, system =="
meson test -C build-ci --print-errorlogs --num-processes 2

echo "== build (ASan + UBSan) =="
[ -d build-ci-asan ] || meson setup build-ci-asan -Dwerror=true -Db_sanitize=address,undefined \
	-Db_lundef=false -Dkernel-tests=false
ninja -C build-ci-asan
echo "== tests under ASan/UBSan: unit, bus =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-ci-asan --print-errorlogs --num-processes 2

echo "== build (clang, libFuzzer, ASan + UBSan) =="
bash tests/fuzz/setup.sh
[ -d build-ci-fuzz ] || CC=clang meson setup build-ci-fuzz -Dfuzz=true -Dkernel-tests=false
ninja -C build-ci-fuzz
echo "== fuzz: every target over its seed corpus =="
meson test -C build-ci-fuzz --suite fuzz --print-errorlogs --num-processes 2

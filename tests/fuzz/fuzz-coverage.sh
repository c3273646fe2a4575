#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Source coverage of the fuzz corpora: builds the targets once more with
# clang's source-based coverage, runs each over its seeds and the corpus a
# long run left (fuzz-long.sh's work directory), and prints line coverage
# of the functions each target is there for. See README.md.
#
#   tests/fuzz/fuzz-coverage.sh [--build DIR] [--work DIR] [TARGET...]
#
# DIR defaults to build-fuzz-cov in the source tree; the work directory to
# /var/tmp/iovad-fuzz (the seeds alone are used where it has no corpus).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-fuzz-cov
work=/var/tmp/iovad-fuzz
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	-h|--help) sed -n '3,11p' "$0"; exit 0 ;;
	-*) echo "fuzz-coverage: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=(region vfio-caps profile conf state lease-journal sysfs)

# The parser module of each target.
declare -A module=(
	[region]=region.c [vfio-caps]=vfio-caps.c [profile]=profile.c [conf]=conf.c
	[state]=state.c [lease-journal]=lease-journal.c [sysfs]=sysfs.c)
# The functions of that module that read the target's input.
declare -A funcs=(
	[region]='region_parse_line parse_hex_u64 skip_blank region_list_parse region_list_normalize range_list_usable range_align region_find_conflicts range_list_intersect region_list_format'
	[vfio-caps]='vfio_iommu_info_parse vfio_iommu_info_query parse_chain parse_cap_iova_range parse_cap_dma_avail parse_cap_migration'
	[profile]='profile_parse parse_root parse_group parse_device check_keys get_u64 get_bool get_hex fail path_join find_address'
	[conf]='config_parse get_u64 fail'
	[state]='state_parse get_u64 get_bool get_str get_u32_array bad state_format'
	[lease-journal]='lease_journal_load parse_add parse_hex name_ok grow bad lease_journal_new rewrite format_add'
	[sysfs]='sysfs_read_platform read_devices read_device read_groups read_group read_group_devices read_isolation read_attr read_link_name read_hex_attr parse_unsigned parse_hex_id line_of pci_address_valid hexval fail')

bash "$src/tests/fuzz/setup.sh" --coverage
flags='-fprofile-instr-generate -fcoverage-mapping'
[ -d "$build" ] || LLVM_PROFILE_FILE=/dev/null CC=clang meson setup "$build" -Dfuzz=true -Dkernel-tests=false \
	-Dc_args="$flags" -Dc_link_args="$flags"
# Programs the build runs are instrumented too: their profiles go nowhere.
LLVM_PROFILE_FILE=/dev/null ninja -C "$build" -j2 $(printf 'tests/fuzz/fuzz-%s ' "${targets[@]}")

prof=$(mktemp -d "${TMPDIR:-/tmp}/iovad-fuzz-cov.XXXXXX")
trap 'rm -rf "$prof"' EXIT
export ASAN_OPTIONS=detect_leaks=0
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/fuzz-$t
	dirs=("$src/tests/fuzz/corpus/$t")
	[ -d "$work/corpus/$t" ] && dirs=("$work/corpus/$t" "${dirs[@]}")
	n=$(find "${dirs[@]}" -type f | wc -l)
	LLVM_PROFILE_FILE="$prof/$t.profraw" "$bin" -runs=0 "${dirs[@]}" >/dev/null 2>&1
	llvm-profdata-14 merge -sparse "$prof/$t.profraw" -o "$prof/$t.profdata"
	echo "== fuzz-$t: $n inputs"
	llvm-cov-14 export -instr-profile="$prof/$t.profdata" "$bin" >"$prof/$t.json"
	python3 "$src/tests/fuzz/coverage-summary.py" "$prof/$t.json" "${module[$t]}" ${funcs[$t]}
done

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's layers call one way (docs/architecture.md): each folder of
# daemon/ may include only itself and the folders below it, always as
# "layer/file.h", and nothing below the bus glue may include sd-bus or
# sd-event. sd-journal is util/log.c's alone (it writes to the journal when
# stderr is the journal's stream). Fails naming every include that breaks
# the rule.
set -euo pipefail
daemon=${1:?usage: test-layers.sh DAEMON_DIR}
order=(util iommu platform backend persist model bus)
rank() {
	local i
	for i in "${!order[@]}"; do
		[ "${order[$i]}" = "$1" ] && { echo "$i"; return; }
	done
	echo -1
}
bad=0 checked=0
for layer in "${order[@]}"; do
	[ -d "$daemon/$layer" ] || { echo "missing layer folder $daemon/$layer"; bad=1; continue; }
	mine=$(rank "$layer")
	for f in "$daemon/$layer"/*.[ch]; do
		while IFS= read -r line; do
			checked=$((checked + 1))
			inc=${line#*\"}
			inc=${inc%\"*}
			case $inc in
			*/*)
				target=${inc%%/*}
				theirs=$(rank "$target")
				if [ "$theirs" -lt 0 ]; then
					echo "$f: includes \"$inc\" from no known layer"
					bad=1
				elif [ "$theirs" -gt "$mine" ]; then
					echo "$f: $layer includes \"$inc\" of the higher layer $target"
					bad=1
				fi
				;;
			config.h | iovad-errors.h) ;;
			iovad-bus.h)
				[ "$layer" = bus ] || { echo "$f: $layer includes the D-Bus contract iovad-bus.h"; bad=1; }
				;;
			*)
				echo "$f: includes \"$inc\" without its layer folder"
				bad=1
				;;
			esac
		done < <(grep -h '^#include "' "$f" || true)
		case $layer in
		util | iommu | platform | backend | persist)
			if [ "$f" != "$daemon/util/log.c" ] && grep -q '#include "util/log.h"' "$f"; then
				echo "$f: $layer logs (only the model, the bus glue and main.c do)"
				bad=1
			fi
			;;
		esac
		if [ "$f" != "$daemon/util/log.c" ] && grep -Hn '#include <systemd/sd-journal\.h>' "$f"; then
			echo "$f: uses sd-journal (only util/log.c writes to the journal)"
			bad=1
		fi
		if [ "$layer" != bus ] && grep -Hn '#include <systemd/sd-\(bus\|event\)\.h>' "$f"; then
			echo "$f: $layer uses sd-bus or sd-event"
			bad=1
		fi
	done
done
echo "checked $checked includes in ${#order[@]} layers"
[ "$checked" -gt 0 ] || { echo "no includes found below $daemon"; exit 1; }
exit "$bad"

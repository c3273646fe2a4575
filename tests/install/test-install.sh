#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The install test: installs this build with `meson install --destdir`, then
#  - reads every installed man page with man(1) and checks that it renders
#    and names what the code has: every option of `iovad --help`, every
#    command, option and exit status of `iovactl --help`, every key the
#    configuration parser takes, every method, property and error of the
#    D-Bus interfaces;
#  - starts iovad on a private bus (the bus tier's harness), creates
#    containers and a lease, and drives the installed bash completion as
#    bash does (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT, the function
#    `complete -p iovactl` names, COMPREPLY): commands, the options of each
#    command, live container names, PCI addresses, IOMMU groups and lease
#    ids, and nothing but the commands (and no noise) without a daemon.
# Meson passes where things go (IOVAD_MANDIR, IOVAD_BINDIR, IOVAD_LIBDIR,
# IOVAD_COMPLETIONSDIR: as configured, before DESTDIR) and which pages it
# built (IOVAD_MAN_PAGES).
#   meson test -C BUILD --suite install

: "${IOVAD_SOURCE:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=../bus/bus-env.sh
source "$IOVAD_SOURCE/tests/bus/bus-env.sh"

for v in IOVAD_MANDIR IOVAD_BINDIR IOVAD_LIBDIR IOVAD_COMPLETIONSDIR; do
	[ -n "${!v:-}" ] || fail "$v is not set (run through meson test)"
done
for prog in man meson; do
	command -v "$prog" >/dev/null || fail "$prog is not installed (tests/setup-deps.sh installs it)"
done
[ -r /usr/share/bash-completion/bash_completion ] ||
	fail "bash-completion is not installed (tests/setup-deps.sh installs it)"

checks=0
pass() {
	checks=$((checks + 1))
	echo "ok $checks - $*"
}

bus_env_start x86-vtd
dest=$ENV_DIR/destdir
mkdir -p "$dest"

# ---- meson install --destdir ---------------------------------------------

meson install -C "$IOVAD_BUILD" --no-rebuild --destdir "$dest" >"$ENV_DIR/install.log" 2>&1 ||
	fail "meson install --destdir failed (install.log)"
pass "meson install --destdir $dest"

mandir=$dest$IOVAD_MANDIR
bindir=$dest$IOVAD_BINDIR
completion=$dest$IOVAD_COMPLETIONSDIR/iovactl
[ -x "$bindir/iovactl" ] || fail "iovactl is not installed in $bindir"
# The installed programs find the installed libraries, if they link any.
export LD_LIBRARY_PATH=$dest$IOVAD_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# ---- man pages -----------------------------------------------------------

read -r -a pages <<<"${IOVAD_MAN_PAGES:-}"
for want in iovad.8 iovactl.1 iovad.conf.5 org.iovad1.5; do
	[[ " ${pages[*]} " == *" $want "* ]] ||
		fail "man page $want was not built: install scdoc (tests/setup-deps.sh) or configure with -Dman=enabled"
done
if [ -e "$IOVAD_SOURCE/docs/man/libiovad.3.scd" ]; then
	[[ " ${pages[*]} " == *" libiovad.3 "* ]] || fail "docs/man/libiovad.3.scd exists but libiovad.3 was not built"
fi

# What man -P cat prints for PAGE: no hyphenation, no justification, wide
# lines, so that names come out whole.
render() {
	local name=${1%.*} section=${1##*.}
	MANPATH=$mandir MANWIDTH=250 LC_ALL=C.UTF-8 MANOPT= man --nh --nj -P cat "$section" "$name" 2>"$ENV_DIR/man-$1.err"
}

# man_has PAGE TEXT WHAT: the rendered PAGE contains TEXT.
man_has() {
	grep -q -F -e "$2" "$ENV_DIR/man-$1.txt" || fail "$1 does not mention $3 '$2'"
}

for page in "${pages[@]}"; do
	[ -s "$mandir/man${page##*.}/$page" ] || fail "$page is not installed in $mandir/man${page##*.}"
	render "$page" >"$ENV_DIR/man-$page.txt" || fail "man could not render $page: $(cat "$ENV_DIR/man-$page.err")"
	if [ -s "$ENV_DIR/man-$page.err" ]; then
		fail "man printed warnings for $page: $(cat "$ENV_DIR/man-$page.err")"
	fi
	name=${page%.*}
	head -n 1 "$ENV_DIR/man-$page.txt" | grep -q -F "$name(${page##*.})" || fail "$page has no $name(${page##*.}) header"
	grep -q '^NAME' "$ENV_DIR/man-$page.txt" || fail "$page has no NAME section"
	if grep -q '@[A-Z_]*@' "$ENV_DIR/man-$page.txt"; then
		fail "$page has an unsubstituted @VARIABLE@"
	fi
	pass "man $page renders ($(wc -l <"$ENV_DIR/man-$page.txt") lines)"
done
# Nothing installed that was not listed.
installed=$(cd "$mandir" && find . -type f | sed 's|.*/||' | sort | tr '\n' ' ')
expected=$(printf '%s\n' "${pages[@]}" | sort | tr '\n' ' ')
[ "$installed" = "$expected" ] || fail "installed man pages '$installed', expected '$expected'"

# iovad(8): every option of iovad --help, the environment it reads, the exit status.
n=0
for opt in $("$IOVAD_BUILD/daemon/iovad" --help | grep -o -E -e '--[a-z][a-z-]*' | sort -u); do
	man_has iovad.8 "$opt" "iovad option"
	n=$((n + 1))
done
[ "$n" -ge 8 ] || fail "only $n options in iovad --help"
for env in $(grep -h -o -E 'getenv\("[A-Z_]+"\)|env_or\("[A-Z_]+"' "$IOVAD_SOURCE/daemon/main.c" \
	"$IOVAD_SOURCE/daemon/util/log.c" | grep -o -E '[A-Z_]{4,}' | sort -u) DBUS_SYSTEM_BUS_ADDRESS; do
	man_has iovad.8 "$env" "environment variable"
done
man_has iovad.8 "EXIT STATUS" "section"
man_has iovad.8 "$(sed -n 's/^#define IOVAD_CONFIG_FILE "\(.*\)"/\1/p' "$IOVAD_BUILD/config.h")" "configuration file"
man_has iovad.8 "$(sed -n 's/^#define IOVAD_STATE_DIR "\(.*\)"/\1/p' "$IOVAD_BUILD/config.h")" "state directory"
pass "iovad(8) has the $n options of iovad --help, its environment, files and exit status"

# iovactl(1): every command and option of iovactl --help, and its exit statuses.
"$bindir/iovactl" --help >"$ENV_DIR/iovactl-help.txt"
help_verbs=$(sed -n '/^Options:/q; s/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p' "$ENV_DIR/iovactl-help.txt")
[ "$(wc -w <<<"$help_verbs")" -ge 20 ] || fail "could not read the commands of iovactl --help: $help_verbs"
for verb in $help_verbs; do
	grep -q -E "^ {7}$verb( |$)" "$ENV_DIR/man-iovactl.1.txt" || fail "iovactl.1 has no entry for the command '$verb'"
done
for opt in $(grep -o -E -e '--[a-z][a-z-]*' "$ENV_DIR/iovactl-help.txt" | sort -u); do
	man_has iovactl.1 "$opt" "iovactl option"
done
for st in $(sed -n '/^Exit status:/,/^$/s/^  \([0-9]\)  .*/\1/p' "$ENV_DIR/iovactl-help.txt"); do
	grep -q -E "^ {7}$st$" "$ENV_DIR/man-iovactl.1.txt" || fail "iovactl.1 does not list exit status $st"
done
for env in $(sed -n '/^Environment:/,$s/^  \([A-Z_]*\) .*/\1/p' "$ENV_DIR/iovactl-help.txt"); do
	man_has iovactl.1 "$env" "environment variable"
done
pass "iovactl(1) has the $(wc -w <<<"$help_verbs") commands, options, exit statuses and environment of iovactl --help"

# iovad.conf(5): every key the parser takes (strcmp(key, "...") in conf.c).
n=0
for key in $(grep -o -E 'strcmp\([a-z]+, "[a-z_]+"\)' "$IOVAD_SOURCE/daemon/persist/conf.c" | sed 's/.*"\(.*\)".*/\1/' | sort -u); do
	man_has iovad.conf.5 "$key" "configuration key"
	n=$((n + 1))
done
[ "$n" -ge 7 ] || fail "only $n keys found in conf.c"
pass "iovad.conf(5) has the $n keys of the configuration parser"

# org.iovad1(5): every interface, method, property (introspection XML) and error.
n=0
for name in $(sed -n 's/.*<\(interface\|method\|property\) name="\([^"]*\)".*/\2/p' "$IOVAD_SOURCE"/dbus/org.iovad1.*.xml | sort -u) \
	$(grep -o -E '"org\.[a-zA-Z0-9.]+\.Error\.[A-Za-z]+"' "$IOVAD_SOURCE/dbus/iovad-errors.h" | tr -d '"' | sort -u); do
	man_has org.iovad1.5 "$name" "D-Bus name"
	n=$((n + 1))
done
[ "$n" -ge 60 ] || fail "only $n D-Bus names found"
for action in $(sed -n 's/.*<action id="\([^"]*\)".*/\1/p' "$IOVAD_SOURCE/policy/org.iovad1.policy"); do
	man_has org.iovad1.5 "$action" "polkit action"
done
pass "org.iovad1(5) has the $n interfaces, methods, properties and errors, and the polkit actions"

if [[ " ${pages[*]} " == *" libiovad.3 "* ]]; then
	man_has libiovad.3 libiovad "library name"
	pass "libiovad(3) is installed and renders"
fi

# ---- bash completion -----------------------------------------------------

[ -s "$completion" ] || fail "the bash completion is not installed at $completion"
pass "bash completion installed at $IOVAD_COMPLETIONSDIR/iovactl"

iovactl() { "$bindir/iovactl" "$@"; }
iovactl create vm1 --user 0 >/dev/null
iovactl create web.2 --user 0 >/dev/null
iovactl create db-3 --user 0 >/dev/null
iovactl attach vm1 5 >/dev/null
iovactl attach web.2 12 >/dev/null
lease_a=$(iovactl lease vm1 4K --persistent | sed -n 's|.*/org/iovad1/lease/\([0-9]*\)\..*|\1|p')
lease_b=$(iovactl lease web.2 64K --persistent | sed -n 's|.*/org/iovad1/lease/\([0-9]*\)\..*|\1|p')
[ -n "$lease_a" ] && [ -n "$lease_b" ] || fail "could not make the leases"

# complete LINE: the completions bash would offer at the end of LINE, one a
# line, from a fresh bash that loads bash-completion and the installed file,
# with the installed iovactl first on PATH. COMP_WORDS is split as bash
# splits it (at blanks, and ':' and '=' as words of their own).
complete_line() {
	env PATH="$bindir:$PATH" LINE="$1" COMPLETION="$completion" \
		bash --norc --noprofile -c '
		set -o pipefail
		source /usr/share/bash-completion/bash_completion
		source "$COMPLETION"
		# compopt works only while bash itself runs a completion; it sets
		# display options (nospace, filenames), which COMPREPLY does not show.
		compopt() { :; }
		func=$(complete -p iovactl | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
		[ -n "$func" ] || { echo "no completion function for iovactl" >&2; exit 1; }
		COMP_WORDS=() w=
		for ((i = 0; i < ${#LINE}; i++)); do
			c=${LINE:i:1}
			case $c in
			" ") [ -n "$w" ] && COMP_WORDS+=("$w"); w= ;;
			:|=) [ -n "$w" ] && COMP_WORDS+=("$w"); COMP_WORDS+=("$c"); w= ;;
			*) w+=$c ;;
			esac
		done
		COMP_WORDS+=("$w")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$LINE COMP_POINT=${#LINE} COMP_TYPE=9 COMP_KEY=9
		COMPREPLY=()
		"$func" iovactl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sed "/^$/d" | sort
	' 2>"$ENV_DIR/complete.err"
	local rc=$?
	[ ! -s "$ENV_DIR/complete.err" ] || fail "completing '$1' printed on stderr: $(cat "$ENV_DIR/complete.err")"
	return $rc
}

words() { printf '%s\n' "$@" | sort; }

# expect_exact LINE WORD...: the completions are exactly these.
expect_exact() {
	local line=$1 got want
	shift
	got=$(complete_line "$line") || fail "completing '$line' failed"
	want=$(words "$@")
	[ "$got" = "$want" ] || fail "completing '$line': got [$(echo $got)], expected [$(echo $want)]"
	pass "'$line' completes to [$(echo $got)]"
}

# expect_has LINE WORD...: the completions include these.
expect_has() {
	local line=$1 got w
	shift
	got=$(complete_line "$line") || fail "completing '$line' failed"
	for w in "$@"; do
		grep -q -x -F -e "$w" <<<"$got" || fail "completing '$line': '$w' is missing from [$(echo $got)]"
	done
	pass "'$line' offers $*"
}

# expect_lacks LINE WORD...: none of these.
expect_lacks() {
	local line=$1 got w
	shift
	got=$(complete_line "$line") || fail "completing '$line' failed"
	for w in "$@"; do
		if grep -q -x -F -e "$w" <<<"$got"; then
			fail "completing '$line' offers '$w', which does not apply"
		fi
	done
	pass "'$line' does not offer $*"
}

# Commands: exactly those of iovactl --help.
# shellcheck disable=SC2086
expect_exact "iovactl " $help_verbs
expect_exact "iovactl cre" create
expect_exact "iovactl --no-legend che" check-attach
expect_exact "iovactl --json=short lea" lease leases

# Global options, and the options of each command as iovactl --help lists them.
global=(--help --version --json --no-legend --no-ask-password)
expect_has "iovactl --" "${global[@]}" --json=pretty --json=short
expect_exact "iovactl --json=" pretty short
while read -r verb; do
	# The command's block in --help: its line and the indented lines under it.
	opts=$(awk -v v="$verb" '
		/^Options:/ { exit }
		/^  [a-z]/ { inblock = ($1 == v) }
		inblock' "$ENV_DIR/iovactl-help.txt" | { grep -o -E -e '--[a-z][a-z-]*' || true; } | sort -u)
	# shellcheck disable=SC2086
	expect_has "iovactl $verb --" "${global[@]}" $opts
	others=$(printf '%s\n' --user --reserve-peer-windows --align --limit --iova --persistent --readonly --hugepages --hold |
		grep -v -x -F -e "${opts:-none}")
	# shellcheck disable=SC2086
	expect_lacks "iovactl $verb --" $others
done <<<"$help_verbs"
expect_exact "iovactl map vm1 2M --r" --readonly
expect_has "iovactl create new --user " root
expect_exact "iovactl lease vm1 --align " ""

# Live values: containers.
containers=$(iovactl --no-legend containers | awk '{ print $1 }')
[ "$(wc -w <<<"$containers")" = 3 ] || fail "iovactl containers lists [$containers]"
for verb in show destroy layout leases lease map allocate attach detach check-attach; do
	# shellcheck disable=SC2086
	expect_exact "iovactl $verb " $containers
done
expect_exact "iovactl show w" web.2
expect_exact "iovactl --no-legend show --json d" db-3

# Devices and groups, as iovactl's table lists them.
addresses=$(iovactl --no-legend devices | awk '{ print $1 }')
groups=$(iovactl --no-legend devices | awk '{ print $2 }' | sort -n -u)
[ "$(wc -w <<<"$addresses")" -ge 10 ] || fail "iovactl devices lists [$addresses]"
for verb in device open bind unbind delegate undelegate open-delegated; do
	# shellcheck disable=SC2086
	expect_exact "iovactl $verb " $addresses
done
# A partial address: bash splits at ':', so the offers are what follows the last one.
expect_exact "iovactl device 0000:01:0" 00.0 00.1
expect_exact "iovactl open 0000:00:1f." 1f.0 1f.3 1f.4 1f.5
expect_has "iovactl delegate 0000:01:00.0 " root
for line in "iovactl group-regions " "iovactl peer-to-peer " "iovactl attach vm1 " "iovactl check-attach db-3 "; do
	# shellcheck disable=SC2086
	expect_exact "$line" $groups
done
expect_exact "iovactl detach vm1 " 5
expect_exact "iovactl detach web.2 " 12
expect_exact "iovactl detach db-3 " ""

# Leases, by id.
expect_exact "iovactl release " "$lease_a" "$lease_b"

# Nothing after the last argument; a command after open-delegated's --.
expect_exact "iovactl show vm1 " ""
expect_has "iovactl open-delegated 0000:01:00.0 -- bas" bash

# No daemon: the commands and options still, no live values, and no noise.
iovad_stop
expect_exact "iovactl show " ""
expect_exact "iovactl device " ""
# shellcheck disable=SC2086
expect_exact "iovactl " $help_verbs
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$ENV_DIR/no-such.sock expect_exact "iovactl release " ""
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$ENV_DIR/no-such.sock expect_has "iovactl lease --" --align --hold

bus_env_stop
echo "$checks checks passed"

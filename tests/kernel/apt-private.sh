# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Sourced by fetch-kernel.sh and sysroot.sh: apt-get and apt-cache with
# private package lists, so that the tier can fetch packages of another
# architecture (arm64) or suite (bookworm-backports) without touching the
# machine's apt configuration or dpkg's architectures.
#
#   apt_private ARCH DIR
#
# sets the arrays APT_GET and APT_CACHE to apt-get and apt-cache with the
# lists, the package cache and the sources in DIR, for packages of ARCH only.
# The sources are the machine's own Debian mirrors (read from its apt
# configuration at run time) for its bookworm suites (bookworm,
# bookworm-updates, bookworm-security, as configured) plus bookworm-backports
# on the mirror that serves bookworm, component main, checked against
# debian-archive-keyring. The installed packages (dpkg's status) and the
# machine's pinning are not consulted: what a candidate is depends on the
# archive alone.
#
#   apt_private_update
#
# downloads the package lists (needs write access to DIR; as root on a fresh
# machine). The lists are fetched once, then only when apt_private_update is
# called again, which the callers do when a download fails (a stale list
# names a package the mirror has dropped).

apt_private() {
	local arch=$1 dir=$2 site release keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$dir/sources" "$dir/preferences" "$dir/lists/partial" "$dir/cache/archives/partial"
	local o=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$dir/sources"
		 -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$dir/preferences"
		 -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache"
		 -o Dir::Cache::pkgcache="$dir/cache/pkgcache.bin"
		 -o Dir::Cache::srcpkgcache="$dir/cache/srcpkgcache.bin"
		 -o Dir::State::status=/dev/null
		 -o APT::Architecture="$arch" -o APT::Architectures="$arch"
		 -o APT::Sandbox::User=root -o Acquire::Languages=none)
	APT_GET=(apt-get -q "${o[@]}")
	APT_CACHE=(apt-cache "${o[@]}")
	APT_PRIVATE_DIR=$dir

	[ -f "$keyring" ] || { echo "apt-private: $keyring is missing (debian-archive-keyring)" >&2; return 1; }
	# The sources are made again when the machine's apt sources changed.
	local list=$dir/sources/iovad-kernel.list.new backports=
	if [ -s "$dir/sources/iovad-kernel.list" ] && ls "$dir/lists/"*_Packages* > /dev/null 2>&1 &&
	   [ -z "$(find /etc/apt/sources.list /etc/apt/sources.list.d -newer "$dir/sources/iovad-kernel.list" 2>/dev/null)" ]; then
		return 0
	fi
	# One line per (mirror, suite) of the machine's own configuration.
	: > "$list"
	while read -r site release; do
		case $release in
		bookworm | bookworm-updates | bookworm-security) ;;
		*) continue ;;
		esac
		site=${site%/}
		echo "deb [arch=$arch signed-by=$keyring] $site $release main" >> "$list"
		[ "$release" = bookworm ] && backports=$site
	done < <(apt-get indextargets --no-release-info --format '$(SITE) $(RELEASE)' 2>/dev/null | sort -u)
	if [ -z "$backports" ]; then
		rm -f "$list"
		echo "apt-private: the machine's apt sources name no Debian 'bookworm' suite" >&2
		return 1
	fi
	echo "deb [arch=$arch signed-by=$keyring] $backports bookworm-backports main" >> "$list"
	# New sources need new lists; the same ones only a fresh timestamp.
	cmp -s "$list" "$dir/sources/iovad-kernel.list" ||
		rm -f "$dir/lists/"*_Packages* "$dir/lists/"*Release*
	mv "$list" "$dir/sources/iovad-kernel.list"
	# Lists never fetched (or the sources changed): fetch them now.
	if ! ls "$dir/lists/"*_Packages* > /dev/null 2>&1; then
		apt_private_update || return 1
	fi
}

apt_private_update() {
	echo "apt-private: fetching the package lists into $APT_PRIVATE_DIR/lists" >&2
	"${APT_GET[@]}" -qq update >&2
}

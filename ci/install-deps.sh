#!/bin/sh
# Installs (as root) or names (as anyone else) the Debian packages punchlab needs.
# Called by the Makefile before the first build; fast when everything is present.
# Usage: ci/install-deps.sh [build|fuzz|lab]...
set -eu

build_pkgs="gcc make pkg-config libnl-3-dev libnl-route-3-dev libnftables-dev libjson-c-dev libinih-dev libcmocka-dev libpcap-dev"
lab_pkgs="nftables iproute2 jq libxml2-utils perl python3 strace tcpdump tshark iputils-ping nebula"
fuzz_pkgs="clang libclang-rt-dev"

want=""
[ $# -eq 0 ] && set -- build lab
for what in "$@"; do
	case "$what" in
	build) want="$want $build_pkgs" ;;
	lab) want="$want $lab_pkgs" ;;
	fuzz) want="$want $fuzz_pkgs" ;;
	*) echo "install-deps: unknown group '$what' (build, lab, fuzz)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "punchlab needs these Debian packages:$missing" >&2
	echo "install them with:  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "punchlab: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2

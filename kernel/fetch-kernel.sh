#!/usr/bin/env bash
# fetch-kernel.sh SERIES - cache Debian's kernel image of SERIES (6.1, 6.12)
# for booting under QEMU (kernel/vm.c, koff-vm).
#
# Downloads the newest signed linux-image-SERIES...-amd64 package that apt
# knows (apt-get update first), and extracts its boot/vmlinuz-* to
#	${KOFF_KERNEL_DIR:-/var/cache/koff/kernels}/SERIES/vmlinuz
# with SERIES/version holding the exact release (what `uname -r` says in the
# guest).  Does nothing when the image is already cached.  Prints the image's
# path; on failure one line "fetch-kernel.sh: ..." and exit status 1.
set -euo pipefail

die() { echo "fetch-kernel.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: fetch-kernel.sh SERIES   (SERIES: 6.1 or 6.12)"
series=$1
[[ "$series" =~ ^[0-9]+\.[0-9]+$ ]] || die "'$series' is not a kernel series like 6.1 or 6.12"

dest="${KOFF_KERNEL_DIR:-/var/cache/koff/kernels}/$series"
if [ -s "$dest/vmlinuz" ] && [ -s "$dest/version" ]; then
	echo "$dest/vmlinuz"
	exit 0
fi

command -v apt-cache >/dev/null && command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
	die "needs apt-get, apt-cache and dpkg-deb (Debian)"

# Debian names its images linux-image-6.1.0-57-amd64 (6.1) or
# linux-image-6.12.117+deb12-amd64 (6.12, backports style); the flavours
# -cloud-, -rt-, -dbg and -unsigned do not match.
esc=${series//./\\.}
pattern="^linux-image-${esc}(\\.[0-9]+)?(-[0-9]+|\\+deb[0-9]+)?-amd64\$"
package=$(apt-cache search --names-only "$pattern" 2>/dev/null | awk '{print $1}' |
	grep -E "$pattern" | sort -V | tail -n 1) || true
[ -n "$package" ] || die "no package matching $pattern in apt's lists (run apt-get update?)"

work=$(mktemp -d "${TMPDIR:-/tmp}/koff-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user must be able to write here.
chmod 755 "$work"
(cd "$work" && apt-get download -qq "$package" >/dev/null 2>"$work/apt.err") ||
	die "apt-get download $package failed: $(tail -n 1 "$work/apt.err")"
deb=$(ls "$work"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download $package produced no .deb"
dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"
image=$(ls "$work"/root/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$image" ] || die "$package has no boot/vmlinuz-*"
release=${image##*/vmlinuz-}

mkdir -p "$dest" || die "cannot create $dest"
# Rename into place so that a reader never sees half an image.
cp "$image" "$dest/vmlinuz.tmp.$$" && mv "$dest/vmlinuz.tmp.$$" "$dest/vmlinuz" ||
	die "cannot write $dest/vmlinuz"
echo "$release" >"$dest/version.tmp.$$" && mv "$dest/version.tmp.$$" "$dest/version" ||
	die "cannot write $dest/version"
echo "$dest/vmlinuz"

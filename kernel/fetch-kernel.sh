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
#
# Beside it, when it can, SERIES/vmlinux: the same kernel decompressed, an
# ELF that QEMU boots through its PVH entry.  Under TCG the decompressor
# is slow (6.1's xz: 10 s of CPU per boot instead of 4.5 s), so
# vm_image_for() prefers it.  Without xz/zstd/gzip or a PVH note there is
# no vmlinux and boots use vmlinuz.
set -euo pipefail

die() { echo "fetch-kernel.sh: $*" >&2; exit 1; }

# The payload of a bzImage: the first xz, zstd or gzip stream in it.
decompress_payload() {
	local image=$1 best="" tool="" off kind
	for kind in "xz:$(printf '\3757zXZ')" "zstd:$(printf '\050\265\057\375')" "gzip:$(printf '\037\213\010')"; do
		off=$(LC_ALL=C grep -abo -m1 -- "${kind#*:}" "$image" 2>/dev/null | head -n 1 | cut -d: -f1) || true
		if [ -n "$off" ] && { [ -z "$best" ] || [ "$off" -lt "$best" ]; }; then
			best=$off tool=${kind%%:*}
		fi
	done
	[ -n "$best" ] && command -v "$tool" >/dev/null || return 1
	# The stream is followed by the bzImage's trailer: ignore the complaint.
	tail -c +$((best + 1)) "$image" | "$tool" -dc 2>/dev/null || true
}

# SERIES/vmlinux from SERIES/vmlinuz, when it is an ELF with a PVH entry
# (Xen note 0x12) that QEMU can boot.
make_vmlinux() {
	local tmp="$dest/vmlinux.tmp.$$"
	[ -s "$dest/vmlinux" ] && return 0
	command -v readelf >/dev/null || return 0
	decompress_payload "$dest/vmlinuz" >"$tmp" 2>/dev/null &&
		[ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] &&
		readelf -n "$tmp" 2>/dev/null | grep -q 'Xen.*0x00000012' &&
		mv "$tmp" "$dest/vmlinux" 2>/dev/null || rm -f "$tmp"
}

[ $# -eq 1 ] || die "usage: fetch-kernel.sh SERIES   (SERIES: 6.1 or 6.12)"
series=$1
[[ "$series" =~ ^[0-9]+\.[0-9]+$ ]] || die "'$series' is not a kernel series like 6.1 or 6.12"

dest="${KOFF_KERNEL_DIR:-/var/cache/koff/kernels}/$series"
if [ -s "$dest/vmlinuz" ] && [ -s "$dest/version" ]; then
	make_vmlinux
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

work=$(mktemp -d "${TMPDIR:-/tmp}/koff-fetch.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user must be able to write here.
chmod 755 "$work"
(cd "$work" && apt-get download -qq "$package" >/dev/null 2>"$work/apt.err") ||
	die "apt-get download $package failed: $(tail -n 1 "$work/apt.err")"
deb=$(ls "$work"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download $package produced no .deb"
dpkg-deb -x "$deb" "$work/root" 2>/dev/null || die "dpkg-deb -x $deb failed"
image=$(ls "$work"/root/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$image" ] || die "$package has no boot/vmlinuz-*"
release=${image##*/vmlinuz-}

mkdir -p "$dest" 2>/dev/null || die "cannot create $dest"
# Rename into place so that a reader never sees half an image.
{ cp "$image" "$dest/vmlinuz.tmp.$$" && mv "$dest/vmlinuz.tmp.$$" "$dest/vmlinuz"; } 2>/dev/null ||
	{ rm -f "$dest/vmlinuz.tmp.$$"; die "cannot write $dest/vmlinuz"; }
{ echo "$release" >"$dest/version.tmp.$$" && mv "$dest/version.tmp.$$" "$dest/version"; } 2>/dev/null ||
	{ rm -f "$dest/version.tmp.$$"; die "cannot write $dest/version"; }
make_vmlinux
echo "$dest/vmlinuz"

#!/bin/sh
# scripts/deb/build.sh STAGE OUTDIR: the Debian package of what `make install
# DESTDIR=STAGE PREFIX=/usr` put in STAGE (make deb runs both), written to
# OUTDIR/mtlsd_VERSION_ARCH.deb; prints that path last.
#
# Debian's layout on top of make install's: the binary stripped, man pages
# and the changelog gzipped, DEBIAN/ from this directory (control with the version from
# changelog and Depends from dpkg-shlibdeps, conffiles, maintainer scripts,
# md5sums).  dpkg-deb makes every file root's, so no fakeroot is needed.
set -eu
mkdir -p "$2"
STAGE=$(cd "$1" && pwd)
OUT=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
DOC="$STAGE/usr/share/doc/mtlsd"

die() { echo "deb: $*" >&2; exit 1; }
for t in dpkg-deb dpkg-shlibdeps dpkg-parsechangelog; do
	command -v $t >/dev/null || die "$t not found (Debian: apt-get install dpkg-dev)"
done
[ -x "$STAGE/usr/sbin/mtlsd" ] || die "$STAGE/usr/sbin/mtlsd missing: run make deb"

version=$(dpkg-parsechangelog -l "$HERE/changelog" -S Version)
arch=$(dpkg --print-architecture)
# The package must carry the release the binary says it is.
binver=$("$STAGE/usr/sbin/mtlsd" version | sed -n '1s/^mtlsd //p')
[ "$binver" = "$version" ] ||
	die "scripts/deb/changelog says $version, mtlsd version says $binver"

# As dh_strip does for an executable; the symbols stay in the build tree.
strip --remove-section=.comment --remove-section=.note "$STAGE/usr/sbin/mtlsd"
find "$STAGE/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +
gzip -9n -c "$HERE/changelog" > "$DOC/changelog.gz"

# dpkg-shlibdeps wants a debian/control to read; a scratch one does.
work="$OUT/shlibs"
rm -rf "$work" && mkdir -p "$work/debian"
printf 'Source: mtlsd\n\nPackage: mtlsd\nArchitecture: any\n' > "$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O "-e$STAGE/usr/sbin/mtlsd" 2>"$work/warnings" |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { cat "$work/warnings" >&2; die "dpkg-shlibdeps found no dependencies"; }

chmod -R u+rwX,go+rX,go-w "$STAGE"
size=$(du -sk "$STAGE" | cut -f1)
mkdir -p "$STAGE/DEBIAN"
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" \
    -e "s|@DEPENDS@|$depends|" "$HERE/control.in" > "$STAGE/DEBIAN/control"
install -m 0644 "$HERE/conffiles" "$STAGE/DEBIAN/conffiles"
install -m 0755 "$HERE/postinst" "$HERE/prerm" "$HERE/postrm" "$STAGE/DEBIAN/"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' |
	LC_ALL=C sort | xargs md5sum) > "$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums"

deb="$OUT/mtlsd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$deb" >/dev/null
echo "$deb"

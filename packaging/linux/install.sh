#!/bin/sh
# Installs the ScreenScribe bundle from this unpacked tarball for one user (or, with
# PREFIX, anywhere): the bundle, a `screenscribe` command, the menu entry and the icons.
#
#     ./install.sh                  # into ~/.local (~/.local/bin should be on PATH)
#     PREFIX=/opt/screenscribe sudo -E ./install.sh
#     ./install.sh --uninstall      # removes what it installed
set -eu

APP_ID=io.github.screenscribe.ScreenScribe
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${PREFIX:-$HOME/.local}"
LIB="$PREFIX/lib/screenscribe"
BIN="$PREFIX/bin/screenscribe"
SHARE="$PREFIX/share"

refresh() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$SHARE/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$LIB"
  rm -f "$BIN" "$SHARE/applications/$APP_ID.desktop" "$SHARE/metainfo/$APP_ID.metainfo.xml"
  rm -f "$SHARE"/icons/hicolor/*/apps/"$APP_ID".png "$SHARE/icons/hicolor/scalable/apps/$APP_ID.svg"
  refresh
  echo "ScreenScribe removed from $PREFIX"
  exit 0
fi

[ -x "$HERE/screenscribe/screenscribe" ] || { echo "install.sh: run it from the unpacked tarball" >&2; exit 1; }
rm -rf "$LIB"
mkdir -p "$(dirname "$LIB")" "$(dirname "$BIN")" "$SHARE/applications" "$SHARE/metainfo"
cp -a "$HERE/screenscribe" "$LIB"
ln -sf "$LIB/screenscribe" "$BIN"
# The menu entry starts this copy by its full path: ~/.local/bin is not always on the
# PATH that a desktop session gives its launcher.
sed "s|^Exec=screenscribe|Exec=$LIB/screenscribe|" \
  "$HERE/share/applications/$APP_ID.desktop" > "$SHARE/applications/$APP_ID.desktop"
cp "$HERE/share/metainfo/$APP_ID.metainfo.xml" "$SHARE/metainfo/"
(cd "$HERE/share" && find icons -type f) | while read -r icon; do
  mkdir -p "$SHARE/$(dirname "$icon")"
  cp "$HERE/share/$icon" "$SHARE/$icon"
done
refresh
echo "ScreenScribe installed: $BIN (menu entry: $SHARE/applications/$APP_ID.desktop)"
case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "note: $PREFIX/bin is not on your PATH; run $BIN or add it" ;;
esac

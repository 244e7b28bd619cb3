#!/usr/bin/env bash
# Builds the Linux bundle of ScreenScribe in one command:
#
#     packaging/linux/build.sh [--venv DIR] [--no-tarball]
#
# 1. a build virtual environment (default build/linux-venv, reused between runs; --venv
#    names another, e.g. --venv .venv to build from the development one) with ScreenScribe's
#    dependencies and PyInstaller from PyPI;
# 2. PyInstaller's onedir bundle from packaging/pyinstaller/screenscribe.spec:
#    dist/screenscribe/ (run dist/screenscribe/screenscribe);
# 3. an AppDir (build/ScreenScribe.AppDir: AppRun, the .desktop file, the icons and the
#    AppStream metainfo around the bundle) and, when appimagetool is on PATH or named by
#    $APPIMAGETOOL, dist/ScreenScribe-VERSION-ARCH.AppImage made from it;
# 4. dist/screenscribe-VERSION-linux-ARCH.tar.gz: the bundle, the desktop files and
#    install.sh (installs to ~/.local, or to PREFIX).
#
# Then packaging/linux/smoke.sh proves the bundle runs. Needs python3 (3.11+, built with
# a shared libpython, as Debian's and pyenv's --enable-shared are) and the network to PyPI.
# Build on the oldest distribution you support: the bundle carries the build machine's
# libxcb, libxkbcommon and friends but uses the user's glibc.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

APP_ID=io.github.screenscribe.ScreenScribe
VENV=build/linux-venv
TARBALL=1
PYINSTALLER_SPEC='pyinstaller>=6.10,<7'  # the spec wraps a PyInstaller 6 Qt-hook function

while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    --no-tarball) TARBALL=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

start=$(date +%s)
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' desktop_app/__init__.py)
ARCH=$(uname -m)
[ -n "$VERSION" ] || { echo "build.sh: no __version__ in desktop_app/__init__.py" >&2; exit 1; }

# --- 1. the build environment -------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  echo "build.sh: creating $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
  || { echo "build.sh: $VENV needs Python 3.11 or newer" >&2; exit 1; }
"$PY" -c 'import sysconfig, sys; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' \
  || { echo "build.sh: $PY has no shared libpython; PyInstaller needs one" >&2; exit 1; }
echo "build.sh: installing ScreenScribe's dependencies and $PYINSTALLER_SPEC into $VENV"
"$PY" -m pip install -q --disable-pip-version-check . "$PYINSTALLER_SPEC"

# --- 2. the onedir bundle -------------------------------------------------------------------
echo "build.sh: PyInstaller"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/pyinstaller/screenscribe.spec
BUNDLE=dist/screenscribe
"$BUNDLE/screenscribe" --version

# --- 3. the AppDir and, with appimagetool, the AppImage ------------------------------------
APPDIR=build/ScreenScribe.AppDir
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/bin" "$APPDIR/usr/share/applications" \
  "$APPDIR/usr/share/metainfo"
cp -a "$BUNDLE" "$APPDIR/usr/lib/screenscribe"
ln -s ../lib/screenscribe/screenscribe "$APPDIR/usr/bin/screenscribe"
install -m 755 packaging/linux/AppRun "$APPDIR/AppRun"
install -m 644 "resources/$APP_ID.desktop" "$APPDIR/usr/share/applications/"
ln -s "usr/share/applications/$APP_ID.desktop" "$APPDIR/$APP_ID.desktop"
install -m 644 "resources/$APP_ID.metainfo.xml" "$APPDIR/usr/share/metainfo/"
for size in 64x64 128x128 256x256; do
  install -D -m 644 "resources/icons/hicolor/$size/apps/$APP_ID.png" \
    "$APPDIR/usr/share/icons/hicolor/$size/apps/$APP_ID.png"
done
install -D -m 644 "resources/icons/$APP_ID.svg" \
  "$APPDIR/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
cp "resources/icons/hicolor/256x256/apps/$APP_ID.png" "$APPDIR/$APP_ID.png"
ln -s "$APP_ID.png" "$APPDIR/.DirIcon"

APPIMAGETOOL="${APPIMAGETOOL:-$(command -v appimagetool || true)}"
if [ -n "$APPIMAGETOOL" ]; then
  echo "build.sh: $APPIMAGETOOL"
  ARCH="$ARCH" "$APPIMAGETOOL" --no-appstream "$APPDIR" "dist/ScreenScribe-$VERSION-$ARCH.AppImage"
else
  echo "build.sh: no appimagetool (on PATH or \$APPIMAGETOOL): $APPDIR is ready for"
  echo "          ARCH=$ARCH appimagetool $APPDIR dist/ScreenScribe-$VERSION-$ARCH.AppImage"
fi

# --- 4. the tarball ----------------------------------------------------------------------------
if [ "$TARBALL" = 1 ]; then
  NAME="screenscribe-$VERSION-linux-$ARCH"
  STAGE="build/$NAME"
  rm -rf "$STAGE"
  mkdir -p "$STAGE"
  cp -a "$BUNDLE" "$STAGE/screenscribe"
  cp -a "$APPDIR/usr/share" "$STAGE/share"
  install -m 755 packaging/linux/install.sh "$STAGE/install.sh"
  # Reproducible: sorted names, no owner, the last commit's time on every file.
  epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
  compress=gzip
  command -v pigz >/dev/null && compress=pigz
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C build -cf - "$NAME" | "$compress" -n -6 > "dist/$NAME.tar.gz"
  rm -rf "$STAGE"
  echo "build.sh: dist/$NAME.tar.gz ($(du -m "dist/$NAME.tar.gz" | cut -f1) MB)"
fi

echo "build.sh: $BUNDLE is $(du -sm "$BUNDLE" | cut -f1) MB; built in $(( $(date +%s) - start )) s"

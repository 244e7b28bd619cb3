#!/usr/bin/env bash
# Builds the macOS app of ScreenScribe in one command (Python 3.11+ from python.org or
# Homebrew, Xcode command line tools):
#
#     packaging/macos/build.sh
#
# Leaves dist/ScreenScribe.app (Info.plist from packaging/pyinstaller/screenscribe.spec:
# LSUIElement, a menu-bar app with no Dock icon) and dist/ScreenScribe-VERSION-macos-ARCH.zip.
# Signing: ad hoc unless SCREENSCRIBE_CODESIGN_IDENTITY names a Developer ID (then
# notarize the zip with `xcrun notarytool submit`). macOS remembers the Screen Recording
# permission per signature: an ad hoc build asks again after every rebuild.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' desktop_app/__init__.py)
VENV=build/macos-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check . 'pyinstaller>=6.10,<7'
"$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/pyinstaller/screenscribe.spec
APP=dist/ScreenScribe.app
BIN="$APP/Contents/MacOS/screenscribe"
"$BIN" --version
read_text=$("$BIN" ocr --engine local tests/data/ocr/single_line_13px.png)
[ "$read_text" = "$(cat tests/data/ocr/single_line_13px.txt)" ] \
  || { echo "build.sh: offline OCR in the app read: $read_text" >&2; exit 1; }
/usr/libexec/PlistBuddy -c 'Print :LSUIElement' "$APP/Contents/Info.plist"
ZIP="dist/ScreenScribe-$VERSION-macos-$(uname -m).zip"
rm -f "$ZIP"
ditto -c -k --sequesterRsrc --keepParent "$APP" "$ZIP"
echo "build.sh: $ZIP"

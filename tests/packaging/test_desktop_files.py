"""The files a desktop reads: the .desktop entry, the AppStream metainfo and the icons.

The entry and the metainfo are checked by the freedesktop validators themselves
(``desktop-file-validate`` from desktop-file-utils, ``appstreamcli`` from appstream),
on the layout a distribution package or a Flatpak installs them in; each check is also
run on a broken copy, to show that it fails.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from desktop_app import __version__
from desktop_app.resources import APP_ID

ROOT = Path(__file__).resolve().parent.parent.parent
RESOURCES = ROOT / "resources"
DESKTOP = RESOURCES / f"{APP_ID}.desktop"
METAINFO = RESOURCES / f"{APP_ID}.metainfo.xml"
SVG = RESOURCES / "icons" / f"{APP_ID}.svg"
PNG_SIZES = (64, 128, 256)


def png(size: int) -> Path:
    return RESOURCES / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (.ci/run installs it)")
    return path


def install_tree(root: Path, desktop: Path = DESKTOP, metainfo: Path = METAINFO) -> Path:
    """The files where a package installs them, under ``root/usr/share``."""
    share = root / "usr" / "share"
    for src, folder in ((desktop, "applications"), (metainfo, "metainfo")):
        (share / folder).mkdir(parents=True)
        shutil.copy(src, share / folder / src.name)
    for size in PNG_SIZES:
        dest = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        dest.mkdir(parents=True)
        shutil.copy(png(size), dest)
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copy(SVG, scalable)
    return root


# --- the .desktop entry ----------------------------------------------------------------


def desktop_file_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("desktop-file-validate", "desktop-file-utils"), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_desktop_entry_is_valid() -> None:
    p = desktop_file_validate(DESKTOP)
    # errors and warnings fail; hints (suggestions) would be listed, and there are none
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout + p.stderr == ""


def test_desktop_file_validate_catches_a_broken_entry(tmp_path: Path) -> None:
    broken = tmp_path / DESKTOP.name
    text = DESKTOP.read_text(encoding="utf-8")
    broken.write_text(text.replace("Type=Application\n", "").replace("Name=", "Nmae="), "utf-8")
    p = desktop_file_validate(broken)
    assert p.returncode != 0
    assert 'required key "Type"' in p.stdout
    assert 'required key "Name"' in p.stdout


def test_desktop_entry_starts_the_installed_command_with_the_app_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    entry.read(DESKTOP, encoding="utf-8")
    group = entry["Desktop Entry"]
    assert group["Type"] == "Application"
    assert group["Exec"] == "screenscribe"  # the console script of pyproject.toml
    assert group["Icon"] == APP_ID
    assert group["Terminal"] == "false"
    assert "OCR" in group["Categories"].split(";")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^screenscribe = "desktop_app\.launcher:main"$', pyproject, re.M)


# --- the AppStream metainfo ------------------------------------------------------------


def appstream_version() -> tuple[int, ...]:
    out = subprocess.run(
        [tool("appstreamcli", "appstream"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    assert match, out
    return tuple(int(n) for n in match.groups())


_ISSUE = re.compile(r"^\s*([EWIP]): [^:]+:[^:]*: (\S+)(?: (.*))?$")


def validate_tree(root: Path) -> tuple[int, set[tuple[str, str, str]], str]:
    """``appstreamcli validate-tree``: its exit status, the issues it listed
    (severity, tag, hint) and its whole output."""
    p = subprocess.run(
        [tool("appstreamcli", "appstream"), "validate-tree", "--no-net", "--pedantic", str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    issues = set()
    for line in p.stdout.splitlines():
        m = _ISSUE.match(line)
        if m:
            issues.add((m[1], m[2], (m[3] or "").strip()))
    return p.returncode, issues, p.stdout + p.stderr


def allowed_issues() -> set[tuple[str, str, str]]:
    # The id is decided (reverse DNS with the app's name, as Flathub writes them).
    allowed = {("P", "cid-contains-uppercase-letter", "")}
    if appstream_version() < (1, 0, 0):
        # <developer id=…><name> is AppStream 1.0's; 0.16 (Debian 12) does not know it yet.
        allowed.add(("I", "unknown-tag", "developer"))
    return allowed


def test_metainfo_is_valid_with_its_desktop_entry_and_icons(tmp_path: Path) -> None:
    code, issues, out = validate_tree(install_tree(tmp_path))
    assert code == 0, out
    assert "Validation was successful" in out
    # as strict as the validator can be, errors, warnings and infos alike
    assert {
        (sev, tag, hint if tag != "cid-contains-uppercase-letter" else "")
        for sev, tag, hint in issues
    } <= allowed_issues(), out


def test_appstream_validation_catches_a_broken_metainfo(tmp_path: Path) -> None:
    broken = tmp_path / "broken" / METAINFO.name
    broken.parent.mkdir()
    text = METAINFO.read_text(encoding="utf-8")
    text = re.sub(r"\s*<summary>.*?</summary>", "", text)
    text = text.replace("<content_rating", "<contnet_rating")
    broken.write_text(text, encoding="utf-8")
    code, issues, out = validate_tree(install_tree(tmp_path / "tree", metainfo=broken))
    assert code != 0
    tags = {tag for _, tag, _ in issues}
    assert "component-summary-missing" in tags, out
    assert "unknown-tag" in tags, out


def test_appstream_validation_needs_the_desktop_entry_it_launches(tmp_path: Path) -> None:
    root = install_tree(tmp_path)
    (root / "usr" / "share" / "applications" / DESKTOP.name).unlink()
    code, issues, out = validate_tree(root)
    assert code != 0
    assert ("W", "desktop-file-not-found", "") in issues, out


def test_metainfo_names_this_app_its_command_and_this_version() -> None:
    component = ET.parse(METAINFO).getroot()
    assert component.get("type") == "desktop-application"
    assert component.findtext("id") == APP_ID
    launchable = component.find("launchable")
    assert launchable is not None
    assert launchable.get("type") == "desktop-id"
    assert launchable.text == DESKTOP.name
    assert [b.text for b in component.iterfind("provides/binary")] == ["screenscribe"]
    releases = [r.get("version") for r in component.iterfind("releases/release")]
    assert releases[0] == __version__  # the newest release first, and it is this one
    assert component.find("content_rating") is not None
    for image in component.iterfind("screenshots/screenshot/image"):
        # the screenshots are the docs' (placeholder URL until the project is public)
        assert image.text
        name = image.text.rsplit("/", 1)[-1]
        assert (ROOT / "docs" / name).is_file(), image.text
        with Image.open(ROOT / "docs" / name) as im:
            assert (str(im.width), str(im.height)) == (image.get("width"), image.get("height"))


# --- the icons -------------------------------------------------------------------------


def test_png_icons_have_their_sizes() -> None:
    for size in PNG_SIZES:
        with Image.open(png(size)) as im:
            assert im.format == "PNG"
            assert im.size == (size, size)
            assert im.mode == "RGBA"
            alpha = im.getchannel("A")
            assert alpha.getpixel((0, 0)) == 0  # rounded corners: transparent
            assert alpha.getpixel((size // 2, size // 5)) == 255


@pytest.mark.usefixtures("qapp")
def test_png_icons_are_what_the_svg_renders(tmp_path: Path) -> None:
    """Re-render with resources/icons/make_icons.py after changing the SVG."""
    spec = importlib.util.spec_from_file_location(
        "make_icons", RESOURCES / "icons" / "make_icons.py"
    )
    assert spec is not None
    assert spec.loader is not None
    make_icons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icons)
    for size in PNG_SIZES:
        assert make_icons.png_path(size) == png(size)
        fresh = tmp_path / f"{size}.png"
        assert make_icons.render(size).save(str(fresh))
        with Image.open(png(size)) as committed, Image.open(fresh) as rendered:
            diff = ImageChops.difference(committed.convert("RGBA"), rendered.convert("RGBA"))
        # another Qt's renderer may anti-alias an edge a little differently, but no more
        # than a few pixels may differ clearly
        channels = diff.split()
        clear = ImageChops.lighter(
            ImageChops.lighter(channels[0], channels[1]), ImageChops.lighter(*channels[2:])
        ).point(lambda v: 255 if v > 64 else 0)
        assert clear.histogram()[255] <= size * size // 500, (
            f"{png(size)} is not what the SVG renders: run make_icons.py"
        )

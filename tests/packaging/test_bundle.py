"""Fast checks of the bundle recipes in packaging/ (no build: building takes a minute
and 500 MB, see packaging/README.md; packaging/linux/smoke.sh starts a built bundle).

The PyInstaller spec is Python that PyInstaller runs with names of its own (Analysis,
EXE, SPECPATH); its pure parts (the lists of what goes in and out, and ``keep``) are
lifted out of it here with ``ast`` and run as they are.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import desktop_app
from desktop_app.resources import APP_ID

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "pyinstaller" / "screenscribe.spec"
MANIFEST = PACKAGING / "flatpak" / f"{APP_ID}.yml"


def _spec_namespace() -> dict[str, Any]:
    """The spec's constants and helper functions, without running PyInstaller."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    wanted = {"APP_ID", "NAME", "VERSION", "excludes", "QT_PLUGINS_KEPT", "QT_LIBS_DROPPED"}
    body: list[ast.stmt] = []
    for node in tree.body:
        named = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in wanted for t in node.targets
        )
        if named or (isinstance(node, ast.FunctionDef) and node.name in {"_stem", "keep"}):
            body.append(node)
    namespace: dict[str, Any] = {"Path": Path}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(SPEC), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return _spec_namespace()


def _load(path: Path, name: str) -> ModuleType:
    loaded = importlib.util.spec_from_file_location(name, path)
    assert loaded is not None
    assert loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def _qt_modules_imported() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "desktop_app").rglob("*.py"):
        found |= set(re.findall(r"PySide6\.(Qt\w+)", path.read_text(encoding="utf-8")))
    return found


# --- the PyInstaller spec -----------------------------------------------------------------


def test_the_spec_names_this_version_and_app_id(spec: dict[str, Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert spec["VERSION"] == desktop_app.__version__ == pyproject["project"]["version"]
    assert spec["APP_ID"] == APP_ID
    assert spec["NAME"] == "screenscribe"
    assert pyproject["project"]["scripts"]["screenscribe"] == "desktop_app.launcher:main"


def test_the_spec_excludes_no_qt_module_the_app_imports(spec: dict[str, Any]) -> None:
    used = _qt_modules_imported()
    assert {"QtCore", "QtGui", "QtWidgets", "QtDBus", "QtNetwork"} <= used
    excluded = {m.removeprefix("PySide6.") for m in spec["excludes"] if m.startswith("PySide6.")}
    assert not used & excluded
    # the large ones the app does not use stay out
    assert {"QtQml", "QtQuick", "QtOpenGLWidgets", "QtPrintSupport", "QtSql"} <= excluded


@pytest.mark.parametrize(
    ("dest", "kept"),
    [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", False),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
        ("PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", True),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),  # would bundle GTK
        ("PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so", True),
        ("PySide6/Qt/plugins/wayland-graphics-integration-server/libqt-compositor.so", False),
        ("PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so", True),
        ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", True),
        ("PySide6/Qt/plugins/imageformats/libqpdf.so", False),
        ("PySide6/Qt/plugins/printsupport/libcupsprintersupport.so", False),
        ("PySide6/Qt/plugins/tls/libqopensslbackend.so", False),
        ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", False),
        ("PySide6/Qt/plugins/platforms/qwindows.dll", True),
        ("PySide6/Qt/plugins/styles/qmodernwindowsstyle.dll", True),
        ("PySide6/Qt/plugins/platforms/libqcocoa.dylib", True),
        ("PySide6/Qt/translations/qtbase_de.qm", False),
        ("PySide6/translations/qtbase_de.qm", False),
        ("PySide6/Qt/lib/libQt6Core.so.6", True),
        ("PySide6/Qt/lib/libQt6Quick.so.6", False),
        ("PySide6/Qt/lib/libQt6WaylandCompositor.so.6", False),
        ("PySide6/Qt6Pdf.dll", False),
        ("PySide6/QtCore.pyi", False),
        ("rapidocr/models/PP-OCRv6_det_small.onnx", True),
        ("onnxruntime/capi/libonnxruntime_providers_shared.so", True),
        ("desktop_app/resources/prompts/presets.toml", True),
    ],
)
def test_keep_drops_what_the_app_never_loads(spec: dict[str, Any], dest: str, kept: bool) -> None:
    assert spec["keep"](dest) is kept


def test_every_plugin_kept_exists_in_the_installed_pyside6(spec: dict[str, Any]) -> None:
    """A renamed plugin (Qt moves them between releases) would silently go missing."""
    found = importlib.util.find_spec("PySide6")
    assert found is not None
    assert found.origin is not None
    plugins = Path(found.origin).parent / "Qt" / "plugins"
    for folder in ("platforms", "platformthemes", "wayland-shell-integration", "iconengines"):
        names = {spec["_stem"](p.name) for p in (plugins / folder).iterdir()}
        kept = spec["QT_PLUGINS_KEPT"][folder]
        assert names & kept, (folder, names)
    assert {"qxcb", "qwayland", "qoffscreen"} <= {
        spec["_stem"](p.name) for p in (plugins / "platforms").iterdir()
    }


def test_the_spec_bundles_resources_where_the_locator_looks() -> None:
    text = SPEC.read_text(encoding="utf-8")
    assert 'Path("desktop_app/resources")' in text
    from desktop_app.resources import candidates

    assert candidates(Path("/b/_internal/desktop_app"))[0] == Path(
        "/b/_internal/desktop_app/resources"
    )


def test_the_macos_app_is_a_menu_bar_app() -> None:
    text = SPEC.read_text(encoding="utf-8")
    assert '"LSUIElement": True' in text
    assert "bundle_identifier=APP_ID" in text
    assert "NSScreenCaptureUsageDescription" not in text  # no such key: see the spec


# --- the frozen entry point -----------------------------------------------------------------


@pytest.fixture
def entry() -> ModuleType:
    return _load(PACKAGING / "pyinstaller" / "entry.py", "screenscribe_bundle_entry")


def test_entry_serves_python_dash_c(
    entry: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.txt"
    code = f"import pathlib, sys; pathlib.Path({str(out)!r}).write_text(repr(sys.argv))"
    monkeypatch.setattr(sys, "argv", ["screenscribe", "-c", code, "x"])
    assert entry._interpreter_arguments(sys.argv) == 0
    assert out.read_text() == repr(["-c", "x"])


def test_entry_takes_dash_m_desktop_app_as_the_command(entry: ModuleType) -> None:
    argv = ["screenscribe", "-m", "desktop_app", "capture"]
    assert entry._interpreter_arguments(argv) is None
    assert argv == ["screenscribe", "capture"]
    plain = ["screenscribe", "ocr", "a.png"]
    assert entry._interpreter_arguments(plain) is None
    assert plain == ["screenscribe", "ocr", "a.png"]


def test_entry_calls_freeze_support_before_the_app(entry: ModuleType) -> None:
    source = (PACKAGING / "pyinstaller" / "entry.py").read_text(encoding="utf-8")
    assert source.index("freeze_support()") < source.index("from desktop_app.launcher import")


# --- the Flatpak manifest -------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_manifest_names_the_app(manifest: dict[str, Any]) -> None:
    assert manifest["app-id"] == APP_ID
    assert manifest["command"] == "screenscribe"
    assert manifest["runtime"] in {"org.freedesktop.Platform", "org.kde.Platform"}


def test_the_manifest_grants_what_the_backends_use(manifest: dict[str, Any]) -> None:
    args = set(manifest["finish-args"])
    assert {
        "--socket=wayland",
        "--socket=fallback-x11",
        "--share=ipc",
        "--device=dri",
        "--share=network",  # the endpoint
        "--talk-name=org.kde.StatusNotifierWatcher",  # the tray
        "--talk-name=org.freedesktop.secrets",  # the API key
    } <= args
    # the portals (Screenshot, GlobalShortcuts, FileChooser) need no talk-name; the home
    # folder is not shared, nor is the whole session bus
    assert not {"--filesystem=home", "--filesystem=host", "--socket=session-bus"} & args
    assert "--socket=x11" not in args  # fallback-x11 only


def test_the_manifest_sources_exist(manifest: dict[str, Any]) -> None:
    for module in manifest["modules"]:
        for source in module["sources"]:
            path = (MANIFEST.parent / source["path"]).resolve()
            if path.name == "screenscribe" and path.parent.name == "dist":
                continue  # made by packaging/linux/build.sh
            assert path.exists(), path
    commands = "\n".join(manifest["modules"][-1]["build-commands"])
    for name in (".desktop", ".metainfo.xml", ".svg", ".png"):
        assert name in commands


# --- scripts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "script"),
    [
        ("bash", "linux/build.sh"),
        ("bash", "linux/smoke.sh"),
        ("bash", "macos/build.sh"),
        ("sh", "linux/install.sh"),
        ("sh", "linux/AppRun"),
    ],
)
def test_the_scripts_parse(shell: str, script: str) -> None:
    path = PACKAGING / script
    out = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert path.read_text(encoding="utf-8").startswith("#!")


def test_build_sh_uses_the_spec_and_the_resources_it_installs() -> None:
    text = (PACKAGING / "linux" / "build.sh").read_text(encoding="utf-8")
    assert "packaging/pyinstaller/screenscribe.spec" in text
    assert "pyinstaller>=6" in text  # the spec wraps a PyInstaller 6 function
    resources = ROOT / "resources"
    assert (resources / f"{APP_ID}.desktop").is_file()
    assert (resources / f"{APP_ID}.metainfo.xml").is_file()
    assert (resources / "icons" / f"{APP_ID}.svg").is_file()
    assert "for size in 64x64 128x128 256x256" in text
    for size in ("64x64", "128x128", "256x256"):
        assert (resources / "icons" / "hicolor" / size / "apps" / f"{APP_ID}.png").is_file()


def test_the_smoke_script_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """It reuses the benches' X probe and tests.xserver: a rename there breaks it."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    smoke = _load(PACKAGING / "linux" / "smoke.py", "screenscribe_bundle_smoke")
    assert callable(smoke.main)
    assert callable(smoke.XProbe.tray_icons)
    for name in smoke.OCR_SAMPLES:
        assert (ROOT / "tests" / "data" / "ocr" / f"{name}.png").is_file()


def test_the_ci_workflow_builds_on_every_os() -> None:
    workflow = yaml.safe_load((PACKAGING / "ci" / "bundles.yml").read_text(encoding="utf-8"))
    runners = {job["runs-on"] for job in workflow["jobs"].values()}
    assert {"windows-latest", "macos-latest"} <= runners
    steps = "\n".join(
        str(step.get("run", "")) for job in workflow["jobs"].values() for step in job["steps"]
    )
    for script in ("packaging/linux/build.sh", "build.ps1", "packaging/macos/build.sh"):
        assert script in steps


def test_the_inno_setup_script_installs_the_bundle() -> None:
    text = (PACKAGING / "windows" / "screenscribe.iss").read_text(encoding="utf-8")
    assert r'Source: "..\..\dist\screenscribe\*"' in text
    assert "PrivilegesRequired=lowest" in text

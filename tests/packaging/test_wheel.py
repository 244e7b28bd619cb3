"""The Python package as a user gets it: ``pip install screenscribe`` (or pipx) from the
wheel that ``python -m build`` makes, with its data files inside.

The slow test builds the sdist and, from it, the wheel, installs the wheel into a fresh
virtual environment (no system site packages; pip fetches the dependencies, from its
cache after the first run) and runs the installed ``screenscribe`` command with a home
and XDG folders of its own. The fast tests check where the package finds its files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from desktop_app import __version__
from desktop_app.resources import APP_ID, MARKER, candidates, find_resources_dir

ROOT = Path(__file__).resolve().parent.parent.parent
RESOURCES = ROOT / "resources"
OCR_DATA = ROOT / "tests" / "data" / "ocr"
# Files of resources/ that are tools, not data: not in the wheel.
NOT_PACKAGE_DATA = {"icons/make_icons.py"}


def resource_files() -> list[str]:
    """The data files of resources/, relative to it (``icons/…``, ``prompts/…``)."""
    files = [
        p.relative_to(RESOURCES).as_posix()
        for p in RESOURCES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    return sorted(set(files) - NOT_PACKAGE_DATA)


def test_resources_hold_what_the_desktop_and_the_app_need() -> None:
    assert set(resource_files()) >= {
        f"{APP_ID}.desktop",
        f"{APP_ID}.metainfo.xml",
        f"icons/{APP_ID}.svg",
        f"icons/hicolor/64x64/apps/{APP_ID}.png",
        f"icons/hicolor/128x128/apps/{APP_ID}.png",
        f"icons/hicolor/256x256/apps/{APP_ID}.png",
        "prompts/presets.toml",
    }


# --- finding the resources --------------------------------------------------------------


def test_the_package_data_folder_comes_first(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "desktop_app"
    for folder in (package / "resources", package.parent / "resources"):
        folder.mkdir(parents=True)
        (folder / MARKER).touch()
    assert find_resources_dir(package) == package / "resources"  # an installed wheel
    (package / "resources" / MARKER).unlink()
    assert find_resources_dir(package) == package.parent / "resources"  # a checkout


def test_missing_resources_name_every_place_looked(tmp_path: Path) -> None:
    package = tmp_path / "desktop_app"
    (package / "resources").mkdir(parents=True)  # a folder without the marker is not it
    with pytest.raises(FileNotFoundError) as info:
        find_resources_dir(package)
    message = str(info.value)
    for folder in candidates(package):
        assert str(folder / MARKER) in message
    assert message.endswith("Reinstall ScreenScribe.")


def test_a_checkout_or_editable_install_uses_the_checkouts_resources(tmp_path: Path) -> None:
    """The test environment is an editable install (README, .ci/run): its ``.pth`` file
    imports the package from the checkout, and the files are the checkout's, not the copy
    hatchling's editable wheel puts into site-packages."""
    code = (
        "import desktop_app, desktop_app.resources as r\n"
        "print(desktop_app.__file__); print(r.__file__); print(r.resources_dir())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,  # not the checkout: only the install can point there
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert out == [
        str(ROOT / "desktop_app" / "__init__.py"),
        str(ROOT / "desktop_app" / "resources.py"),
        str(RESOURCES),
    ]


# --- the wheel, installed as a user installs it -------------------------------------------


def run(
    args: list[str | Path], *, env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [str(a) for a in args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert p.returncode == 0, f"{args} exited with {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def user_env(tmp_path: Path, venv_bin: Path) -> dict[str, str]:
    """A user's session with nothing of the developer's: a home and XDG folders in
    ``tmp_path``, no display, no session bus, no settings or keys in the environment."""
    home = tmp_path / "home"
    env = {
        "PATH": os.pathsep.join([str(venv_bin), "/usr/bin", "/bin"]),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
    }
    home.mkdir()
    return env


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    pip_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONNOUSERSITE")
    }

    # python -m build: the sdist, then the wheel from the sdist (so the sdist must hold
    # everything the wheel takes).
    dist = tmp_path / "dist"
    start = time.perf_counter()
    run(
        [sys.executable, "-m", "build", "--outdir", dist, ROOT],
        env=pip_env,
        cwd=tmp_path,
        timeout=300,
    )
    timings["build sdist+wheel"] = time.perf_counter() - start
    wheel = dist / f"screenscribe-{__version__}-py3-none-any.whl"
    sdist = dist / f"screenscribe-{__version__}.tar.gz"
    assert wheel.is_file(), sorted(dist.iterdir())
    assert sdist.is_file(), sorted(dist.iterdir())

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read(f"screenscribe-{__version__}.dist-info/entry_points.txt")
        metadata = zf.read(f"screenscribe-{__version__}.dist-info/METADATA").decode()
    assert {f"desktop_app/resources/{f}" for f in resource_files()} <= names
    assert not [n for n in names if n.startswith("desktop_app/resources/") and n.endswith(".py")]
    assert {"desktop_app/__init__.py", "desktop_app/launcher.py", "desktop_app/resources.py"} <= (
        names
    )
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    assert b"screenscribe = desktop_app.launcher:main" in entry_points
    assert f"Version: {__version__}" in metadata
    assert "Classifier: License :: OSI Approved :: MIT License" in metadata
    with tarfile.open(sdist) as tf:
        sdist_names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {f"resources/{f}" for f in resource_files()} <= sdist_names
    assert {"pyproject.toml", "README.md", "desktop_app/resources.py"} <= sdist_names

    # A fresh venv, nothing from the system's site-packages; pip as a user runs it (the
    # developer's pip configuration and cache, the dependencies from the index).
    venv = tmp_path / "venv"
    start = time.perf_counter()
    run([sys.executable, "-m", "venv", venv], env=pip_env, cwd=tmp_path, timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    run(
        [bindir / "python", "-m", "pip", "install", "--disable-pip-version-check", wheel],
        env=pip_env,
        cwd=tmp_path,
        timeout=900,
    )
    timings["fresh venv + pip install"] = time.perf_counter() - start

    env = user_env(tmp_path, bindir)
    home = Path(env["HOME"])
    script = bindir / "screenscribe"

    # the console script (desktop_app.launcher) and python -m desktop_app
    p = run([script, "--version"], env=env, cwd=tmp_path, timeout=60)
    assert p.stdout == f"screenscribe {__version__}\n"
    assert p.stdout == "screenscribe 0.1.0\n"
    p = run(
        [bindir / "python", "-m", "desktop_app", "--version"], env=env, cwd=tmp_path, timeout=60
    )
    assert p.stdout == f"screenscribe {__version__}\n"

    # the package data is found inside the installed package
    p = run(
        [
            bindir / "python",
            "-c",
            "import desktop_app.resources as r, desktop_app.core.prompts as p\n"
            "print(r.resources_dir()); print(r.resource_path('icons', r.APP_ID + '.svg'))\n"
            "print(','.join(p.PRESETS))",
        ],
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    found, svg, preset_names = p.stdout.splitlines()
    assert Path(found).parent.name == "desktop_app"
    assert Path(found).is_relative_to(venv)
    assert Path(svg) == Path(found) / "icons" / f"{APP_ID}.svg"
    assert preset_names == "ocr,ask,table,describe,translate"

    # the offline OCR engine reads a screenshot, with the OCR preset from the package data
    start = time.perf_counter()
    image = OCR_DATA / "single_line_13px.png"
    p = run([script, "ocr", "--engine", "local", image], env=env, cwd=tmp_path, timeout=300)
    timings["screenscribe ocr --engine local"] = time.perf_counter() - start
    assert p.stdout == (OCR_DATA / "single_line_13px.txt").read_text(encoding="utf-8").strip()
    # and the history went to the isolated XDG data folder, as the platform wants
    assert (home / ".local" / "share" / "screenscribe" / "history.sqlite3").is_file()

    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
    sizes = {p.name: f"{p.stat().st_size / 1024:.0f} KiB" for p in (wheel, sdist)}
    print("sizes:", sizes)

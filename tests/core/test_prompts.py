"""The built-in presets, read from resources/prompts/presets.toml, and what a broken
presets file says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core import prompts
from desktop_app.core.errors import ScreenScribeError
from desktop_app.core.prompts import BUILTIN_NAMES, PRESETS, Preset, load_presets
from desktop_app.resources import resource_path

ROOT = Path(__file__).resolve().parent.parent.parent
PRESETS_FILE = ROOT / "resources" / "prompts" / "presets.toml"


def test_builtin_presets_come_from_the_resources_file() -> None:
    assert resource_path("prompts", "presets.toml") == PRESETS_FILE
    assert load_presets(PRESETS_FILE) == PRESETS
    assert tuple(PRESETS) == BUILTIN_NAMES  # in the file's order, which menus follow


def test_builtin_presets_are_what_the_app_expects() -> None:
    shape = {
        name: (p.name, p.label, p.kind, p.auto_copy, p.hotkey, p.profile)
        for name, p in PRESETS.items()
    }
    assert shape == {
        "ocr": ("ocr", "Extract text", "ocr", True, "Ctrl+Alt+O", ""),
        "ask": ("ask", "Ask about the image", "ask", False, "Ctrl+Alt+A", ""),
        "table": ("table", "Table to Markdown", "prompt", True, "", ""),
        "describe": ("describe", "Describe", "prompt", False, "", ""),
        "translate": ("translate", "Translate to English", "prompt", False, "", ""),
    }
    assert PRESETS["ocr"].prompt == (
        "Read all the text in the image. Output only the text content, exactly as written, "
        "keeping line breaks and reading order, without any additional descriptions, "
        "commentary or formatting."
    )
    assert PRESETS["ask"].prompt == "Answer the question about the image. Be concise."
    # TOML's line-ending backslash joins the lines with no stray whitespace
    for preset in PRESETS.values():
        assert preset.prompt == preset.prompt.strip()
        assert "  " not in preset.prompt
        assert "\n" not in preset.prompt
    # the names the code uses are the file's presets
    assert tuple(PRESETS.values()) == (
        prompts.OCR,
        prompts.ASK,
        prompts.TABLE,
        prompts.DESCRIBE,
        prompts.TRANSLATE,
    )
    with pytest.raises(TypeError):
        PRESETS["x"] = PRESETS["ocr"]  # type: ignore[index]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "presets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def with_builtins(extra: str = "", **ocr: str) -> str:
    """A presets file with every built-in name; ``ocr``'s keys replaced by ``ocr``."""
    tables = []
    for name in BUILTIN_NAMES:
        keys = {"label": f'"{name}"', "prompt": '"Do it."'}
        if name == "ocr":
            keys.update(ocr)
        body = "".join(f"{k} = {v}\n" for k, v in keys.items() if v)
        tables.append(f"[presets.{name}]\n{body}")
    return "\n".join(tables) + extra


def test_a_minimal_file_loads_with_the_defaults(tmp_path: Path) -> None:
    extra = '\n[presets.german]\nlabel = "German"\nprompt = "Übersetze."\nkind = "prompt"\n'
    presets = load_presets(write(tmp_path, with_builtins(extra)))
    assert list(presets) == [*BUILTIN_NAMES, "german"]
    assert presets["ocr"] == Preset("ocr", "ocr", "Do it.")
    assert presets["german"].prompt == "Übersetze."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has no [presets.NAME] tables"),
        ("presets = 3\n", "has no [presets.NAME] tables"),
        ("[presets\n", "is not valid TOML"),
        ('[presets.ocr]\nlabel = "a"\nprompt = "b"\n', "lacks the preset(s) ask, table"),
        (with_builtins(label=""), "[presets.ocr] has no label"),
        (with_builtins(prompt='"  "'), "[presets.ocr] has an empty prompt"),
        (with_builtins(kind='"shout"'), "kind must be one of ocr, ask, prompt, not 'shout'"),
        (with_builtins(auto_copy='"yes"'), "auto_copy must be a bool, not 'yes'"),
        (with_builtins(hotkey="1"), "hotkey must be a str, not 1"),
        (with_builtins(profile='"box"'), "has unknown key(s) profile"),
        (with_builtins(labl='"x"'), "has unknown key(s) labl"),
        ("[presets]\nocr = 1\n", "[presets.ocr] is not a table"),
    ],
)
def test_a_broken_presets_file_says_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScreenScribeError) as info:
        load_presets(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert str(info.value).endswith("Reinstall ScreenScribe.")


def test_an_unreadable_presets_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScreenScribeError, match=r"cannot be read \(No such file"):
        load_presets(tmp_path / "missing.toml")
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'label = "\xe9"\n')
    with pytest.raises(ScreenScribeError, match="is not valid TOML"):
        load_presets(path)


def copy_of_the_package(tmp_path: Path) -> Path:
    """desktop_app and resources/ copied to ``tmp_path``, as a checkout would have them."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "desktop_app", tmp_path / "desktop_app", ignore=ignore)
    shutil.copytree(ROOT / "resources", tmp_path / "resources", ignore=ignore)
    return tmp_path


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_cli_reports_a_corrupt_presets_file_in_one_line(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    presets = root / "resources" / "prompts" / "presets.toml"
    presets.write_text("[presets.ocr\n", encoding="utf-8")
    p = run_cli(root, "ocr", str(ROOT / "tests" / "data" / "ocr" / "single_line_13px.png"))
    assert p.returncode == 1
    assert p.stdout == ""
    assert p.stderr.startswith(f"screenscribe: The built-in presets file {presets} is not valid")
    assert len(p.stderr.splitlines()) == 1, p.stderr  # no traceback


def test_the_cli_reports_missing_resources_in_one_line(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    (root / "resources" / "prompts" / "presets.toml").unlink()
    p = run_cli(root, "config", "show")
    assert p.returncode == 1
    assert p.stderr == (
        f"screenscribe: ScreenScribe's resource file {root / 'resources/prompts/presets.toml'} "
        "is missing. Reinstall ScreenScribe.\n"
    )
    shutil.rmtree(root / "resources")
    p = run_cli(root, "config", "show")
    assert p.returncode == 1
    assert "ScreenScribe's resource files are missing" in p.stderr
    assert len(p.stderr.splitlines()) == 1, p.stderr

"""``screenscribe history`` and ``screenscribe config`` on a real history database and a
real settings file: in-process through ``main`` for most, as a subprocess for the
entry point itself."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import tomllib
import unicodedata
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest

from desktop_app.cli import main
from desktop_app.core.history import History, HistoryEntry, NewEntry
from desktop_app.core.settings import _to_document, load_settings

NOW = time.time()
ENTRIES = 300
INVOICES = (3, 50, 299)  # the entries whose answer mentions an invoice
LONG = (
    "A first line that goes on and on, far beyond what a terminal line "
    "of a hundred columns can hold."
)


def settings_file() -> Path:
    return Path(os.environ["SCREENSCRIBE_CONFIG_DIR"]) / "settings.toml"


def history_file() -> Path:
    return Path(os.environ["SCREENSCRIBE_DATA_DIR"]) / "history.sqlite3"


def write_settings(text: str) -> Path:
    path = settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def entry(i: int) -> NewEntry:
    """Entry ``i`` is ``i`` minutes old; a few are partial, failed, long or odd."""
    answer = f"Answer number {i}\nsecond line {i}"
    status: str = "complete"
    error = None
    tokens: tuple[int | None, int | None] = (1000 + i, 10 + i)
    if i in INVOICES:
        answer = f"Invoice 2024-{i:03d}\nTotal: 12.50"
    if i % 10 == 1:
        status, tokens = "partial", (None, 5)
    if i % 10 == 2:
        status, answer, error, tokens = (
            "failed",
            "",
            f"The server failed (HTTP 500) {i}.",
            (None, None),
        )
    if i == 4:
        answer = LONG
    if i == 5:
        answer = "\n\n  \x1b[2J\x1b]0;pwned\x07 cleared\u202eevil"
    if i == 6:
        answer = "日本語のテキスト" * 20
    return NewEntry(
        profile="vllm" if i % 2 else "hosted",
        model="Qwen/Qwen3-VL-8B-Instruct",
        base_url="http://127.0.0.1:8000/v1",
        mode=("ocr", "ask", "table", "describe")[i % 4],
        prompt=f"prompt {i}" + (" where is the receipt?" if i == 7 else ""),
        answer=answer,
        status=status,  # type: ignore[arg-type]
        error=error,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        source="screen",
        thumbnail=b"\xff\xd8 jpeg" if i % 3 == 0 else None,
        created_at=NOW - 60 * i,
    )


@pytest.fixture
def filled() -> dict[int, int]:
    """A history of ENTRIES entries; returns {i: id}."""
    with History(history_file()) as history:
        return {i: history.add(entry(i)) for i in range(ENTRIES)}


def records(out: str) -> list[dict[str, object]]:
    data = json.loads(out)
    assert isinstance(data, list)
    return data


# --- history ---------------------------------------------------------------------------


def test_history_lists_the_newest_twenty_one_line_each(
    capsys: pytest.CaptureFixture[str], filled: dict[int, int]
) -> None:
    code, out, err = cli(capsys, "history")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 20
    for i, line in enumerate(lines):
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(NOW - 60 * i))
        assert line.startswith(f"{stamp}  {('ocr', 'ask', 'table', 'describe')[i % 4]}")
        assert "Qwen/Qwen3-VL-8B-Instruct" in line
        assert columns(line) <= 100, line
    assert lines[0].endswith("1000/10 tok  Answer number 0")
    assert "second line" not in out


def test_history_marks_partial_and_failed_entries(
    capsys: pytest.CaptureFixture[str], filled: dict[int, int]
) -> None:
    lines = cli(capsys, "history")[1].splitlines()

    assert "[partial]" in lines[1]
    assert lines[1].endswith("?/5 tok  Answer number 1")
    assert "[failed]" in lines[2]
    assert "tok" not in lines[2]  # no token counts known
    assert lines[2].endswith("The server failed (HTTP 500) 2.")  # the error, as no answer
    for i in (0, 3, 4, 7):
        assert "[" not in lines[i]


def test_history_cuts_long_lines_and_cleans_control_characters(
    capsys: pytest.CaptureFixture[str], filled: dict[int, int]
) -> None:
    lines = cli(capsys, "history")[1].splitlines()

    assert lines[4].endswith("\u2026")
    assert LONG[:25] in lines[4]
    assert columns(lines[4]) in (99, 100)
    assert "\x1b" not in lines[5]
    assert "\x07" not in lines[5]
    assert "\u202e" not in lines[5]
    assert "cleared evil" in lines[5]
    assert lines[6].endswith("\u2026")
    assert 98 <= columns(lines[6]) <= 100  # wide characters count twice


def test_history_limit(capsys: pytest.CaptureFixture[str], filled: dict[int, int]) -> None:
    assert len(cli(capsys, "history", "--limit", "5")[1].splitlines()) == 5
    assert len(cli(capsys, "history", "--limit", "1000")[1].splitlines()) == ENTRIES
    assert len(records(cli(capsys, "history", "--limit", "7", "--json")[1])) == 7


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_history_limit_must_be_positive(capsys: pytest.CaptureFixture[str], limit: str) -> None:
    code, out, err = cli(capsys, "history", "--limit", limit)

    assert (code, out) == (2, "")
    assert err == "screenscribe: --limit must be at least 1.\n"


def test_history_search_uses_the_full_text_index(
    capsys: pytest.CaptureFixture[str], filled: dict[int, int]
) -> None:
    code, out, _ = cli(capsys, "history", "--search", "invoice", "--json")
    assert code == 0
    assert sorted(r["id"] for r in records(out)) == sorted(filled[i] for i in INVOICES)

    # the last word is a prefix; every word is needed; the prompt is searched too
    found = records(cli(capsys, "history", "--search", "invoice 2024-05", "--json")[1])
    assert [r["id"] for r in found] == [filled[50]]
    found = records(cli(capsys, "history", "--search", "RECEIPT", "--json")[1])
    assert [r["id"] for r in found] == [filled[7]]

    lines = cli(capsys, "history", "--search", "invo", "--limit", "2")[1].splitlines()
    assert len(lines) == 2
    assert all("Invoice 2024-" in line for line in lines)


def test_history_search_with_no_match(
    capsys: pytest.CaptureFixture[str], filled: dict[int, int]
) -> None:
    assert cli(capsys, "history", "--search", "zebra") == (
        0,
        "",
        "screenscribe: No entry matches 'zebra'.\n",
    )
    assert cli(capsys, "history", "--search", "zebra", "--json")[1] == "[]\n"


def test_history_json_has_every_field_but_the_thumbnail(
    capsys: pytest.CaptureFixture[str], filled: dict[int, int]
) -> None:
    code, out, err = cli(capsys, "history", "--json", "--limit", "300")

    assert (code, err) == (0, "")
    found = records(out)
    assert len(found) == ENTRIES
    expected_keys = [f.name for f in fields(HistoryEntry) if f.name != "thumbnail"]
    expected_keys.insert(expected_keys.index("created_at") + 1, "created_at_iso")
    with History(history_file()) as history:
        for i in (0, 1, 2, 3, 5, 6):
            record = found[i]
            assert list(record) == expected_keys
            saved = history.get(filled[i])
            assert saved is not None
            for f in fields(HistoryEntry):
                if f.name != "thumbnail":
                    assert record[f.name] == getattr(saved, f.name), f.name
            when = datetime.fromisoformat(str(record["created_at_iso"]))
            assert when.tzinfo is not None
            assert abs(when.timestamp() - saved.created_at) < 1
    assert [r["has_thumbnail"] for r in found[:4]] == [True, False, False, True]
    assert found[5]["answer"] == entry(5).answer  # the raw text, escapes and all
    assert "jpeg" not in out


def test_no_history_file_says_so_and_creates_none(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "history")

    assert (code, out) == (0, "")
    assert err == f"screenscribe: No history yet: {history_file()} does not exist.\n"
    assert cli(capsys, "history", "--json")[:2] == (0, "[]\n")
    assert not history_file().exists()
    assert not history_file().parent.exists()


def test_an_empty_history(capsys: pytest.CaptureFixture[str]) -> None:
    History(history_file()).close()

    assert cli(capsys, "history") == (0, "", "screenscribe: The history is empty.\n")


def test_history_turned_off_lists_nothing(
    capsys: pytest.CaptureFixture[str], filled: dict[int, int]
) -> None:
    write_settings("[history]\nenabled = false\n")

    code, out, err = cli(capsys, "history")

    assert (code, out) == (0, "")
    assert "The history is turned off in the settings (history.enabled = false)" in err
    assert len(err.splitlines()) == 1
    assert cli(capsys, "history", "--json")[:2] == (0, "[]\n")


def test_a_damaged_history_is_set_aside(capsys: pytest.CaptureFixture[str]) -> None:
    history_file().parent.mkdir(parents=True)
    history_file().write_bytes(b"this is not a database" * 100)

    code, out, err = cli(capsys, "history")

    assert (code, out) == (0, "")
    assert "was damaged, so it was kept as history.sqlite3.corrupt-" in err
    assert len(list(history_file().parent.glob("history.sqlite3.corrupt-*"))) == 1


# --- config ----------------------------------------------------------------------------


def test_config_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "config", "path")
    assert (code, out) == (0, f"{settings_file()}\n")
    assert "does not exist yet" in err

    write_settings("")
    assert cli(capsys, "config", "path") == (0, f"{settings_file()}\n", "")


def test_config_show_prints_every_value_as_toml(capsys: pytest.CaptureFixture[str]) -> None:
    write_settings('[general]\ntheme = "dark"\n[profiles.vllm]\nmodel = "m-fp8"\n')

    code, out, err = cli(capsys, "config", "show")

    assert (code, err) == (0, "")
    doc = tomllib.loads(out)
    assert doc["general"]["theme"] == "dark"
    assert doc["general"]["ocr_engine"] == "auto"  # a default, shown too
    assert doc["history"]["max_entries"] == 10000
    assert doc["profiles"]["vllm"]["model"] == "m-fp8"
    assert doc["profiles"]["vllm"]["base_url"] == "http://127.0.0.1:8000/v1"
    assert doc["profiles"]["hosted"]["input_price_per_mtok"] == 0.25
    assert set(doc["presets"]) >= {"ocr", "ask", "table", "describe", "translate"}
    assert doc == _to_document(load_settings().settings, full=True)


def test_config_show_reports_the_files_problems_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_settings('[general]\ntheme = "purple"\n')

    code, out, err = cli(capsys, "config", "show")

    assert code == 0
    assert tomllib.loads(out)["general"]["theme"] == "system"
    assert err.startswith(f"screenscribe: {settings_file()}: general.theme must be one of")


def test_config_set_and_unset_round_trip_through_the_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(
        capsys,
        "config",
        "set",
        "general.theme",
        "dark",
        "history.max_days",
        "30",
        "profiles.vllm.model",
        "Qwen/Qwen3-VL-8B-Instruct-FP8",
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        'general.theme = "dark"',
        "history.max_days = 30",
        'profiles.vllm.model = "Qwen/Qwen3-VL-8B-Instruct-FP8"',
    ]
    assert tomllib.loads(settings_file().read_text()) == {
        "version": 2,
        "general": {"theme": "dark"},
        "history": {"max_days": 30},
        "profiles": {"vllm": {"model": "Qwen/Qwen3-VL-8B-Instruct-FP8"}},
    }

    code, out, _ = cli(
        capsys,
        "config",
        "set",
        "profiles.mybox.base_url",
        "http://gpu:8000/v1/",
        "profiles.mybox.model",
        "Qwen/Qwen3-VL-8B-Instruct",
        "default_profile",
        "mybox",
        "presets.ocr.profile",
        "vllm",
    )
    assert code == 0
    assert 'profiles.mybox.base_url = "http://gpu:8000/v1"' in out.splitlines()  # as saved
    settings = load_settings().settings
    assert settings.default_profile == "mybox"
    assert settings.profiles["mybox"].base_url == "http://gpu:8000/v1"
    assert settings.presets["ocr"].profile == "vllm"
    assert tomllib.loads(cli(capsys, "config", "show")[1])["default_profile"] == "mybox"

    code, out, err = cli(
        capsys, "config", "unset", "general.theme", "profiles.mybox", "default_profile"
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        'general.theme = "system"  # the default',
        "profiles.mybox: removed",
        'default_profile = "hosted"  # the default',
    ]
    assert tomllib.loads(settings_file().read_text()) == {
        "version": 2,
        "history": {"max_days": 30},
        "profiles": {"vllm": {"model": "Qwen/Qwen3-VL-8B-Instruct-FP8"}},
        "presets": {"ocr": {"profile": "vllm"}},
    }


def test_config_set_of_an_optional_number_to_false(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "config", "set", "history.max_days", "7")[0] == 0
    code, out, _ = cli(capsys, "config", "set", "history.max_days", "false")

    assert (code, out) == (0, "history.max_days = false  # not set\n")
    assert load_settings().settings.history_max_days is None


def test_config_unset_of_a_key_not_set_leaves_the_file_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_settings('# my notes\n[general]\ntheme = "dark"\n')
    before = path.read_bytes()

    code, out, err = cli(capsys, "config", "unset", "history.max_days")

    assert (code, out) == (0, "history.max_days = false  # not set\n")
    assert (
        err == f"screenscribe: history.max_days is not set in {path}; it already has its default.\n"
    )
    assert path.read_bytes() == before


def test_config_set_without_a_file_creates_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "config", "set", "general.ocr_engine", "local")[0] == 0
    assert load_settings().settings.ocr_engine == "local"
    assert settings_file().read_text().startswith("# ScreenScribe settings.")


REFUSALS = {
    "bad value": (["history.max_days", "-3"], "history.max_days must be a whole number"),
    "bad choice": (["general.theme", "purple"], 'general.theme must be one of "system"'),
    "unknown key": (["general.colour", "red"], "Unknown settings key general.colour"),
    "unknown table": (["colours.theme", "red"], "Unknown settings key colours"),
    "new profile without model": (
        ["profiles.mybox.base_url", "http://gpu:8000/v1"],
        "profile mybox needs model.",
    ),
    "api key": (
        ["profiles.hosted.api_key", "sk-live-123"],
        "screenscribe key set --profile hosted",
    ),
    "unknown default profile": (["default_profile", "nope"], 'default_profile "nope" is not one'),
    "one bad pair of two": (
        ["general.theme", "dark", "profiles.vllm.temperature", "9"],
        "profiles.vllm.temperature must be a number from 0 to 2, not 9.",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
@pytest.mark.parametrize("existing", [True, False])
def test_config_refusals_leave_the_file_byte_identical(
    capsys: pytest.CaptureFixture[str], case: str, existing: bool
) -> None:
    args, words = REFUSALS[case]
    text = '# my notes stay\nversion = 2\n\n[general]\ntheme = "light"  # mine\n'
    path = write_settings(text) if existing else settings_file()
    mtime = path.stat().st_mtime_ns if existing else None

    code, out, err = cli(capsys, "config", "set", *args)

    assert (code, out) == (2, "")
    assert err.startswith("screenscribe: ")
    assert words in err
    assert err.count("\n") == 1  # one line
    assert "sk-live-123" not in err
    if existing:
        assert path.read_bytes() == text.encode()
        assert path.stat().st_mtime_ns == mtime
    else:
        assert not path.exists()
    assert list(path.parent.glob("*")) == ([path] if existing else [])


def test_config_unset_refusal_leaves_the_file_alone(capsys: pytest.CaptureFixture[str]) -> None:
    cli(
        capsys,
        "config",
        "set",
        "profiles.mybox.base_url",
        "http://gpu:8000/v1",
        "profiles.mybox.model",
        "m",
        "default_profile",
        "mybox",
    )
    before = settings_file().read_bytes()

    code, out, err = cli(capsys, "config", "unset", "profiles.mybox")

    assert (code, out) == (2, "")
    assert 'default_profile "mybox" is not one of the profiles' in err
    assert settings_file().read_bytes() == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["config"], "the following arguments are required: ACTION"),
        (["config", "set"], "the following arguments are required: KEY VALUE"),
        (["config", "unset"], "the following arguments are required: KEY"),
        (["config", "edit"], "invalid choice: 'edit'"),
    ],
)
def test_config_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert words in capsys.readouterr().err


def test_config_set_with_a_key_but_no_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "config", "set", "general.theme", "dark", "history.max_days")

    assert (code, out) == (2, "")
    assert (
        err == "screenscribe: config set takes KEY VALUE pairs; 'history.max_days' has no value.\n"
    )
    assert not settings_file().exists()


# --- the real entry point --------------------------------------------------------------


def test_as_a_user_runs_them(filled: dict[int, int]) -> None:
    p = run("config", "set", "history.max_entries", "250")
    assert (p.returncode, p.stdout, p.stderr) == (0, "history.max_entries = 250\n", "")

    p = run("history", "--json", "--limit", "1000")
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)) == 250  # the settings' retention applied on open

    p = run("history", "--search", "invoice")
    assert p.returncode == 0
    assert [line.rsplit("  ", 1)[-1] for line in p.stdout.splitlines()] == [
        "Invoice 2024-003",
        "Invoice 2024-050",
    ]

    p = run("config", "set", "profiles.hosted.key", "sk-live-123")
    assert p.returncode == 2
    assert p.stdout == ""
    assert "keyring" in p.stderr
    assert "sk-live-123" not in p.stderr


def test_help_lists_the_new_commands() -> None:
    out = run("--help").stdout
    assert "    history" in out
    assert "    config" in out


def test_a_key_sent_over_plain_http_to_another_host_is_warned_about(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_app.cli import make_client
    from desktop_app.core.settings import BUILTIN_PROFILES

    monkeypatch.setenv("SCREENSCRIBE_API_KEY", "sk-warn-test-123456")
    vllm = BUILTIN_PROFILES["vllm"]
    make_client(dataclasses.replace(vllm, base_url="http://[::1]:8000/v1")).close()
    assert capsys.readouterr().err == ""  # loopback: the key never leaves the machine
    make_client(dataclasses.replace(vllm, base_url="http://10.0.0.5:8000/v1")).close()
    err = capsys.readouterr().err
    assert "warning: The API key would travel unencrypted over plain http to 10.0.0.5" in err
    assert "sk-warn-test" not in err


def test_the_file_keyring_is_used_only_when_the_settings_choose_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")

    def key_set() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "desktop_app", "key", "set", "--profile", "vllm"],
            input="sk-file-choice-123\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    refused = key_set()  # keyring would pick the plain file on its own: not used
    assert refused.returncode != 0
    assert "no system keyring" in refused.stderr.lower()
    assert not (tmp_path / "xdg" / "python_keyring").exists()
    config = Path(os.environ["SCREENSCRIBE_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.toml").write_text('version = 2\n[general]\nkeyring = "file"\n')
    stored = key_set()
    assert stored.returncode == 0, stored.stderr
    assert "unencrypted file" in stored.stdout
    assert (tmp_path / "xdg" / "python_keyring" / "keyring_pass.cfg").is_file()

"""The CLI as a user runs it: a subprocess against a real loopback server."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.servers import (
    USAGE,
    Reply,
    StreamServer,
    json_reply,
    llamacpp_stream,
    ollama_stream,
    openai_stream,
    stream_reply,
    vllm_stream,
)

PIECES = ["Total: ", "€ 1 234,50", "\n", "Dátum — ", "2026-11-25", "\u2028", "✓"]
TEXT = "".join(PIECES)


def make_image(path: Path, text: str = "Hello 42", size: tuple[int, int] = (400, 80)) -> Path:
    im = Image.new("RGB", size, "white")
    ImageDraw.Draw(im).text((10, 30), text, fill="black")
    im.save(path)
    return path


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    return make_image(tmp_path / "shot.png")


def run(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def write_settings(text: str) -> Path:
    path = Path(os.environ["SCREENSCRIBE_CONFIG_DIR"]) / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def history_rows() -> list[sqlite3.Row]:
    db = Path(os.environ["SCREENSCRIBE_DATA_DIR"]) / "history.sqlite3"
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return list(con.execute("SELECT * FROM entries ORDER BY id"))
    finally:
        con.close()


SHAPES = {
    "vllm": vllm_stream(PIECES),
    "openai": openai_stream(PIECES),
    "ollama": ollama_stream(PIECES),
    "llamacpp": llamacpp_stream(PIECES, reasoning=["hm"]),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_ocr_prints_exactly_the_streamed_text(server: StreamServer, shot: Path, shape: str) -> None:
    server.chat(stream_reply(SHAPES[shape], split=4, eol="\r\n", comments=True))
    p = run("ocr", str(shot), "--endpoint", server.base_url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode("utf-8") == TEXT
    assert p.stderr == b""
    body = server.requests[-1].json()
    assert body["messages"][0]["content"][1]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )


def test_json_output(server: StreamServer, shot: Path) -> None:
    server.chat(stream_reply(vllm_stream(PIECES, finish="length")))
    p = run(
        "ocr",
        str(shot),
        "--endpoint",
        server.base_url,
        "--model",
        "m1",
        "--json",
        "--max-tokens",
        "7",
        "--temperature",
        "0.1",
    )
    assert p.returncode == 0, p.stderr
    rec = json.loads(p.stdout)
    assert rec["text"] == TEXT
    assert rec["finish_reason"] == "length"
    assert rec["usage"] == USAGE
    assert rec["model"] == "m1"
    assert rec["status"] == "complete"
    assert rec["timings"]["ttft_ms"] > 0
    assert rec["timings"]["total_ms"] >= rec["timings"]["ttft_ms"]
    assert rec["image"]["tokens"] > 0
    assert rec["error"] is None
    assert b"larger --max-tokens" in p.stderr  # a cut answer is told, not hidden
    body = server.requests[-1].json()
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("m1", 7, 0.1)


def test_ask_sends_the_question(server: StreamServer, shot: Path) -> None:
    server.chat(stream_reply(openai_stream(["It says hello."])))
    p = run("ask", str(shot), "What does it say?", "--endpoint", server.base_url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == "It says hello."
    assert server.requests[-1].json()["messages"][0]["content"][0]["text"] == "What does it say?"


def test_stdin_image(server: StreamServer, shot: Path) -> None:
    server.chat(stream_reply(vllm_stream(["from stdin"])))
    p = run("ocr", "-", "--endpoint", server.base_url, stdin=shot.read_bytes())
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"from stdin"


def test_environment_variables(server: StreamServer, shot: Path) -> None:
    server.chat(stream_reply(vllm_stream(["ok"])))
    p = run(
        "ocr",
        str(shot),
        env={
            "SCREENSCRIBE_ENDPOINT": server.base_url,
            "SCREENSCRIBE_MODEL": "env-model",
            "SCREENSCRIBE_API_KEY": "sk-env-secret",
        },
    )
    assert p.returncode == 0, p.stderr
    seen = server.requests[-1]
    assert seen.headers["Authorization"] == "Bearer sk-env-secret"
    assert seen.json()["model"] == "env-model"
    assert b"sk-env-secret" not in p.stderr + p.stdout


# --- exit codes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code", "words"),
    [
        (json_reply({"error": {"message": "Invalid API key"}}, 401), 4, "Invalid API key"),
        (json_reply({"error": "Forbidden"}, 403), 4, "403 Forbidden"),
        (
            json_reply({"error": {"message": 'model "x" not found, try pulling it first'}}, 404),
            5,
            "try pulling it first",
        ),
        (
            json_reply(
                {
                    "object": "error",
                    "message": "The decoder prompt (length 40000) is longer"
                    " than the maximum model length of 32768.",
                    "code": 400,
                },
                400,
            ),
            5,
            "too long for the server's context",
        ),
        (
            json_reply({"error": {"message": "engine died"}}, 500, headers={"Retry-After": "0"}),
            6,
            "engine died",
        ),
        (
            Reply(
                502,
                b"<html><h1>Bad Gateway</h1></html>",
                content_type="text/html",
                chunked=False,
                headers={"Retry-After": "0"},
            ),
            6,
            "Bad Gateway",
        ),
    ],
)
def test_failures_exit_with_their_code_and_one_line(
    server: StreamServer, shot: Path, reply: Reply, code: int, words: str
) -> None:
    server.chat(reply)
    p = run("ocr", str(shot), "--endpoint", server.base_url, "--model", "x")
    assert p.returncode == code
    err = p.stderr.decode()
    assert words in err
    assert "Traceback" not in err
    assert p.stdout == b""


def test_mid_stream_error_keeps_streamed_text(server: StreamServer, shot: Path) -> None:
    msgs = [
        *vllm_stream(["Partial ", "text"])[:3],
        {"error": {"message": "CUDA out of memory"}},
        "[DONE]",
    ]
    server.chat(stream_reply(msgs))
    p = run("ocr", str(shot), "--endpoint", server.base_url)
    assert p.returncode == 6
    assert p.stdout == b"Partial text"
    assert "CUDA out of memory" in p.stderr.decode()
    rows = history_rows()
    assert [(r["status"], r["answer"]) for r in rows] == [("partial", "Partial text")]


def test_dead_endpoint_exits_3(shot: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run("ocr", str(shot), "--endpoint", f"http://127.0.0.1:{port}/v1")
    assert p.returncode == 3
    assert (
        p.stderr.decode().strip().splitlines()[-1]
        == "screenscribe: Could not connect to 127.0.0.1: Connection refused."
    )


def test_stalled_server_times_out_with_exit_3(server: StreamServer, shot: Path) -> None:
    write_settings(
        f'[profiles.slow]\nbase_url = "{server.base_url}"\nmodel = "m"\nidle_timeout = 0.5\n'
    )
    server.chat(stream_reply(vllm_stream(["a"])[:2], stall_after_body=5))
    p = run("ocr", str(shot), "--profile", "slow")
    assert p.returncode == 3
    assert p.stdout == b"a"
    assert "sent nothing for 0.5 s" in p.stderr.decode()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ocr", "missing.png"], "File not found"),
        (["ocr", "__FILE__"], "not a supported image"),
        (["ocr"], "the following arguments are required"),
        (["ocr", "x.png", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["ocr", "x.png", "--resume"], "--resume needs --output"),
        (["ocr", "x.png", "--profile", "nope"], "nope"),
        (["ocr", "x.png", "--endpoint", "ftp://host/v1"], "http"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_text("this is not an image")
    args = [str(bogus) if a == "__FILE__" else a for a in args]
    p = run(*args)
    assert p.returncode == 2, p.stderr
    assert words in p.stderr.decode()
    assert "Traceback" not in p.stderr.decode()


def test_ctrl_c_exits_130_and_keeps_the_text(server: StreamServer, shot: Path) -> None:
    server.chat(stream_reply(vllm_stream(["half an "])[:2], stall_after_body=30))
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "ocr", str(shot), "--endpoint", server.base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert out == b"half an "
    assert "Traceback" not in err.decode()
    assert server.hangup.wait(2)
    assert [(r["status"], r["answer"]) for r in history_rows()] == [("partial", "half an ")]


# --- batches ---------------------------------------------------------------------------


def test_folder_batch_keeps_order_and_goes_past_failures(
    server: StreamServer, tmp_path: Path
) -> None:
    folder = tmp_path / "shots"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "c.jpg", "sub/d.webp"):
        make_image(folder / name)
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (folder / "readme.txt").write_text("not an image and not picked up")
    server.chat(stream_reply(vllm_stream(["text of one"]), delay=0.02, split=40))
    p = run("ocr", str(folder), "--endpoint", server.base_url, "--concurrency", "3")
    assert p.returncode == 2
    out = p.stdout.decode()
    heads = [line for line in out.splitlines() if line.startswith("==> ")]
    assert heads == [f"==> {folder / n} <==" for n in ("a.png", "b.png", "c.jpg", "sub/d.webp")]
    assert out.count("text of one") == 3
    err = p.stderr.decode()
    assert f"{folder / 'b.png'}: " in err
    assert "3 of 4 images done, 1 failed." in err
    assert len(server.requests) == 3


def test_output_file_and_resume(server: StreamServer, tmp_path: Path) -> None:
    files = [make_image(tmp_path / f"{i}.png") for i in range(5)]
    broken = files[2]
    broken.write_bytes(b"garbage")
    out = tmp_path / "results.jsonl"
    server.chat(stream_reply(vllm_stream(["ok"])))
    p = run(
        "ocr", *map(str, files), "--endpoint", server.base_url, "-o", str(out), "--concurrency", "2"
    )
    assert p.returncode == 2
    assert p.stdout == b""
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["file"] for r in recs) == sorted(str(f.resolve()) for f in files)
    assert {r["file"]: r["status"] for r in recs}[str(broken.resolve())] == "failed"
    assert len(server.requests) == 4
    make_image(broken)  # the user fixes the file and resumes
    p = run("ocr", *map(str, files), "--endpoint", server.base_url, "-o", str(out), "--resume")
    assert p.returncode == 0, p.stderr
    assert "resuming: 4 of 5 images already done." in p.stderr.decode()
    assert len(server.requests) == 5
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(r["status"] == "complete" for r in recs) == 5


def test_resume_survives_a_half_written_last_line(server: StreamServer, tmp_path: Path) -> None:
    files = [make_image(tmp_path / f"{i}.png") for i in range(2)]
    out = tmp_path / "results.jsonl"
    line = {"file": str(files[0].resolve()), "status": "complete", "text": "x"}
    out.write_text(json.dumps(line) + "\n" + '{"file": "' + str(files[1]))
    server.chat(stream_reply(vllm_stream(["ok"])))
    p = run("ocr", *map(str, files), "--endpoint", server.base_url, "-o", str(out), "--resume")
    assert p.returncode == 0, p.stderr
    assert len(server.requests) == 1
    last = json.loads(out.read_text().splitlines()[-1])
    assert last["file"] == str(files[1].resolve())
    assert last["text"] == "ok"


# --- history, settings, models ----------------------------------------------------------


def test_history_records_the_request(server: StreamServer, shot: Path) -> None:
    server.chat(stream_reply(vllm_stream(PIECES)))
    assert run("ocr", str(shot), "--endpoint", server.base_url).returncode == 0
    rows = history_rows()
    assert len(rows) == 1
    row: Any = rows[0]
    assert row["answer"] == TEXT
    assert row["status"] == "complete"
    assert row["finish_reason"] == "stop"
    assert row["prompt_tokens"] == USAGE["prompt_tokens"]
    assert row["source"] == str(shot.resolve())
    from desktop_app.core.history import History

    with History(Path(os.environ["SCREENSCRIBE_DATA_DIR"]) / "history.sqlite3") as h:
        entry = h.get(row["id"])
    assert entry is not None
    assert entry.thumbnail is not None
    assert entry.thumbnail[:2] == b"\xff\xd8"  # a JPEG thumbnail
    assert run("ocr", str(shot), "--endpoint", server.base_url, "--no-history").returncode == 0
    assert len(history_rows()) == 1


def test_corrupt_settings_file_is_kept_and_defaults_load(server: StreamServer, shot: Path) -> None:
    path = write_settings("default_profile = [this is not toml")
    server.chat(stream_reply(vllm_stream(["ok"])))
    p = run("ocr", str(shot), "--endpoint", server.base_url)
    assert p.returncode == 0
    assert p.stdout == b"ok"
    assert "corrupt" in p.stderr.decode().lower() or "backup" in p.stderr.decode().lower()
    backups = list(path.parent.glob("settings.toml.corrupt-*"))
    assert len(backups) == 1
    assert backups[0].read_text() == "default_profile = [this is not toml"


def test_models_command(server: StreamServer) -> None:
    server.queue(
        "/v1/models", json_reply({"data": [{"id": "Qwen/Qwen3-VL-8B-Instruct"}, {"id": "other"}]})
    )
    p = run("models", "--endpoint", server.base_url, "--model", "Qwen/Qwen3-VL-8B-Instruct")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().splitlines() == ["* Qwen/Qwen3-VL-8B-Instruct", "  other"]
    p = run("models", "--endpoint", server.base_url, "--json")
    assert json.loads(p.stdout) == ["Qwen/Qwen3-VL-8B-Instruct", "other"]


def test_doctor_reports_a_dead_endpoint(tmp_path: Path) -> None:
    p = run(
        "doctor", "--endpoint", "http://127.0.0.1:9/v1", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    )
    out = p.stdout.decode()
    assert p.returncode == 1
    assert "[FAIL] endpoint" in out
    assert "[warn] API key" in out
    assert "keyring" in out


def test_doctor_with_a_working_endpoint(server: StreamServer) -> None:
    server.queue("/v1/models", json_reply({"data": [{"id": "m"}]}))
    server.chat(stream_reply(vllm_stream(["OK"], model="m")))
    p = run(
        "doctor",
        "--endpoint",
        server.base_url,
        "--model",
        "m",
        env={"DISPLAY": "", "WAYLAND_DISPLAY": ""},
    )
    out = p.stdout.decode()
    assert p.returncode == 0, out
    for step in ("reach", "auth", "model", "answer"):
        assert f"[  ok] endpoint {step}" in out
    assert re.search(r"\[  ok\] endpoint +a test image answered: first token \d+ ms", out)
    assert len(server.requests) == 2  # the model list, then the tiny real request


def test_doctor_says_which_desktop_backends_work_here(server: StreamServer) -> None:
    """On the test run's X server: mss captures, X11 grabs keys, Qt's clipboard."""
    server.queue("/v1/models", json_reply({"data": [{"id": "m"}]}))
    server.chat(stream_reply(vllm_stream(["OK"], model="m")))
    p = run("doctor", "--endpoint", server.base_url, "--model", "m")
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert re.search(r"\[  ok\] display +:\d+ \(", out)
    assert re.search(r"\[  ok\] capture +mss \(skipped: grim: not compatible", out)
    assert "[  ok] hotkeys        x11" in out
    assert "[  ok] clipboard      Qt (xcb)" in out
    assert "tray" in out


def test_help_lists_the_app_commands() -> None:
    p = run("--help")
    assert p.returncode == 0
    out = p.stdout.decode()
    for command in ("capture", "clipboard", "ocr", "ask", "models", "doctor", "key"):
        assert f"    {command}" in out


def test_version() -> None:
    p = run("--version")
    assert p.stdout.decode().startswith("screenscribe 0.")


def test_key_in_the_keyring_is_used_and_never_shown(server: StreamServer, shot: Path) -> None:
    write_settings(
        f'default_profile = "box"\n[profiles.box]\nbase_url = "{server.base_url}"\nmodel = "m"\n'
    )
    p = run("key", "set", stdin=b"sk-from-keyring-123\n")
    assert p.returncode == 0, p.stderr
    assert b"sk-from-keyring-123" not in p.stdout + p.stderr
    assert b"key stored" in p.stdout
    status = run("key", "status")
    assert b"box: key in the keyring" in status.stdout
    server.chat(stream_reply(vllm_stream(["ok"])))
    assert run("ocr", str(shot)).returncode == 0
    assert server.requests[-1].headers["Authorization"] == "Bearer sk-from-keyring-123"
    config = Path(os.environ["SCREENSCRIBE_CONFIG_DIR"])
    assert all(
        b"sk-from-keyring-123" not in f.read_bytes() for f in config.rglob("*") if f.is_file()
    )
    assert run("key", "delete").returncode == 0
    assert b"box: no key" in run("key", "status").stdout


def test_401_without_a_key_says_none_is_set_and_how_to_add_one(
    server: StreamServer, shot: Path
) -> None:
    server.chat(json_reply({"error": "Unauthorized"}, 401))
    p = run("ocr", str(shot), "--endpoint", server.base_url)
    assert p.returncode == 4
    err = p.stderr.decode()
    assert "needs an API key and none is set" in err
    assert "screenscribe key set --profile custom" in err


# --- the offline engine ------------------------------------------------------------------

DATA = Path(__file__).resolve().parents[1] / "data" / "ocr"


def test_offline_engine_reads_with_no_endpoint_at_all() -> None:
    image = DATA / "table_13px.png"
    # a closed port as the (ignored) endpoint: nothing may go over the network
    p = run(
        "ocr",
        "--engine",
        "local",
        str(image),
        env={"SCREENSCRIBE_ENDPOINT": "http://127.0.0.1:9/v1"},
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == (DATA / "table_13px.txt").read_text(encoding="utf-8").rstrip("\n")
    rows = history_rows()
    assert [(r["profile"], r["status"]) for r in rows] == [("offline", "complete")]


def test_auto_uses_the_offline_engine_when_nothing_is_configured() -> None:
    p = run("ocr", str(DATA / "single_line_13px.png"), "--json")
    assert p.returncode == 0, p.stderr
    assert "reading with the offline engine" in p.stderr.decode()
    rec = json.loads(p.stdout)
    assert rec["text"] == (DATA / "single_line_13px.txt").read_text(encoding="utf-8").strip()
    assert rec["model"] == "PP-OCR (offline)"


def test_asking_needs_a_model() -> None:
    p = run("ask", str(DATA / "single_line_13px.png"), "What does it say?")
    assert p.returncode == 2
    assert "needs a vision model" in p.stderr.decode()


def test_ocr_engine_setting_local_is_used_even_with_an_endpoint(server: StreamServer) -> None:
    write_settings('ocr_engine = "local"\n')
    p = run("ocr", str(DATA / "single_line_13px.png"), "--endpoint", server.base_url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == (DATA / "single_line_13px.txt").read_text(encoding="utf-8").strip()
    assert server.requests == []  # nothing went to the endpoint


def test_unreachable_endpoint_falls_back_to_the_offline_engine_in_auto_mode() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_settings(
        f'default_profile = "box"\n[profiles.box]\n'
        f'base_url = "http://127.0.0.1:{port}/v1"\nmodel = "m"\n'
    )
    p = run("ocr", str(DATA / "single_line_13px.png"), "--json")
    assert p.returncode == 0, p.stderr
    assert "Reading offline instead" in p.stderr.decode()
    rec = json.loads(p.stdout)
    assert rec["text"] == (DATA / "single_line_13px.txt").read_text(encoding="utf-8").strip()
    assert rec["model"] == "PP-OCR (offline)"
    # asked for the endpoint explicitly: no fallback, the failure is the answer
    p = run("ocr", str(DATA / "single_line_13px.png"), "--engine", "endpoint")
    assert p.returncode == 3


@pytest.mark.parametrize("args", [[], ["capture"]])
def test_the_desktop_app_without_a_display_says_so(args: list[str]) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "No display: the desktop app needs a graphical session" in done.stderr
    assert "screenscribe ocr IMAGE" in done.stderr
    assert "Traceback" not in done.stderr

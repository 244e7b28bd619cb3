"""Whether a profile has a key, asked in another process so that the tray app never
loads the keyring for a user who only uses the offline engine. Real CLI processes, a
real (file-backed) keyring in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from desktop_app.core import secrets
from desktop_app.keyprobe import KeyProbe


def _python_m() -> list[str]:
    return [sys.executable, "-m", "desktop_app"]


def _store(profile: str, key: str) -> None:
    subprocess.run(
        [*_python_m(), "key", "set", "--profile", profile],
        input=f"{key}\n".encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )


def test_key_status_check_answers_with_its_exit_code() -> None:
    def check(profile: str) -> int:
        argv = [*_python_m(), "key", "status", "--check", "--profile", profile]
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        assert done.stdout == b""  # nothing printed, the key least of all
        return done.returncode

    assert check("hosted") == 1
    _store("hosted", "sk-probe-123")
    assert check("hosted") == 0
    assert check("no-such-profile") == 2  # the error names the known profiles


def test_the_probe_asks_another_process_and_remembers() -> None:
    probe = KeyProbe(_python_m)
    assert probe._ask("hosted") is False
    _store("hosted", "sk-probe-456")
    assert probe._ask("hosted") is True
    assert probe._ask("no-such-profile") is None  # cannot tell: the caller asks itself


def test_keys_in_memory_need_no_process() -> None:
    probe = KeyProbe(lambda: ["/nonexistent/screenscribe"])
    secrets.set_session_key("hosted", "sk-session-789")
    assert probe.has_key("hosted") is True
    env_probe = KeyProbe(lambda: ["/nonexistent/screenscribe"], env={"SCREENSCRIBE_API_KEY": "k"})
    assert env_probe.has_key("other") is True
    assert probe.probes == 0
    assert env_probe.probes == 0


_FRESH = """
import json, sys
from desktop_app.keyprobe import KeyProbe
probe = KeyProbe(lambda: [sys.executable, "-m", "desktop_app"])
answers = [probe.has_key("hosted"), probe.has_key("hosted")]
print(json.dumps({"answers": answers, "probes": probe.probes,
                  "keyring_loaded": "keyring" in sys.modules}))
"""


def _in_a_fresh_process(script: str) -> dict[str, object]:
    """What ``script`` prints as JSON, run where nothing has loaded keyring yet."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=dict(os.environ),
    )
    return dict(json.loads(done.stdout))


def test_an_app_without_the_keyring_loaded_keeps_it_out() -> None:
    """In a fresh process, as in the tray app: the answer comes from a probe process,
    once, and keyring (24 MiB with its Secret Service backend) is never imported."""
    fresh = _in_a_fresh_process(_FRESH)
    assert fresh == {"answers": [False, False], "probes": 1, "keyring_loaded": False}
    _store("hosted", "sk-probe-fresh")
    fresh = _in_a_fresh_process(_FRESH)
    assert fresh == {"answers": [True, True], "probes": 1, "keyring_loaded": False}


def test_a_failed_probe_falls_back_to_asking_here() -> None:
    secrets.use_keyring("file")
    secrets.set_api_key("hosted", "sk-fallback-1")
    probe = KeyProbe(lambda: ["/nonexistent/screenscribe"])
    # keyring is loaded in the test process, so ask it directly, with no process at all
    assert probe.has_key("hosted") is True
    assert probe.probes == 0
    assert probe._ask("hosted") is None  # the command cannot start


_PREFETCH = """
import json, sys, time
from desktop_app.keyprobe import KeyProbe
probe = KeyProbe(lambda: [sys.executable, "-m", "desktop_app"])
probe.prefetch("hosted")
probe.prefetch("hosted")  # on its way already: no second process
deadline = time.monotonic() + 60
while probe._fresh("hosted") is None and time.monotonic() < deadline:
    time.sleep(0.01)
t0 = time.perf_counter()
answer = probe.has_key("hosted")
waited_ms = (time.perf_counter() - t0) * 1000
print(json.dumps({"answer": answer, "probes": probe.probes, "waited_ms": waited_ms,
                  "keyring_loaded": "keyring" in sys.modules}))
"""


def test_a_prefetched_answer_is_there_for_the_first_capture() -> None:
    """The tray app asks at start-up in the background: the first capture then finds the
    answer at once (no process started on the GUI thread), and two prefetches make one."""
    _store("hosted", "sk-prefetched")
    result = _in_a_fresh_process(_PREFETCH)
    assert result["answer"] is True
    assert result["probes"] == 1
    assert result["waited_ms"] < 20  # from memory, not from a process
    assert result["keyring_loaded"] is False

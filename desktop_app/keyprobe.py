"""Whether a profile has an API key, asked without loading the keyring into the app.

Until the user configures an endpoint, every capture asks whether the hosted profile has
a key (``core.engines.endpoint_configured``). Importing keyring and its Secret Service
backend (cryptography, jeepney) to answer that cost the tray app 24 MiB of resident
memory for good and the first capture a 150 ms pause on the GUI thread, for a user who
may only ever use the offline engine. So the app asks ``screenscribe key status --check``
in a short-lived process instead: only whether there is a key crosses back, never the key.

In memory (``$SCREENSCRIBE_API_KEY``, a session key) is answered here; once something
else has loaded keyring into the app (the settings dialog, a request to the model), it
is asked directly. An answer is kept for ``ttl_s`` seconds, or until :meth:`forget`
(the app calls it when the settings change). :meth:`prefetch` asks in a background thread,
so that the first capture finds the answer instead of waiting ~200 ms for it on the GUI
thread (the tray app prefetches at start-up).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["KeyProbe"]

log = logging.getLogger("screenscribe.keyprobe")


class KeyProbe:
    def __init__(
        self,
        command: Callable[[], list[str]] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 15.0,
        ttl_s: float = 300.0,
    ) -> None:
        if command is None:
            from desktop_app.autostart import launch_command

            command = launch_command
        self._command = command
        self._env = env
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._known: dict[str, tuple[bool, float]] = {}  # profile -> (answer, when)
        self._asking: dict[str, threading.Event] = {}  # profile -> set when answered
        self._lock = threading.Lock()
        self.probes = 0  # processes started (for tests and benchmarks)

    def has_key(self, profile: str) -> bool:
        from desktop_app.core.secrets import key_in_memory, key_source

        if key_in_memory(profile, self._env) is not None:
            return True
        if "keyring" in sys.modules:  # loaded already: asking costs nothing more
            return key_source(profile, self._env) is not None
        with self._lock:
            asking = self._asking.get(profile)
        if asking is not None:  # a prefetch is on its way: wait for it, not for a second
            asking.wait(self._timeout_s)
        known = self._fresh(profile)
        if known is not None:
            return known
        answer = self._ask(profile)
        if answer is None:  # the probe could not run: ask here after all
            return key_source(profile, self._env) is not None
        with self._lock:
            self._known[profile] = (answer, time.monotonic())
        return answer

    def prefetch(self, profile: str) -> None:
        """Starts asking for ``profile`` in a background thread, unless the answer is
        known, on its way, or needs no process."""
        from desktop_app.core.secrets import key_in_memory

        if key_in_memory(profile, self._env) is not None or "keyring" in sys.modules:
            return
        with self._lock:
            if profile in self._asking or self._fresh(profile) is not None:
                return
            done = self._asking[profile] = threading.Event()

        def ask() -> None:
            try:
                answer = self._ask(profile)
                if answer is not None:
                    with self._lock:
                        self._known[profile] = (answer, time.monotonic())
            finally:
                with self._lock:
                    self._asking.pop(profile, None)
                done.set()

        threading.Thread(target=ask, name="screenscribe-keyprobe", daemon=True).start()

    def forget(self) -> None:
        with self._lock:
            self._known.clear()

    def _fresh(self, profile: str) -> bool | None:
        """The answer for ``profile`` if one younger than ``ttl_s`` is known. (One dict
        read: atomic, with or without the lock held.)"""
        known = self._known.get(profile)
        if known is not None and time.monotonic() - known[1] < self._ttl_s:
            return known[0]
        return None

    def _ask(self, profile: str) -> bool | None:
        argv = [*self._command(), "key", "status", "--check", "--profile", profile]
        self.probes += 1
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self._timeout_s,
                check=False,
                env=None if self._env is None else dict(self._env),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.info("Could not ask for the key in another process: %s", exc)
            return None
        if done.returncode in (0, 1):
            return done.returncode == 0
        log.info(
            "`key status --check` for %r ended with %d: %s",
            profile,
            done.returncode,
            done.stderr.decode(errors="replace").strip()[-300:],
        )
        return None

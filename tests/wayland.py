"""A private headless Wayland session (sway, a wlroots compositor) and a private D-Bus
session bus, for the Wayland capture tests::

    with sway_session(Output("HEADLESS-1", 640, 480), Output("HEADLESS-2", 800, 600,
                                                             x=640, scale=2)) as session:
        proc = session.run_qt(CODE)            # Qt on the wayland platform, in a subprocess
        result = qt_json(proc)

    with session_bus(session.env, services=PORTAL_SERVICES) as bus:   # the real portal
        ...

sway runs headless (``WLR_BACKENDS=headless``, software rendering, one headless output per
``Output``); each output shows a known background: a solid colour or a picture of exactly
its physical size (drawn by swaybg, pixel for pixel). sway refuses to run as root, so under
root it runs as ``nobody`` in a runtime directory of that user; clients (root) reach its
sockets through absolute paths (``WAYLAND_DISPLAY=/abs/path`` is libwayland's own rule) and
keep a runtime directory of their own.

Processes started here run in sessions of their own and are stopped by their process group
(D-Bus activated services and swaybg are children of the bus and of sway).

Debian packages: sway (swaymsg), swaybg, grim, dbus-daemon, dbus-bin; for the real portal
xdg-desktop-portal, xdg-desktop-portal-wlr, xdg-desktop-portal-gtk (its Access
implementation makes xdg-desktop-portal 1.16 export the Screenshot portal at all) and
pipewire-bin (xdg-desktop-portal-wlr exits without a PipeWire daemon).
"""

from __future__ import annotations

import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.xserver import ROOT, run_qt_script

if TYPE_CHECKING:
    from PIL import Image

NOBODY = 65534
PORTAL = "/usr/libexec/xdg-desktop-portal"
PORTAL_WLR = "/usr/libexec/xdg-desktop-portal-wlr"
PORTAL_GTK = "/usr/libexec/xdg-desktop-portal-gtk"

#: D-Bus service files (in /usr/share/dbus-1/services) the real portal needs: the
#: frontend, the wlroots Screenshot backend, the GTK Access backend and the permission
#: store. Not the document portal: it mounts a FUSE file system in the runtime directory.
PORTAL_SERVICES = (
    "org.freedesktop.portal.Desktop",
    "org.freedesktop.impl.portal.desktop.wlr",
    "org.freedesktop.impl.portal.desktop.gtk",
    "org.freedesktop.impl.portal.PermissionStore",
)


def missing(*programs: str) -> str | None:
    """A skip reason naming the programs (and their Debian packages) that are not
    installed, or None."""
    packages = {
        "sway": "sway",
        "swaymsg": "sway",
        "swaybg": "swaybg",
        "grim": "grim",
        "dbus-daemon": "dbus-daemon",
        "dbus-send": "dbus-bin",
        "pipewire": "pipewire-bin",
        PORTAL: "xdg-desktop-portal",
        PORTAL_WLR: "xdg-desktop-portal-wlr",
        PORTAL_GTK: "xdg-desktop-portal-gtk",
    }
    absent = [p for p in programs if shutil.which(p) is None]
    if not absent:
        return None
    names = sorted({packages.get(p, p) for p in absent})
    return f"needs {', '.join(absent)} (Debian: apt-get install {' '.join(names)})"


@dataclass(frozen=True)
class Output:
    """A headless output: its mode in physical pixels, its logical position, its scale,
    and what it shows: a colour (``"#rrggbb"``) or a picture of exactly ``width x height``."""

    name: str
    width: int
    height: int
    x: int = 0
    y: int = 0
    scale: float = 1.0
    background: str | Image.Image = "#000000"

    def picture(self) -> Image.Image:
        """What the output shows, in its physical pixels."""
        from PIL import Image, ImageColor

        if isinstance(self.background, str):
            return Image.new("RGB", (self.width, self.height), ImageColor.getrgb(self.background))
        assert self.background.size == (self.width, self.height)
        return self.background.convert("RGB")


@dataclass
class SwaySession:
    outputs: tuple[Output, ...]
    process: subprocess.Popen[bytes]
    server_dir: Path  # sway's XDG_RUNTIME_DIR (owned by the user sway runs as)
    client_dir: Path  # the clients' XDG_RUNTIME_DIR
    wayland_display: str  # absolute path of the Wayland socket
    swaysock: str  # absolute path of sway's IPC socket
    log: Path

    @property
    def env(self) -> dict[str, str]:
        """What a client of this session needs in its environment."""
        return {
            "WAYLAND_DISPLAY": self.wayland_display,
            "XDG_RUNTIME_DIR": str(self.client_dir),
            "SWAYSOCK": self.swaysock,
            "XDG_CURRENT_DESKTOP": "sway",
            "XDG_SESSION_TYPE": "wayland",
        }

    def client_environ(self, **more: str | None) -> dict[str, str]:
        """The whole environment for a client process: this one's, minus any X display
        and D-Bus bus, plus the session's variables and ``more`` (None removes one)."""
        full = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
        for key in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "WAYLAND_SOCKET"):
            full.pop(key, None)
        full.update(self.env)
        for key, value in more.items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        return full

    def swaymsg(self, *args: str) -> Any:
        proc = subprocess.run(
            ["swaymsg", "-r", "-s", self.swaysock, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert proc.returncode == 0, (proc.stdout, proc.stderr, self.log_tail())
        return json.loads(proc.stdout)

    def grim(self, *args: str) -> bytes:
        """``grim ARGS -`` as a client of this session: the picture's bytes."""
        proc = subprocess.run(
            ["grim", *args, "-"],
            env=self.client_environ(),
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert proc.returncode == 0, (proc.stderr, self.log_tail())
        return proc.stdout

    def shows(self, output: Output) -> bool:
        """Whether ``output`` shows its background yet, every pixel of it."""
        from PIL import Image

        data = self.grim("-t", "ppm", "-o", output.name)
        got = Image.open(io.BytesIO(data)).convert("RGB")
        return got.size == (output.width, output.height) and (
            got.tobytes() == output.picture().tobytes()
        )

    def run_qt(
        self, code: str, *, env: Mapping[str, str | None] | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """A Python snippet with Qt on the ``wayland`` platform of this session (the
        prelude of tests/xserver.py turns Qt warnings into a failure of ``qt_json``)."""
        wayland: dict[str, str | None] = {
            "QT_QPA_PLATFORM": "wayland",
            "DISPLAY": None,
            "DBUS_SESSION_BUS_ADDRESS": None,
            **self.env,
        }
        wayland.update(env or {})
        return run_qt_script("", code, env=wayland, timeout=timeout)

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _as_nobody() -> list[str]:
    """sway refuses to run as root ("Unable to drop root"): run it as nobody instead."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def _owned_dir(prefix: str, uid: int | None) -> Path:
    # Directly under /tmp: pytest's own temporary directories are closed to other users.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o700)
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def _stop_group(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """Stop a process started with ``start_new_session=True`` and everything in its
    process group (its children: swaybg, D-Bus activated services)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # children leave after their leader
        if not live_members(proc.pid):
            return
        time.sleep(0.01)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that still run. Zombies do not count: orphans are
    reaped by PID 1, which in a container may take seconds."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            live.append(int(entry))
    return live


def _wait_until(check: Any, timeout: float, what: str, detail: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s. {detail() if detail else ''}")
        time.sleep(0.01)


@contextmanager
def sway_session(
    *outputs: Output, timeout: float = 10.0, debug: Sequence[str] = ()
) -> Iterator[SwaySession]:
    """A headless sway with ``outputs`` (named HEADLESS-1, HEADLESS-2, ... in order), each
    showing its background; stopped on exit. ``debug``: sway's ``-D`` flags, such as
    ``noscanout`` (sway 1.7 then composites every frame: screencopy, and so grim, may
    otherwise read a stale frame of an output whose full-screen view was scanned out
    directly from its first frame on)."""
    assert [o.name for o in outputs] == [f"HEADLESS-{i + 1}" for i in range(len(outputs))]
    prefix = _as_nobody()
    uid = NOBODY if prefix else None
    with ExitStack() as stack:
        server_dir = _owned_dir("sway-", uid)
        stack.callback(shutil.rmtree, server_dir, ignore_errors=True)
        client_dir = _owned_dir("wl-client-", None)
        stack.callback(shutil.rmtree, client_dir, ignore_errors=True)
        lines = ["xwayland disable", "default_border none", "focus_follows_mouse no"]
        for out in outputs:
            if isinstance(out.background, str):
                bg = f"{out.background} solid_color"
            else:
                path = server_dir / f"{out.name}.png"
                out.background.save(path)
                if uid is not None:
                    os.chown(path, uid, uid)
                bg = f"{path} stretch"
            lines.append(
                f"output {out.name} mode {out.width}x{out.height} position {out.x} {out.y} "
                f"scale {out.scale:g} bg {bg}"
            )
        config = server_dir / "config"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if uid is not None:
            os.chown(config, uid, uid)
        log = client_dir / "sway.log"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(server_dir),
            "XDG_RUNTIME_DIR": str(server_dir),
            "WLR_BACKENDS": "headless",
            "WLR_HEADLESS_OUTPUTS": str(len(outputs)),
            "WLR_LIBINPUT_NO_DEVICES": "1",
            "WLR_RENDERER": "pixman",
        }
        with log.open("wb") as log_file:
            proc = subprocess.Popen(
                [*prefix, "sway", "-c", str(config), *(a for f in debug for a in ("-D", f))],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.callback(_stop_group, proc)

        def sockets() -> tuple[Path, Path] | None:
            if proc.poll() is not None:
                raise RuntimeError(f"sway exited ({proc.returncode}): {log.read_text()[-2000:]}")
            names = os.listdir(server_dir)
            ipc = [n for n in names if n.startswith("sway-ipc.")]
            way = [n for n in names if n.startswith("wayland-") and not n.endswith(".lock")]
            return (server_dir / way[0], server_dir / ipc[0]) if ipc and way else None

        _wait_until(lambda: sockets() is not None, timeout, "sway did not start")
        found = sockets()
        assert found is not None
        session = SwaySession(
            tuple(outputs), proc, server_dir, client_dir, str(found[0]), str(found[1]), log
        )

        def configured() -> bool:
            by_name = {o["name"]: o for o in session.swaymsg("-t", "get_outputs")}
            return all(
                o.name in by_name
                and by_name[o.name]["current_mode"]["width"] == o.width
                and by_name[o.name]["scale"] == o.scale
                for o in outputs
            )

        _wait_until(configured, timeout, "sway did not configure the outputs", session.log_tail)
        _wait_until(
            lambda: all(session.shows(o) for o in outputs),
            timeout,
            "the outputs do not show their backgrounds",
            session.log_tail,
        )
        yield session


# --- a private D-Bus session bus ------------------------------------------------------

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={socket}</listen>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass(frozen=True)
class Bus:
    address: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


@contextmanager
def session_bus(
    env: Mapping[str, str] | None = None,
    *,
    services: Sequence[str] = (),
    pipewire: bool = False,
    start: Sequence[str] = (),
    timeout: float = 10.0,
) -> Iterator[Bus]:
    """A private ``dbus-daemon`` that can activate only ``services`` (names of files in
    /usr/share/dbus-1/services, without ``.service``); activated services inherit ``env``
    (the Wayland session's variables) and a private HOME. ``pipewire`` also starts a
    PipeWire daemon on it first (xdg-desktop-portal-wlr needs one); ``start`` activates
    services before anyone else talks to them.

    xdg-desktop-portal-wlr 0.7 can miss a D-Bus call that arrives while it starts (it
    reads it during its own start-up and never looks at it again: the caller waits for
    ever); started first, alone, it answers every time.
    """
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="bus-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        service_dir = work / "services"
        service_dir.mkdir()
        for name in services:
            shutil.copy(Path("/usr/share/dbus-1/services") / f"{name}.service", service_dir)
        config = work / "bus.conf"
        config.write_text(
            _BUS_CONFIG.format(socket=work / "bus", services=service_dir), encoding="utf-8"
        )
        home = work / "home"
        home.mkdir()
        runtime = work / "runtime"
        runtime.mkdir(mode=0o700)
        full = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "GSETTINGS_BACKEND": "memory",
            "NO_AT_BRIDGE": "1",
            "GTK_A11Y": "none",
            "GDK_BACKEND": "wayland",
            **(env or {}),
        }
        log = work / "bus.log"
        read_fd, write_fd = os.pipe()
        with log.open("wb") as log_file:
            proc = subprocess.Popen(
                [
                    "dbus-daemon",
                    "--nofork",
                    f"--config-file={config}",
                    f"--print-address={write_fd}",
                ],
                env=full,
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        os.close(write_fd)
        stack.callback(_stop_group, proc)
        try:
            ready, _, _ = select.select([read_fd], [], [], timeout)
            address = os.read(read_fd, 4096).decode().strip() if ready else ""
        finally:
            os.close(read_fd)
        if not address:
            raise RuntimeError(f"dbus-daemon did not start: {log.read_text()[-2000:]}")
        bus = Bus(address, proc, log)
        if pipewire:
            with (work / "pipewire.log").open("wb") as pw_log:
                pw = subprocess.Popen(
                    ["pipewire"],
                    env={**full, "DBUS_SESSION_BUS_ADDRESS": "disabled:"},
                    stdin=subprocess.DEVNULL,
                    stdout=pw_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            stack.callback(_stop_group, pw)
            _wait_until(
                lambda: (
                    (Path(full["XDG_RUNTIME_DIR"]) / "pipewire-0").exists() or pw.poll() is not None
                ),
                timeout,
                "pipewire did not start",
            )
            assert pw.poll() is None, (work / "pipewire.log").read_text()[-2000:]
        for name in start:
            started = subprocess.run(
                [
                    "dbus-send",
                    f"--bus={address}",
                    "--print-reply",
                    f"--reply-timeout={round(timeout * 1000)}",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.StartServiceByName",
                    f"string:{name}",
                    "uint32:0",
                ],
                capture_output=True,
                text=True,
                timeout=timeout + 1,
                check=False,
            )
            assert started.returncode == 0, (started.stderr, bus.log_tail())
        yield bus


# --- a stand-in portal on a private bus ----------------------------------------------


@contextmanager
def fake_portal(
    bus: Bus,
    *args: str,
    timeout: float = 10.0,
    module: str = "tests.fake_portal",
    outlives_bus: bool = False,
) -> Iterator[Path]:
    """``python -m MODULE ARGS`` (a stand-in portal: tests.fake_portal for Screenshot,
    tests.fake_shortcuts_portal for GlobalShortcuts) owning org.freedesktop.portal.Desktop
    on ``bus``; yields the JSON-lines file where it records every call it gets. With
    ``outlives_bus`` it must still run at the end (it did not crash)."""
    work = Path(tempfile.mkdtemp(prefix="fake-portal-"))
    calls = work / "calls.jsonl"
    calls.touch()
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.address, "QT_QPA_PLATFORM": "offscreen"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--calls", str(calls), *args],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().decode() if ready else ""
        assert line.strip() == "ready", line + (proc.stdout.read().decode() if not ready else "")
        yield calls
        if outlives_bus:
            assert proc.poll() is None, proc.stdout.read().decode()  # it did not crash
    finally:
        _stop_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(work, ignore_errors=True)


def read_calls(calls: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in calls.read_text().splitlines() if line.strip()]


__all__ = [
    "PORTAL",
    "PORTAL_GTK",
    "PORTAL_SERVICES",
    "PORTAL_WLR",
    "Bus",
    "Output",
    "SwaySession",
    "fake_portal",
    "live_members",
    "missing",
    "read_calls",
    "session_bus",
    "sway_session",
]

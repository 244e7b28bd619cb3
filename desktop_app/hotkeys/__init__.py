"""Global hotkeys: one per preset, whichever window has the focus.

QtCore only, no widgets. Backends are an ordered strategy list (``BACKENDS``, DESIGN.md
convention 1); ``select_backend`` says which of them fit a session, and
``HotkeyManager`` uses the first that is available::

    hotkeys = HotkeyManager()                       # on the GUI thread, at start-up
    hotkeys.hotkey_pressed.connect(start_capture)   # receives the preset name
    problems = hotkeys.set_hotkeys({"ocr": "Ctrl+Alt+O", "ask": "Ctrl+Alt+A"})
    for preset, sentence in problems.items(): ...   # conflicts, unusable keys, no backend
    hotkeys.describe()                              # for doctor
    hotkeys.close()                                 # at exit

Where no backend works (a Wayland desktop whose portal has no GlobalShortcuts, a session
without a display), ``set_hotkeys`` answers each preset with the exact command to bind in
the desktop's own keyboard settings (``screenscribe capture --preset NAME``). The portal
backend answers later, once the user has seen the desktop's dialog: ``problems_reported``
carries what it refused, ``bindings_reported`` the keys the desktop chose instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal

from desktop_app.hotkeys.base import (
    LOGGER_NAME,
    HotkeyBackend,
    HotkeyCallback,
    HotkeyConflict,
    HotkeyError,
    KeyCombo,
    Modifier,
    desktop_name,
    environment,
    is_wayland_session,
    macos_compatible,
    manual_binding_hint,
    normalize_sequence,
    parse_sequence,
    portal_compatible,
    windows_compatible,
    x11_compatible,
)
from desktop_app.hotkeys.x11 import X11Backend

log = logging.getLogger(LOGGER_NAME)

BackendFactory = Callable[[Mapping[str, str] | None], HotkeyBackend]

#: The name ``select_backend`` ends with: no backend, bind the command by hand.
NO_BACKEND = "none"


@dataclass(frozen=True)
class BackendSpec:
    """One entry of the strategy list. ``compatible(environ, sys.platform)`` is the same
    check the backend's ``is_compatible()`` makes; ``factory`` is None for a backend that
    is planned but not written yet (it is then skipped, and ``describe`` says so)."""

    name: str
    compatible: Callable[[Mapping[str, str], str], bool]
    factory: BackendFactory | None
    summary: str


def _windows_factory() -> BackendFactory | None:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        from desktop_app.hotkeys.windows import WindowsBackend

        return WindowsBackend
    return None


def _portal_factory(environ: Mapping[str, str] | None) -> HotkeyBackend:
    from desktop_app.hotkeys.portal import PortalBackend  # jeepney: only where it is tried

    return PortalBackend(environ)


#: Tried in this order; the first compatible and available one is used. Extension point:
#: a macOS backend (Carbon RegisterEventHotKey, or a CGEventTap that needs the
#: Accessibility permission) goes in "macos": give it a module here and set its factory;
#: the table in tests/hotkeys/test_selection.py says where each should win.
BACKENDS: list[BackendSpec] = [
    BackendSpec("windows", windows_compatible, _windows_factory(), "Windows RegisterHotKey"),
    BackendSpec("macos", macos_compatible, None, "macOS hotkeys"),
    BackendSpec(
        "portal", portal_compatible, _portal_factory, "xdg-desktop-portal GlobalShortcuts (Wayland)"
    ),
    BackendSpec("x11", x11_compatible, X11Backend, "X11 key grabs with python-xlib"),
]


def select_backend(environ: Mapping[str, str], platform: str) -> list[str]:
    """The names of the backends worth trying in a session, best first, always ending
    with ``"none"`` (bind the command in the desktop's keyboard settings). ``platform``
    is a ``sys.platform`` value."""
    return [spec.name for spec in BACKENDS if spec.compatible(environ, platform)] + [NO_BACKEND]


class HotkeyManager(QObject):
    """The app's global hotkeys; create, use and close it on the GUI thread.

    ``hotkey_pressed(key_id)`` is emitted on the GUI thread (queued from the backend's
    thread) for each press of a registered key; a key held down fires once. The key_id is
    the preset name: it also names the preset in the command offered where no backend
    works. ``prefer`` forces one backend by name (``"x11"``, or ``"none"`` for none): it is
    used even where it does not look compatible (logged), but must be available.
    ``environ`` and ``platform`` replace ``os.environ`` and ``sys.platform``.
    """

    hotkey_pressed = Signal(str)
    problems_reported = Signal(object)  # {key_id: sentence}, later than set_hotkeys (portal)
    bindings_reported = Signal(object)  # {key_id: sentence} where the desktop chose another key
    _backend_fired = Signal(str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        prefer: str | None = None,
        environ: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> None:
        super().__init__(parent)
        names = [spec.name for spec in BACKENDS] + [NO_BACKEND]
        if prefer is not None and prefer not in names:
            raise HotkeyError(
                f"Unknown hotkey backend {prefer!r}; choose one of: {', '.join(names)}."
            )
        self._prefer = prefer
        self._environ = environment(environ)
        self._platform = sys.platform if platform is None else platform
        self._backend: HotkeyBackend | None = None
        self._resolved = False
        self._skipped: list[str] = []
        self._active: dict[str, str] = {}  # key_id -> canonical sequence, registered
        self._closed = False
        self._backend_fired.connect(self._on_backend_fired, Qt.ConnectionType.QueuedConnection)

    @property
    def backend_name(self) -> str:
        """The backend in use ("x11", ...) or "none"; chooses one on first use."""
        backend = self._resolve()
        return backend.name if backend is not None else NO_BACKEND

    def describe(self) -> str:
        """One line for doctor: the backend in use and why preferred ones were skipped,
        or what to do where none works."""
        backend = self._resolve()
        skipped = f"; skipped {'; '.join(self._skipped)}" if self._skipped else ""
        if backend is not None:
            return f"{backend.name} ({_SUMMARIES.get(backend.name, backend.name)}){skipped}"
        why = "; ".join(self._skipped) or "no backend for this session"
        return f"none ({why}); {manual_binding_hint('NAME', None, self._environ, self._platform)}"

    def set_hotkeys(self, mapping: Mapping[str, str]) -> dict[str, str]:
        """Make the registered hotkeys ``mapping`` (key_id -> sequence; an empty sequence
        means none): releases those that went or changed, then grabs the new ones.
        Returns ``{key_id: sentence}`` for each that could not be registered (a conflict
        with another program, an unusable key, the same key twice, no backend); those are
        tried again on the next call."""
        if self._closed:
            raise RuntimeError("HotkeyManager.set_hotkeys() after close()")
        problems: dict[str, str] = {}
        wanted: dict[str, str] = {}
        for key_id, sequence in mapping.items():
            if not sequence.strip():
                continue
            try:
                wanted[key_id] = normalize_sequence(sequence)
            except HotkeyError as exc:
                problems[key_id] = str(exc)
        backend = self._resolve()
        for key_id in [k for k, seq in self._active.items() if wanted.get(k) != seq]:
            del self._active[key_id]
            if backend is not None:
                backend.unregister(key_id)
        owners: dict[str, str] = {seq: k for k, seq in self._active.items()}
        for key_id, sequence in wanted.items():
            if self._active.get(key_id) == sequence:
                continue
            if backend is None:
                problems[key_id] = self._no_backend_problem(key_id, sequence)
                continue
            if sequence in owners:
                problems[key_id] = (
                    f"{sequence} is also the hotkey of “{owners[sequence]}”; give each "
                    "preset its own key in Settings → Presets."
                )
                continue
            try:
                backend.register(key_id, sequence, self._backend_fired.emit)
            except HotkeyError as exc:
                log.warning("hotkey %s for %s not registered: %s", sequence, key_id, exc)
                problems[key_id] = str(exc)
                continue
            self._active[key_id] = sequence
            owners[sequence] = key_id
        return problems

    @property
    def active(self) -> dict[str, str]:
        """The hotkeys registered now (key_id -> canonical sequence)."""
        return dict(self._active)

    def close(self) -> None:
        """Release every hotkey and stop the backend; no signal is emitted afterwards."""
        self._closed = True
        self._active.clear()
        if self._backend is not None:
            self._backend.close()

    def _on_backend_shortcuts_failed(self, problems: object) -> None:
        assert isinstance(problems, dict)
        for key_id in problems:
            self._active.pop(key_id, None)  # tried again on the next set_hotkeys
        if problems and not self._closed:
            self.problems_reported.emit(dict(problems))

    def _on_backend_shortcuts_bound(self, bindings: object) -> None:
        assert isinstance(bindings, dict)
        changed = {
            key_id: f"The desktop bound {key_id} to {b.trigger} instead of {b.sequence}."
            for key_id, b in bindings.items()
            if getattr(b, "changed", False)
        }
        if changed and not self._closed:
            self.bindings_reported.emit(changed)

    def _on_backend_fired(self, key_id: str) -> None:
        if not self._closed and key_id in self._active:
            self.hotkey_pressed.emit(key_id)

    def _resolve(self) -> HotkeyBackend | None:
        if self._resolved:
            return self._backend
        self._resolved = True
        order = [self._prefer] if self._prefer else select_backend(self._environ, self._platform)
        for name in order:
            if name == NO_BACKEND:
                break
            spec = next(s for s in BACKENDS if s.name == name)
            if spec.factory is None:
                self._note_skip(name, "not available in this version of ScreenScribe")
                continue
            backend = spec.factory(self._environ)
            if not backend.is_compatible():
                if self._prefer is None:  # pragma: no cover - select_backend checked it
                    self._note_skip(name, "not compatible with this session")
                    continue
                log.warning("hotkey backend %s forced although it does not fit", name)
            try:
                ok, reason = backend.is_available()
            except HotkeyError as exc:
                ok, reason = False, str(exc)
            if not ok:
                backend.close()
                self._note_skip(name, reason)
                continue
            log.info("global hotkeys with the %s backend", name)
            self._backend = backend
            failed = getattr(backend, "shortcuts_failed", None)
            if failed is not None:  # the portal: the desktop's answers come later
                failed.connect(self._on_backend_shortcuts_failed)
                backend.shortcuts_bound.connect(self._on_backend_shortcuts_bound)  # type: ignore[attr-defined]
            return backend
        log.info("no global hotkey backend works here: %s", "; ".join(self._skipped))
        return None

    def _note_skip(self, name: str, reason: str) -> None:
        log.info("hotkey backend %s skipped: %s", name, reason)
        self._skipped.append(f"{name}: {reason}")

    def _no_backend_problem(self, key_id: str, sequence: str) -> str:
        where = "here"
        if is_wayland_session(self._environ):
            title = _DESKTOP_TITLES.get(desktop_name(self._environ), "")
            where = f"in this {title} Wayland session" if title else "in this Wayland session"
        why = "; ".join(self._skipped) or "no global hotkey backend for this session"
        hint = manual_binding_hint(key_id, sequence, self._environ, self._platform)
        return f"{sequence} cannot be a global hotkey {where} ({why}); {hint}."


_SUMMARIES = {spec.name: spec.summary for spec in BACKENDS}
_DESKTOP_TITLES = {"gnome": "GNOME", "kde": "KDE Plasma", "sway": "sway", "hyprland": "Hyprland"}

__all__ = [
    "BACKENDS",
    "NO_BACKEND",
    "BackendSpec",
    "HotkeyBackend",
    "HotkeyCallback",
    "HotkeyConflict",
    "HotkeyError",
    "HotkeyManager",
    "KeyCombo",
    "Modifier",
    "X11Backend",
    "parse_sequence",
    "select_backend",
]

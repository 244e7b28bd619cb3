"""API keys: in the operating system's keyring, or in ``$SCREENSCRIBE_API_KEY``.

Keys are stored under the service ``screenscribe`` with the profile name as user name.
They are never written anywhere else, never logged and never put in an exception
message. ``keyring`` is imported on first use, not at start-up.

Reading is forgiving (no usable keyring means "no key"); writing explains what is missing.

Where no keyring works (a headless Linux without Secret Service), a key can be kept in
this process's memory for the session (:func:`set_session_key`), or, only when the user
chooses it knowingly, in keyrings.alt's unencrypted file (:func:`use_keyring`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal, NoReturn

from desktop_app.core.errors import SecretStoreError, UsageError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = [
    "ENV_VAR",
    "SERVICE",
    "backend_available",
    "backend_description",
    "delete_api_key",
    "file_keyring_available",
    "forget_session_key",
    "get_api_key",
    "key_in_memory",
    "key_source",
    "set_api_key",
    "set_session_key",
    "use_keyring",
]

SERVICE: Final = "screenscribe"
ENV_VAR: Final = "SCREENSCRIBE_API_KEY"

_NO_BACKEND: Final = "no keyring backend available"
_HOW_TO_GET_ONE: Final = (
    "There is no system keyring to store the API key in. Install and unlock one "
    "(GNOME Keyring or KWallet on Linux; macOS and Windows have one built in), "
    f"or set the {ENV_VAR} environment variable instead."
)

_log = logging.getLogger(__name__)

KeySource = Literal["environment", "session", "keyring"]

_session_keys: dict[str, str] = {}  # profile -> key, in memory only, for this process


def _env_key(env: Mapping[str, str] | None) -> str | None:
    env = os.environ if env is None else env
    value = env.get(ENV_VAR, "").strip()
    return value or None


def _backend() -> KeyringBackend:
    import keyring

    return keyring.get_keyring()


def _is_plaintext(backend: KeyringBackend) -> bool:
    return (
        type(backend).__module__.startswith("keyrings.alt")
        and "Plaintext" in type(backend).__name__
    )


_file_chosen = False  # use_keyring("file") was called: the user chose the plain file


def _is_unusable(backend: KeyringBackend) -> bool:
    """True for keyring's stand-ins when nothing real is there: ``fail`` raises on every
    call, ``null`` (chosen to disable keyring) silently drops what it is given; and for
    keyrings.alt's unencrypted file unless it was chosen (in the settings dialog, or by
    name in ``$PYTHON_KEYRING_BACKEND``), since keyring would pick it on its own where
    it is merely installed."""
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring | null.Keyring):
        return True
    if _is_plaintext(backend) and not (
        _file_chosen or os.environ.get("PYTHON_KEYRING_BACKEND", "").strip()
    ):
        return True
    if isinstance(backend, chainer.ChainerBackend):
        return all(_is_unusable(b) for b in backend.backends)
    return False


def _redact(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text


def _keyring_get(profile: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError

    try:
        backend = keyring.get_keyring()
        if _is_unusable(backend):
            return None
        value = backend.get_password(SERVICE, profile)
    except KeyringError as exc:
        _log.info("No API key from the keyring for %r: %s", profile, exc)
        return None
    except Exception:  # noqa: BLE001  (logged with its traceback; never raises)
        # A backend's own failure (D-Bus, a corrupt file ...): reading never raises.
        _log.warning("The keyring failed while reading the key for %r", profile, exc_info=True)
        return None
    return value or None


def get_api_key(profile: str, env: Mapping[str, str] | None = None) -> str | None:
    """The API key for ``profile``: ``$SCREENSCRIBE_API_KEY`` wins, then the keyring.

    ``None`` when there is none, including when no keyring backend is usable.
    """
    return _env_key(env) or _session_keys.get(profile) or _keyring_get(profile)


def key_in_memory(profile: str, env: Mapping[str, str] | None = None) -> KeySource | None:
    """Where the key for ``profile`` is if it needs no keyring: the environment or this
    session; None when only the keyring could have it."""
    if _env_key(env) is not None:
        return "environment"
    if profile in _session_keys:
        return "session"
    return None


def key_source(profile: str, env: Mapping[str, str] | None = None) -> KeySource | None:
    """Where :func:`get_api_key` would find the key, without revealing it."""
    if _env_key(env) is not None:
        return "environment"
    if profile in _session_keys:
        return "session"
    if _keyring_get(profile) is not None:
        return "keyring"
    return None


def _clean_key(key: str) -> str:
    cleaned = key.strip()
    if not cleaned:
        raise UsageError("The API key is empty.")
    if any(c.isspace() or not c.isprintable() for c in cleaned):
        raise UsageError("The API key contains spaces, line breaks or control characters.")
    return cleaned


def set_session_key(profile: str, key: str) -> None:
    """Keep ``key`` for ``profile`` in memory until the app quits; nothing is written."""
    _check_profile(profile)
    _session_keys[profile] = _clean_key(key)


def forget_session_key(profile: str) -> bool:
    return _session_keys.pop(profile, None) is not None


def file_keyring_available() -> bool:
    """Whether keyrings.alt's file-backed keyring is installed (``pip install keyrings.alt``)."""
    import importlib.util

    try:
        return importlib.util.find_spec("keyrings.alt.file") is not None
    except ImportError:  # "keyrings" itself is missing
        return False


def use_keyring(choice: str) -> None:
    """``"system"``: the keyring the platform offers (the default). ``"file"``: keys in
    keyrings.alt's *unencrypted* file in the user's data folder, for machines with no
    keyring at all; only on the user's explicit choice. Raises :class:`SecretStoreError`
    when the file keyring is not installed."""
    import keyring

    global _file_chosen  # noqa: PLW0603  (one process-wide choice, like keyring's own)
    if choice == "file":
        import importlib

        try:
            module = importlib.import_module("keyrings.alt.file")
        except ImportError:
            raise SecretStoreError(
                "The file-backed keyring is not installed: pip install keyrings.alt"
            ) from None
        keyring.set_keyring(module.PlaintextKeyring())
        _file_chosen = True
    elif choice == "system":
        from keyring.core import init_backend

        _file_chosen = False
        init_backend()
    else:
        raise UsageError(f"Unknown keyring choice {choice!r}: use system or file.")


def _check_profile(profile: str) -> None:
    if not profile or not profile.strip():
        raise UsageError("A profile name is needed to store an API key.")


def set_api_key(profile: str, key: str) -> None:
    """Store ``key`` for ``profile`` in the system keyring (surrounding whitespace removed).

    Raises :class:`UsageError` for an empty key or one with spaces or line breaks inside,
    and :class:`SecretStoreError` when there is no keyring or it refuses.
    """
    _check_profile(profile)
    cleaned = _clean_key(key)

    from keyring.errors import KeyringError, KeyringLocked, NoKeyringError

    backend = _backend()
    if _is_unusable(backend):
        raise SecretStoreError(_HOW_TO_GET_ONE)
    try:
        backend.set_password(SERVICE, profile, cleaned)
    except NoKeyringError:
        raise SecretStoreError(_HOW_TO_GET_ONE) from None
    except KeyringLocked:
        raise SecretStoreError(
            f"The system keyring ({_describe(backend)}) is locked; unlock it and try again."
        ) from None
    except (KeyringError, OSError, RuntimeError, ValueError) as exc:
        _raise_store_error("store", backend, exc, cleaned)
    _log.info("Stored the API key for %r in %s", profile, _describe(backend))


def delete_api_key(profile: str) -> bool:
    """Remove the stored key for ``profile``; False when there was none (or no keyring)."""
    _check_profile(profile)
    from keyring.errors import KeyringError

    backend = _backend()
    if _is_unusable(backend):
        return False
    stored: str | None = None
    try:
        stored = backend.get_password(SERVICE, profile)
        if not stored:
            return False
        backend.delete_password(SERVICE, profile)
    except (KeyringError, OSError, RuntimeError, ValueError) as exc:
        _raise_store_error("delete", backend, exc, stored or "")
    _log.info("Deleted the API key for %r from %s", profile, _describe(backend))
    return True


def _raise_store_error(action: str, backend: KeyringBackend, exc: Exception, key: str) -> NoReturn:
    detail = _redact(str(exc), key) or type(exc).__name__
    error = SecretStoreError(
        f"The system keyring ({_describe(backend)}) could not {action} the API key: {detail}"
    )
    # Keep the original for debugging unless its text holds the key.
    raise error from (exc if not key or key not in str(exc) else None)


def _describe(backend: KeyringBackend) -> str:
    from keyring.backends import chainer

    if _is_unusable(backend):
        return _NO_BACKEND
    if isinstance(backend, chainer.ChainerBackend):
        return " + ".join(_describe(b) for b in backend.backends if not _is_unusable(b))
    name = str(backend.name)
    if _is_plaintext(backend):
        name += " (unencrypted file)"
    return name


def backend_description() -> str:
    """The keyring in use for display, e.g. "SecretService Keyring", or
    "no keyring backend available"."""
    try:
        return _describe(_backend())
    except Exception:  # noqa: BLE001  (logged with its traceback; never raises)
        _log.warning("Could not load a keyring backend", exc_info=True)
        return _NO_BACKEND


def backend_available() -> bool:
    """Whether a key can be stored (a real backend, not keyring's fail or null one)."""
    try:
        return not _is_unusable(_backend())
    except Exception:  # noqa: BLE001  (logged with its traceback; never raises)
        _log.warning("Could not load a keyring backend", exc_info=True)
        return False

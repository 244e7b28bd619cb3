"""Which engine answers: a vision model at an endpoint, or the offline OCR engine.

Until the user configures an endpoint, text extraction runs offline, so the app and
``screenscribe ocr`` work on first launch with no network and no key. Questions, tables
and descriptions need a vision model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Literal

from desktop_app.core.errors import UsageError
from desktop_app.core.settings import DEFAULT_PROFILE, Profile, Settings

Engine = Literal["local", "endpoint"]
ENGINE_CHOICES = ("auto", "local", "endpoint")

#: How the offline engine appears in the panel and the history.
OFFLINE_PROFILE = Profile(
    name="offline",
    label="Offline OCR",
    base_url="http://127.0.0.1/offline",
    model="PP-OCR (offline)",
)

NEEDS_A_MODEL = (
    "This needs a vision model, and no endpoint is configured: give one with --endpoint URL "
    "(or SCREENSCRIBE_ENDPOINT, or a profile in the settings), or store a key for the "
    "hosted API with `screenscribe key set`. The offline engine only extracts text."
)


def endpoint_configured(
    settings: Settings,
    profile: Profile,
    *,
    explicit: bool = False,
    env: Mapping[str, str] | None = None,
    has_key: Callable[[str], bool] | None = None,
) -> bool:
    """True when the user chose an endpoint: a flag, the environment, a default profile
    other than the built-in hosted one, or a key for the hosted API. ``has_key(profile)``
    answers the last question when given (the app asks the keyring from another process,
    see ``desktop_app.keyprobe``); else the keyring is read here."""
    env = os.environ if env is None else env
    if explicit or env.get("SCREENSCRIBE_ENDPOINT") or env.get("SCREENSCRIBE_PROFILE"):
        return True
    if settings.default_profile != DEFAULT_PROFILE or profile.name != DEFAULT_PROFILE:
        return True
    if has_key is not None:
        return has_key(profile.name)
    from desktop_app.core.secrets import get_api_key

    return get_api_key(profile.name, env) is not None


def choose_engine(requested: str, mode: str, *, configured: bool) -> Engine:
    """``requested`` is auto, local or endpoint; raises ``UsageError`` when the mode
    needs a model that is not there."""
    if requested == "endpoint" or (requested == "auto" and configured):
        return "endpoint"
    if mode != "ocr":
        raise UsageError(NEEDS_A_MODEL)
    return "local"

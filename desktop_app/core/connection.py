"""The "Test connection" check of the settings dialog and ``screenscribe doctor``.

:func:`check_connection` walks one profile through four steps and stops at the first
that fails; each step gets one plain sentence for a person:

``reach``
    ``GET {base_url}/models`` gets any answer at all (refused, unknown host, timeout fail).
``auth``
    The server does not refuse the request (401/403), with or without a stored key.
``model``
    The profile's model is among the listed ids: exactly, else ignoring case, an
    Ollama ``:latest`` tag or an ``org/`` prefix (with a note); a missing model fails
    and the detail names up to five that the server does serve.
``answer``
    A tiny real streaming request: a 64 x 64 picture and "Reply with the word OK.",
    at most 8 tokens, timed to the first token and to the end.

A server without a usable model list (404, or an answer that is not a list) is not a
failure: ``auth`` and ``model`` are then decided by the chat request.

The whole check ends within ``timeout`` seconds, and ``cancel`` stops it from any
thread within milliseconds; either way a report comes back, never an exception from
the network. The API key never appears in any text of the report, even when a server
echoes it back.

Import-light: :func:`insecure_key_warning` can run on every keystroke of a URL field;
httpx and Pillow load on the first :func:`check_connection`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

from desktop_app.core.errors import (
    AuthenticationError,
    Cancelled,
    EndpointError,
    EndpointTimeout,
    EndpointUnreachable,
    ModelNotFound,
)
from desktop_app.core.models import (
    ChatRequest,
    PreparedImage,
    ReasoningDelta,
    TextDelta,
)

if TYPE_CHECKING:
    from desktop_app.core.endpoint import CancelToken, EndpointClient
    from desktop_app.core.settings import Profile

__all__ = [
    "CHECK_PROMPT",
    "STEP_NAMES",
    "STEP_TITLES",
    "CheckStep",
    "ConnectionReport",
    "check_connection",
    "insecure_key_warning",
]

StepName = Literal["reach", "auth", "model", "answer"]
STEP_NAMES: Final[tuple[StepName, ...]] = ("reach", "auth", "model", "answer")
STEP_TITLES: Final[dict[str, str]] = {
    "reach": "Server",
    "auth": "API key",
    "model": "Model",
    "answer": "Answer",
}
"""Short labels for a dialog or the doctor's table."""

CHECK_PROMPT: Final = "Reply with the word OK."
CHECK_MAX_TOKENS: Final = 8
MAX_LISTED: Final = 5
"""How many of the served models a "model missing" sentence names."""

_POLL: Final = 0.01  # seconds between looks at the caller's cancel token
_HIDDEN: Final = "[API key hidden]"
_SHORT_KEY: Final = 8  # keys shorter than this are hidden only as whole words


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One line of the report."""

    name: StepName
    ok: bool | None  # None: not run (an earlier step failed, or the check was stopped)
    detail: str  # one or two plain sentences for a person

    @property
    def title(self) -> str:
        return STEP_TITLES[self.name]


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    steps: tuple[CheckStep, ...]  # always the four of STEP_NAMES, in order
    ok: bool
    summary: str  # one sentence
    models: tuple[str, ...] = ()  # what GET /models listed (for a model combo box)
    ttft_ms: float | None = None  # request sent to first token of the answer
    total_ms: float | None = None  # request sent to the end of the answer
    cancelled: bool = False  # stopped by the caller's cancel token
    suggested_model: str | None = None  # the listed id, when it matched only loosely

    def step(self, name: str) -> CheckStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


# --- the plain-http warning ------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def insecure_key_warning(base_url: str, has_key: bool) -> str | None:
    """A warning sentence when an API key would cross the network unencrypted: plain
    ``http`` to a host other than this computer (127.0.0.0/8, ::1, localhost). A private
    LAN address still warns. None for https, loopback, no key, or a URL that is not
    http at all (the URL check reports that)."""
    if not has_key:
        return None
    try:
        parts = urlsplit(base_url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or not host or _is_loopback(host):
        return None
    return (
        f"The API key would travel unencrypted over plain http to {host}, so anyone on "
        "the network in between could read it; use an https address if the server has one."
    )


# --- the check -------------------------------------------------------------------------


def check_connection(
    profile: Profile,
    api_key: str | None,
    *,
    cancel: CancelToken | None = None,
    timeout: float = 20.0,
) -> ConnectionReport:
    """Checks that ``profile``'s endpoint answers with its model, step by step.

    Blocks for at most about ``timeout`` seconds; run it off the GUI thread. Requests
    are not retried: a check says what happened now, and the user can run it again.
    """
    from desktop_app.core.endpoint import CancelToken, EndpointClient

    check = _Check(profile, api_key or None, timeout)
    token = CancelToken()  # ours: the deadline may cancel it without touching the caller's
    if cancel is not None and cancel.cancelled:
        return check.stopped()
    watch = _Watch(cancel, token, timeout)
    try:
        with EndpointClient(
            profile.base_url,
            api_key or None,
            connect_timeout=min(profile.connect_timeout, timeout),
            idle_timeout=min(profile.idle_timeout, timeout),
            max_retries=0,
        ) as client:
            check.run(client, token)
    except Cancelled:
        if not watch.expired:
            return check.stopped()
        check.expire()
    finally:
        watch.stop()
    return check.report()


class _Watch:
    """Cancels ``token`` when the caller's token is cancelled or the time is up."""

    def __init__(self, outer: CancelToken | None, token: CancelToken, seconds: float) -> None:
        self.expired = False
        self._outer = outer
        self._token = token
        self._end = time.monotonic() + seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-check", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            left = self._end - time.monotonic()
            if self._outer is not None and self._outer.cancelled:
                break
            if left <= 0:
                self.expired = True
                break
            # Without a caller's token only the deadline counts: no need to poll.
            if self._done.wait(left if self._outer is None else min(left, _POLL)):
                return
        self._token.cancel()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


class _Check:
    """The state of one check as it goes; :meth:`report` turns it into the report."""

    def __init__(self, profile: Profile, api_key: str | None, timeout: float) -> None:
        self.profile = profile
        self.key = api_key
        self.timeout = timeout
        self.results: dict[StepName, tuple[bool | None, str]] = {}
        self.current: StepName = "reach"
        self.models: tuple[str, ...] = ()
        self.listed = False  # the server gave a model list
        self.suggested: str | None = None
        self.ttft_ms: float | None = None
        self.total_ms: float | None = None
        self.answer_text = ""
        self.answer_started = False
        self.answer_t0 = 0.0

    # -- steps -------------------------------------------------------------------------

    def _set(self, name: StepName, ok: bool | None, detail: str) -> None:
        self.results[name] = (ok, detail)

    def run(self, client: EndpointClient, token: CancelToken) -> None:
        if self._reach_and_auth(client, token) and self._model():
            self._answer(client, token)

    def _reach_and_auth(self, client: EndpointClient, token: CancelToken) -> bool:
        t0 = time.perf_counter()
        note = ""
        try:
            self.models = tuple(client.list_models(token))
            self.listed = True
        except Cancelled:
            raise
        except EndpointUnreachable as exc:
            self._set("reach", False, self._unreachable(exc))
            return False
        except AuthenticationError as exc:
            self._set("reach", True, _answered_in(t0))
            self.current = "auth"
            self._set("auth", False, self._refused(exc))
            return False
        except EndpointError as exc:
            if exc.status is not None and 300 <= exc.status < 400:  # a redirect: wrong URL
                self._set("reach", False, exc.message)
                return False
            if exc.status == 404:
                note = " It has no model list at /models, so the chat request will tell."
            else:
                note = f" Its model list was not usable ({_unsentence(exc.message)})."
        self._set("reach", True, _answered_in(t0) + note)
        self.current = "auth"
        if self.listed:
            self._set(
                "auth",
                True,
                "The server accepted the API key."
                if self.key
                else "The server did not ask for an API key.",
            )
        self.current = "model"
        return True

    def _model(self) -> bool:
        if not self.listed:
            return True  # decided by the chat request
        model = self.profile.model
        if model in self.models:
            self._set("model", True, f"The server serves {model}.")
            return True
        loose = _loose_match(model, self.models)
        if loose is not None:
            self.suggested = loose
            self._set(
                "model",
                True,
                f"The server lists this model as {loose} rather than {model}; "
                "if requests fail, use the exact name.",
            )
            return True
        if not self.models:
            self._set("model", False, f"The server does not serve {model}; it lists no models.")
            return False
        if len(self.models) == 1:
            # llama.cpp (without --alias) lists its GGUF file and answers any name asked:
            # with one model there is nothing to choose, so the request below decides.
            self._set(
                "model",
                True,
                f"The server lists only {self.models[0]}, not {model}; a single-model server "
                "answers whatever name is asked, so the test request decides.",
            )
            return True
        shown = ", ".join(self.models[:MAX_LISTED])
        more = len(self.models) - MAX_LISTED
        if more > 0:
            shown += f" and {more} more"
        self._set("model", False, f"The server does not serve {model}. It serves: {shown}.")
        return False

    def _answer(self, client: EndpointClient, token: CancelToken) -> None:
        self.current = "answer"
        profile = self.profile
        request = ChatRequest(
            model=profile.model,
            prompt=CHECK_PROMPT,
            image=_check_image(profile.min_image_tokens, profile.max_image_tokens),
            sampling=dataclasses.replace(profile.sampling, max_tokens=CHECK_MAX_TOKENS),
        )
        self.answer_t0 = time.perf_counter()
        try:
            for event in client.stream_chat(request, cancel=token):
                if isinstance(event, TextDelta | ReasoningDelta) and event.text:
                    if not self.answer_started:
                        self.answer_started = True
                        self.ttft_ms = _ms_since(self.answer_t0)
                    if isinstance(event, TextDelta):
                        self.answer_text += event.text
        except Cancelled:
            raise
        except AuthenticationError as exc:
            self._chat_refused(exc)
            return
        except ModelNotFound as exc:
            self._chat_no_model(exc)
            return
        except EndpointError as exc:
            self._pending_unchecked()
            self._set("answer", False, _sentence(exc.message))
            return
        # A stream that ends without a finish (cut, malformed) raised StreamBroken above.
        self.total_ms = _ms_since(self.answer_t0)
        self._pending_passed()
        self._set("answer", True, self._answered())

    def _answered(self) -> str:
        if not self.answer_started:
            return (
                f"The model ended its answer without any text after {self.total_ms:.0f} ms, "
                "but the connection works."
            )
        text = " ".join(self.answer_text.split())
        if len(text) > 40:
            text = text[:40].rstrip() + "…"
        what = f"answered “{text}”" if text else "answered"
        return (
            f"The model {what} in {self.total_ms:.0f} ms, "
            f"the first token after {self.ttft_ms:.0f} ms."
        )

    def _pending_passed(self) -> None:
        """The chat worked: steps the model list could not decide have passed."""
        if "auth" not in self.results:
            self._set("auth", True, "The server accepted the chat request.")
        if "model" not in self.results:
            self._set("model", True, f"The server answered with {self.profile.model}.")

    def _pending_unchecked(self) -> None:
        pending: tuple[StepName, ...] = ("auth", "model")
        for name in pending:
            if name not in self.results:
                self._set(
                    name,
                    None,
                    "Not checked: the server has no model list and the chat request failed.",
                )

    def _chat_refused(self, exc: AuthenticationError) -> None:
        if "auth" in self.results:  # the model list was open, the chat is not
            self._set("answer", False, f"The chat request was refused. {self._refused(exc)}")
        else:
            self.current = "auth"
            self._set("auth", False, self._refused(exc))

    def _chat_no_model(self, exc: ModelNotFound) -> None:
        model = self.profile.model
        if "model" not in self.results:
            if "auth" not in self.results:
                self._set("auth", True, "The server accepted the chat request.")
            self.current = "model"
            self._set("model", False, f"The server does not serve {model}.{_said(exc)}")
        elif self.suggested is not None:
            self._set(
                "answer",
                False,
                f"The server did not accept the name {model}; "
                f"use the exact name {self.suggested} in the profile.",
            )
        else:
            self._set("answer", False, _sentence(exc.message))

    # -- messages ----------------------------------------------------------------------

    def _unreachable(self, exc: EndpointUnreachable) -> str:
        url = self.profile.base_url
        raw = exc.message
        low = raw.lower()
        host = urlsplit(url).hostname or url
        if "refused" in low:
            reason = "connection refused. Is the server running, and is the port right?"
        elif any(
            s in low
            for s in (
                "name or service not known",
                "nodename nor servname",
                "getaddrinfo failed",
                "name resolution",
                "no address associated",
            )
        ):
            reason = f"no computer called {host} was found. Check the address for typos."
        elif isinstance(exc, EndpointTimeout) and "could not connect" in low:
            reason = (
                f"no connection within {min(self.profile.connect_timeout, self.timeout):g} s. "
                "Check the address, and that no firewall blocks the port."
            )
        elif "certificate" in low or "ssl" in low or "tls" in low:
            reason = (
                "the secure (https) connection failed. The server's certificate may not "
                "be trusted, or the server may speak plain http."
            )
        elif "unreachable" in low or "no route" in low:
            reason = f"this computer has no network route to {host}."
        elif low.startswith("not a usable endpoint url"):
            return _sentence(raw)
        else:
            reason = _unsentence(raw) + "."
        return f"Cannot reach {url}: {reason}"

    def _refused(self, exc: AuthenticationError) -> str:
        if not self.key:
            return (
                "The server wants an API key and none is stored. "
                f"Add the key for this profile.{_said(exc)}"
            )
        if exc.status == 403:
            return (
                "The server refused the API key: it is not allowed to use this server "
                f"or model.{_said(exc)}"
            )
        return (
            "The server refused the API key. Check that it is complete and still "
            f"valid.{_said(exc)}"
        )

    # -- endings -----------------------------------------------------------------------

    def expire(self) -> None:
        """The deadline cancelled the step in progress."""
        step = self.current
        if step == "answer" and self.answer_started:
            self.total_ms = None
            self._pending_passed()
            self._set(
                "answer",
                True,
                f"The model started answering after {self.ttft_ms or 0:.0f} ms but did not "
                f"finish 8 tokens within {self.timeout:g} s.",
            )
            return
        if step == "answer":
            self._pending_unchecked()
            detail = (
                f"The model did not answer within {self.timeout:g} s. It may still be "
                "loading, or the server may be busy."
            )
        else:
            detail = (
                f"The server at {self.profile.base_url} took more than {self.timeout:g} s "
                "to answer."
            )
        self._set(step, False, detail)

    def stopped(self) -> ConnectionReport:
        return self.report(stopped=True)

    def report(self, *, stopped: bool = False) -> ConnectionReport:
        steps: list[CheckStep] = []
        reached_current = False
        for name in STEP_NAMES:
            reached_current = reached_current or name == self.current
            if name in self.results and not (stopped and name == self.current):
                ok, detail = self.results[name]
            elif stopped and (name == self.current or not reached_current):
                ok, detail = None, "Stopped before this step finished."
            elif stopped:
                ok, detail = None, "Not run: the check was stopped."
            else:
                ok, detail = None, "Not run: an earlier step failed."
            steps.append(CheckStep(name, ok, self._scrub(detail)))
        failed = next((s for s in steps if s.ok is False), None)
        ok_all = not stopped and all(s.ok for s in steps)
        model = self.profile.model
        if stopped:
            summary = "The check was stopped."
        elif failed is not None:
            summary = failed.detail
        elif not ok_all:
            summary = "The check did not finish."
        elif self.ttft_ms is not None:
            summary = f"Connected: {model} answered, first token after {self.ttft_ms:.0f} ms."
        else:
            summary = f"Connected: {model} answered in {self.total_ms or 0:.0f} ms."
        return ConnectionReport(
            steps=tuple(steps),
            ok=ok_all,
            summary=self._scrub(summary),
            models=self.models,
            ttft_ms=self.ttft_ms,
            total_ms=self.total_ms,
            cancelled=stopped,
            suggested_model=self.suggested,
        )

    def _scrub(self, text: str) -> str:
        """No text of a report ever holds the key, even one a server echoed back."""
        key = self.key
        if not key:
            return text
        if len(key) >= _SHORT_KEY:
            return text.replace(key, _HIDDEN)
        # A short key ("EMPTY", as vLLM's docs suggest) may also be a piece of a word:
        # hide it only where it stands on its own.
        return re.sub(rf"(?<![^\W_]){re.escape(key)}(?![^\W_])", _HIDDEN, text)


# --- helpers ---------------------------------------------------------------------------


def _check_image(min_tokens: int, max_tokens: int) -> PreparedImage:
    """A 64 x 64 white picture with a black square, sized like any capture."""
    from PIL import Image, ImageDraw

    from desktop_app.core.imaging import prepare_image

    im = Image.new("RGB", (64, 64), (255, 255, 255))
    ImageDraw.Draw(im).rectangle((16, 16, 47, 47), fill=(0, 0, 0))
    return prepare_image(im, min_tokens=min_tokens, max_tokens=max_tokens)


def _loose_match(model: str, served: tuple[str, ...]) -> str | None:
    """A served id that names ``model`` up to case, an ``org/`` prefix or ``:latest``."""

    def norm(name: str) -> str:
        name = name.strip().lower()
        return name.removesuffix(":latest")

    def base(name: str) -> str:
        return norm(name).rsplit("/", 1)[-1]

    for key in (norm, base):
        wanted = key(model)
        for candidate in served:
            if key(candidate) == wanted:
                return candidate
    return None


def _ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def _answered_in(t0: float) -> str:
    return f"The server answered in {_ms_since(t0):.0f} ms."


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _unsentence(text: str) -> str:
    """``text`` without its final full stop, for use inside a sentence."""
    text = text.strip()
    return text[:-1] if text.endswith(".") else text


def _said(exc: EndpointError) -> str:
    msg = (exc.server_message or "").strip()
    return f" The server said: {_sentence(msg)}" if msg else ""

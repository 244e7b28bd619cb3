"""Frozen data passed between the layers. No behaviour beyond small derived properties."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in physical pixels of one screen's picture."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An image ready to send: sized to the model's pixel budget and encoded."""

    data: bytes  # the encoded file (PNG by default)
    mime: str  # "image/png", "image/jpeg", "image/webp"
    width: int  # pixels sent
    height: int
    source_width: int  # pixels before sizing (after EXIF rotation)
    source_height: int
    tokens: int  # image tokens the model will see (without the 2 wrapper tokens)

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampling parameters; defaults are the hosted API's model page (PROTOCOL.md)."""

    temperature: float = 0.7
    max_tokens: int = 2048
    top_p: float = 0.9
    top_k: int | None = None  # not an OpenAI field: sent only when set
    presence_penalty: float = 0.0


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier exchange of a conversation, for follow-up questions."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What to ask: a prompt about an image, optionally continuing a conversation.

    ``history`` holds the turns after the first user message (which carries the image
    and ``first_prompt``); ``prompt`` is the new user message.
    """

    model: str
    prompt: str
    image: PreparedImage | None = None
    sampling: Sampling = field(default_factory=Sampling)
    history: tuple[Turn, ...] = ()
    first_prompt: str | None = None
    session: str | None = None
    """One id per conversation (the capture and its follow-ups), sent as the
    ``X-Session-Id`` header: a router with session-aware routing (vLLM's production
    stack, ``routerSpec.sessionKey``) sends the whole conversation to the replica that
    holds its prefix cache. Servers without a router ignore it."""


# --- stream events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The answer ended. ``reason`` is the server's finish_reason (``stop``, ``length``, ...)
    or None when the server ended the stream without giving one."""

    reason: str | None


@dataclass(frozen=True, slots=True)
class StreamErrorEvent:
    """The server reported an error inside a 200 stream. ``core.endpoint`` raises it as
    ``StreamBroken``; it is an event so that the pure parser stays free of control flow."""

    message: str
    type: str | None = None
    code: str | int | None = None


StreamEvent = TextDelta | ReasoningDelta | Usage | Finished | StreamErrorEvent

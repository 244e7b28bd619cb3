"""One request from start to end, shared by the CLI and the app's workers.

``run_request`` streams an answer, hands every event to a callback as it arrives, and
returns an ``Outcome`` that always holds what was received, also when the stream failed
or was cancelled, so a partial answer is never lost. It never raises ``core.errors``;
the error is in the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from desktop_app.core.errors import Cancelled, ScreenScribeError
from desktop_app.core.models import (
    ChatRequest,
    Finished,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    Usage,
)

if TYPE_CHECKING:
    from desktop_app.core.cancel import CancelToken, RetryNotice
    from desktop_app.core.history import History

Status = Literal["complete", "partial", "failed"]


class AnswerSource(Protocol):
    """What answers a request: an endpoint (``EndpointClient``) or the offline OCR engine
    (``local_ocr.LocalOcrSource``). The panel, the CLI and the history do not care which."""

    can_chat: bool  # answers questions and follow-ups (the offline engine only reads text)
    waiting_text: str  # what a person sees until the first text arrives

    def stream_chat(
        self,
        request: ChatRequest,
        cancel: CancelToken | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> Iterator[StreamEvent]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    text: str
    reasoning: str
    finish_reason: str | None
    usage: Usage | None
    ttft_ms: float | None  # request sent -> first text (or reasoning) delta
    total_ms: float
    error: ScreenScribeError | None

    @property
    def status(self) -> Status:
        if self.error is None:
            return "complete"
        return "partial" if self.text else "failed"

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, Cancelled)


def run_request(
    client: AnswerSource,
    request: ChatRequest,
    *,
    on_event: Callable[[StreamEvent], None] | None = None,
    cancel: CancelToken | None = None,
    on_retry: Callable[[RetryNotice], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Outcome:
    text: list[str] = []
    reasoning: list[str] = []
    finish: str | None = None
    usage: Usage | None = None
    ttft: float | None = None
    error: ScreenScribeError | None = None
    t0 = time.perf_counter()
    try:
        events = client.stream_chat(
            request, cancel=cancel, on_retry=on_retry, on_progress=on_progress
        )
        for event in events:
            if isinstance(event, TextDelta):
                if ttft is None:
                    ttft = (time.perf_counter() - t0) * 1000.0
                text.append(event.text)
            elif isinstance(event, ReasoningDelta):
                if ttft is None:
                    ttft = (time.perf_counter() - t0) * 1000.0
                reasoning.append(event.text)
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Finished):
                finish = event.reason
            if on_event is not None:
                on_event(event)
    except ScreenScribeError as exc:
        error = exc
    return Outcome(
        text="".join(text),
        reasoning="".join(reasoning),
        finish_reason=finish,
        usage=usage,
        ttft_ms=ttft,
        total_ms=(time.perf_counter() - t0) * 1000.0,
        error=error,
    )


def save_to_history(
    history: History,
    outcome: Outcome,
    request: ChatRequest,
    *,
    profile: str,
    base_url: str,
    mode: str,
    source: str | None,
    thumbnail: bytes | None,
    parent_id: int | None = None,
    full_image: bytes | None = None,
) -> int:
    """Saves the request and whatever answer came back (a partial one too).

    ``parent_id`` is the saved entry this request follows up (a follow-up question or a
    continuation of an answer cut at the token limit).
    """
    from desktop_app.core.history import NewEntry

    image = request.image
    return history.add(
        NewEntry(
            profile=profile,
            model=request.model,
            base_url=base_url,
            mode=mode,
            prompt=request.prompt,
            answer=outcome.text,
            reasoning=outcome.reasoning,
            finish_reason=outcome.finish_reason,
            status=outcome.status,
            error=str(outcome.error) if outcome.error else None,
            prompt_tokens=outcome.usage.prompt_tokens if outcome.usage else None,
            completion_tokens=outcome.usage.completion_tokens if outcome.usage else None,
            ttft_ms=outcome.ttft_ms,
            total_ms=outcome.total_ms,
            image_width=image.width if image else None,
            image_height=image.height if image else None,
            source=source,
            thumbnail=thumbnail,
            image=full_image,
            parent_id=parent_id,
        )
    )

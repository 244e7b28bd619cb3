"""``screenscribe ocr`` / ``ask``: one image or ten thousand, streamed, bounded, resumable.

Text mode prints the images in the order given: the first unfinished one streams live
while the next ones run ahead (at most ``2 x concurrency`` in flight or waiting), so
the output is in order and nothing waits longer than it must. JSON mode (``--json`` or
``--output FILE``) writes one line per image as each finishes, so a crash loses at most
the images in flight and ``--resume`` picks up from the file.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from desktop_app.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    err,
    load_settings_reporting,
    make_client,
    open_history,
    profile_from_args,
)
from desktop_app.core.cancel import CancelToken, RetryNotice
from desktop_app.core.engines import OFFLINE_PROFILE, Engine, choose_engine, endpoint_configured
from desktop_app.core.errors import (
    AuthenticationError,
    Cancelled,
    EndpointUnreachable,
    ScreenScribeError,
    UsageError,
)
from desktop_app.core.imaging import prepare_image, prepare_image_with_thumbnail
from desktop_app.core.models import ChatRequest, PreparedImage, StreamEvent, TextDelta
from desktop_app.core.pipeline import AnswerSource, Outcome, run_request, save_to_history

if TYPE_CHECKING:
    from desktop_app.core.history import History
    from desktop_app.core.local_ocr import LocalOcrSource
    from desktop_app.core.settings import Profile

STDIN = "-"


@dataclass
class _Job:
    index: int
    source: str
    token: CancelToken = field(default_factory=CancelToken)
    pieces: queue.SimpleQueue[str | _Result] = field(default_factory=queue.SimpleQueue)


@dataclass(frozen=True)
class _Result:
    job: _Job
    outcome: Outcome | None  # None when the image could not be prepared
    image: PreparedImage | None
    error: ScreenScribeError | None
    prepare_ms: float
    profile: Profile | None = None  # who answered (the offline engine after a fallback)

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error else EXIT_OK


@dataclass
class _Context:
    profile: Profile
    client: AnswerSource
    prompt: str
    mode: str
    history: History | None
    stdin: bytes | None
    stream_text: bool
    multi: bool
    fit: bool = True  # size images for the model (not for the offline engine)
    fallback: bool = False  # auto mode: read offline when the endpoint cannot be reached
    offline: LocalOcrSource | None = None  # created on the first fallback
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_batch(args: argparse.Namespace, inputs: list[str], prompt: str, *, mode: str) -> int:
    settings = load_settings_reporting()
    profile = profile_from_args(args, settings)
    output = Path(args.output) if args.output else None
    todo = inputs
    if args.resume and output is not None:
        finished = _finished_in(output)
        todo = [s for s in inputs if s == STDIN or _key(s) not in finished]
        if len(todo) < len(inputs):
            err(f"resuming: {len(inputs) - len(todo)} of {len(inputs)} images already done.")
        if not todo:
            return EXIT_OK
    if not todo:
        raise UsageError("No images given.")
    stdin = sys.stdin.buffer.read() if STDIN in todo else None
    json_mode = bool(args.json or output is not None)
    # ask has no --engine: a model or nothing
    requested = getattr(args, "engine", None) or (settings.ocr_engine if mode == "ocr" else "auto")
    explicit = bool(args.endpoint or args.profile or requested == "endpoint")
    engine = choose_engine(
        requested, mode, configured=endpoint_configured(settings, profile, explicit=explicit)
    )
    if engine == "local":
        profile = OFFLINE_PROFILE
        if requested == "auto":
            err(
                "no endpoint is configured: reading with the offline engine (--endpoint URL "
                "or --engine endpoint uses a vision model)."
            )
    history = open_history(settings, args)
    ctx: _Context | None = None
    try:
        with _source(engine, profile, args.concurrency) as client:
            ctx = _Context(
                profile,
                client,
                prompt,
                mode,
                history,
                stdin,
                stream_text=not json_mode,
                multi=len(inputs) > 1,
                fit=engine == "endpoint",
                # a configured endpoint may be down; one named on the command line must answer
                fallback=engine == "endpoint"
                and requested == "auto"
                and mode == "ocr"
                and not explicit,
            )
            if json_mode:
                sink: IO[str] = output.open("a", encoding="utf-8") if output else sys.stdout
                try:
                    if output is not None:
                        _end_with_newline(output, sink)
                    results = _run_json(ctx, todo, args.concurrency, sink)
                finally:
                    if sink is not sys.stdout:
                        sink.close()
            else:
                results = _run_text(ctx, todo, args.concurrency)
    finally:
        if ctx is not None and ctx.offline is not None:
            ctx.offline.engine.close()
        if history is not None:
            history.close()
    return _summary(results, ctx.multi)


@contextmanager
def _source(engine: Engine, profile: Profile, concurrency: int) -> Iterator[AnswerSource]:
    if engine == "endpoint":
        # One connection per request in flight: a smaller pool made requests wait for a
        # slot, and a wait longer than the connect timeout failed (--concurrency 64).
        with make_client(profile, max_connections=max(32, concurrency)) as client:
            yield client
        return
    from desktop_app.core.local_ocr import LocalOcrEngine, LocalOcrSource

    with LocalOcrEngine(idle_timeout=None) as ocr:
        yield LocalOcrSource(ocr)


# --- running -------------------------------------------------------------------------


def _work(ctx: _Context, job: _Job) -> _Result:
    """Runs one image; always ends the job's queue with a result, whatever happens."""
    try:
        return _work_inner(ctx, job)
    except Exception as exc:  # noqa: BLE001 -- a bug must not hang the printer waiting
        result = _Result(job, None, None, ScreenScribeError(f"Unexpected error: {exc!r}"), 0.0)
        job.pieces.put(result)
        return result


def _work_inner(ctx: _Context, job: _Job) -> _Result:
    t0 = time.perf_counter()
    thumbnail: bytes | None = None
    try:
        source = ctx.stdin if job.source == STDIN and ctx.stdin is not None else job.source
        low, high = ctx.profile.min_image_tokens, ctx.profile.max_image_tokens
        if ctx.history is not None:  # the thumbnail from the same decode
            image, thumbnail = prepare_image_with_thumbnail(
                source, min_tokens=low, max_tokens=high, fit=ctx.fit
            )
        else:
            image = prepare_image(source, min_tokens=low, max_tokens=high, fit=ctx.fit)
    except ScreenScribeError as exc:
        result = _Result(job, None, None, exc, (time.perf_counter() - t0) * 1000.0)
        job.pieces.put(result)
        return result
    prepare_ms = (time.perf_counter() - t0) * 1000.0
    request = ChatRequest(
        model=ctx.profile.model, prompt=ctx.prompt, image=image, sampling=ctx.profile.sampling
    )

    def on_event(event: StreamEvent) -> None:
        if ctx.stream_text and isinstance(event, TextDelta):
            job.pieces.put(event.text)

    def on_retry(notice: RetryNotice) -> None:
        where = f"{_name(job.source)}: " if ctx.multi else ""
        err(f"{where}{notice.reason} Retrying in {notice.delay:.1f} s.")

    outcome = run_request(
        ctx.client, request, on_event=on_event, cancel=job.token, on_retry=on_retry
    )
    profile = ctx.profile
    if ctx.fallback and isinstance(outcome.error, EndpointUnreachable) and not outcome.text:
        offline = _offline(ctx, outcome.error)
        request = ChatRequest(model=OFFLINE_PROFILE.model, prompt=ctx.prompt, image=image)
        outcome = run_request(offline, request, on_event=on_event, cancel=job.token)
        profile = OFFLINE_PROFILE
    if ctx.history is not None:
        try:
            save_to_history(
                ctx.history,
                outcome,
                request,
                profile=profile.name,
                base_url=profile.base_url,
                mode=ctx.mode,
                source=_history_source(job.source),
                thumbnail=thumbnail,
            )
        except ScreenScribeError as exc:  # the answer matters more than its record
            err(f"could not save to the history: {exc}")
    result = _Result(job, outcome, image, outcome.error, prepare_ms, profile)
    job.pieces.put(result)
    return result


def _offline(ctx: _Context, why: ScreenScribeError) -> LocalOcrSource:
    """The offline engine for the rest of the run, made (and the user told) once."""
    with ctx.lock:
        if ctx.offline is None:
            from desktop_app.core.local_ocr import LocalOcrEngine, LocalOcrSource

            err(f"{why} Reading offline instead (--engine endpoint fails instead).")
            ctx.offline = LocalOcrSource(LocalOcrEngine(idle_timeout=None))
        return ctx.offline


def _jobs(todo: list[str]) -> Iterator[_Job]:
    for i, source in enumerate(todo):
        yield _Job(i, source)


def _run_text(ctx: _Context, todo: list[str], concurrency: int) -> list[_Result]:
    results: list[_Result] = []
    pending: deque[_Job] = deque()
    jobs = _jobs(todo)
    out = sys.stdout
    with _Pool(concurrency) as pool:
        try:

            def fill() -> None:
                while len(pending) < 2 * concurrency and (job := next(jobs, None)):
                    pool.submit(_work, ctx, job)
                    pending.append(job)

            fill()
            while pending:
                job = pending.popleft()
                pool.current = job
                if ctx.multi:
                    out.write(f"==> {_name(job.source)} <==\n")
                ended_with_newline = True
                while True:
                    item = _get(job.pieces)
                    if isinstance(item, _Result):
                        break
                    out.write(item)
                    out.flush()
                    ended_with_newline = item.endswith("\n")
                if not ended_with_newline and (ctx.multi or out.isatty()):
                    out.write("\n")
                out.flush()
                _report(ctx, item)
                results.append(item)
                fill()
        except KeyboardInterrupt:
            pool.cancel_all([*pending, *([pool.current] if pool.current else [])])
            out.flush()
            raise
    return results


def _run_json(ctx: _Context, todo: list[str], concurrency: int, sink: IO[str]) -> list[_Result]:
    results: list[_Result] = []
    running: dict[Future[_Result], _Job] = {}
    # Each job says when it is done: concurrent.futures.wait() over all 64 running
    # futures, once per result, took 13 % of the GIL's time in a batch of 32 at once.
    finished: queue.SimpleQueue[Future[_Result]] = queue.SimpleQueue()
    jobs = _jobs(todo)
    with _Pool(concurrency) as pool:
        try:
            while True:
                while len(running) < 2 * concurrency and (job := next(jobs, None)):
                    fut = pool.submit(_work, ctx, job)
                    running[fut] = job
                    fut.add_done_callback(finished.put)
                if not running:
                    break
                try:  # a timeout, so that Ctrl-C is seen
                    done = [finished.get(timeout=0.2)]
                except queue.Empty:
                    continue
                for fut in done:
                    del running[fut]
                    result = fut.result()
                    sink.write(json.dumps(_record(ctx, result), ensure_ascii=False) + "\n")
                    sink.flush()
                    _report(ctx, result)
                    results.append(result)
        except KeyboardInterrupt:
            pool.cancel_all(list(running.values()))
            raise
    return results


class _Pool(ThreadPoolExecutor):
    """A thread pool whose jobs are cancelled (their connections closed) on Ctrl-C."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="screenscribe-request")
        self.current: _Job | None = None

    def cancel_all(self, jobs: list[_Job]) -> None:
        for job in jobs:
            job.token.cancel()
        self.shutdown(wait=True, cancel_futures=True)


def _get(q: queue.SimpleQueue[str | _Result]) -> str | _Result:
    while True:  # a timeout keeps Ctrl-C responsive while waiting
        try:
            return q.get(timeout=0.2)
        except queue.Empty:
            continue


# --- reporting -----------------------------------------------------------------------


def _name(source: str) -> str:
    return "stdin" if source == STDIN else source


def _key(source: str) -> str:
    return str(Path(source).resolve()) if source != STDIN else STDIN


def _history_source(source: str) -> str:
    return "stdin" if source == STDIN else _key(source)


def _report(ctx: _Context, result: _Result) -> None:
    where = f"{_name(result.job.source)}: " if ctx.multi else ""
    if result.error is not None:
        if isinstance(result.error, Cancelled):
            return
        kept = (
            " (the text received so far was kept)" if result.outcome and result.outcome.text else ""
        )
        hint = ""
        if isinstance(result.error, AuthenticationError):
            hint = (
                f" Store a key with `screenscribe key set --profile {ctx.profile.name}`, "
                "or set SCREENSCRIBE_API_KEY."
            )
        err(f"{where}{result.error}{kept}{hint}")
    elif result.outcome is not None:
        reason = result.outcome.finish_reason
        if reason == "length":
            err(
                f"{where}the answer was cut at the token limit "
                f"({result.outcome.usage.completion_tokens if result.outcome.usage else 'max'} "
                "tokens); run again with a larger --max-tokens to get the rest."
            )
        elif reason == "content_filter":
            err(f"{where}the server's content filter stopped the answer.")


def _record(ctx: _Context, r: _Result) -> dict[str, Any]:
    o = r.outcome
    usage = o.usage if o else None
    return {
        "file": _key(r.job.source),
        "status": o.status if o else "failed",
        "text": o.text if o else "",
        "reasoning": (o.reasoning or None) if o else None,
        "finish_reason": o.finish_reason if o else None,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
        if usage
        else None,
        "timings": {
            "prepare_ms": round(r.prepare_ms, 2),
            "ttft_ms": round(o.ttft_ms, 2) if o and o.ttft_ms is not None else None,
            "total_ms": round(o.total_ms, 2) if o else None,
        },
        "image": {
            "width": r.image.width,
            "height": r.image.height,
            "tokens": r.image.tokens,
            "bytes": len(r.image.data),
        }
        if r.image
        else None,
        "model": (r.profile or ctx.profile).model,
        "endpoint": (r.profile or ctx.profile).base_url,
        "error": {
            "message": str(r.error),
            "type": type(r.error).__name__,
            "exit_code": r.error.exit_code,
        }
        if r.error
        else None,
    }


def _summary(results: list[_Result], multi: bool) -> int:
    failed = [r for r in results if r.error is not None]
    if any(isinstance(r.error, Cancelled) for r in failed):
        return EXIT_INTERRUPTED
    if multi:
        err(
            f"{len(results) - len(failed)} of {len(results)} images done"
            + (f", {len(failed)} failed." if failed else ".")
        )
    if not failed:
        return EXIT_OK
    return min(failed, key=lambda r: r.job.index).exit_code


# --- resume --------------------------------------------------------------------------


def _finished_in(path: Path) -> set[str]:
    """The files that ``path`` (a JSON-lines output) holds a complete answer for."""
    done: set[str] = set()
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash
                if isinstance(rec, dict) and rec.get("status") == "complete":
                    done.add(str(rec.get("file")))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None
    return done


def _end_with_newline(path: Path, sink: IO[str]) -> None:
    """A crash may have left a half-written last line: start ours on a fresh one."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            if f.tell() == 0:
                return
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                sink.write("\n")
    except OSError:
        return

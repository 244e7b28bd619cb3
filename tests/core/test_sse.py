"""The stream parser against every server shape and framing quirk of PROTOCOL.md."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_app.core.models import (
    Finished,
    ReasoningDelta,
    StreamErrorEvent,
    StreamEvent,
    TextDelta,
    Usage,
)
from desktop_app.core.sse import ChatStreamParser, SSEDecoder, error_message_from_payload
from tests.servers import (
    USAGE,
    encode_stream,
    llamacpp_stream,
    ollama_stream,
    openai_stream,
    vllm_stream,
)

PIECES = ["Héllo", " wörld", " — ", "line\u2028sep", "\u2029", " 日本語", " 🙂", "\n\nEnd."]
TEXT = "".join(PIECES)


def parse(chunks: list[bytes]) -> list[StreamEvent]:
    p = ChatStreamParser()
    out: list[StreamEvent] = []
    for c in chunks:
        out += p.feed(c)
    out += p.close()
    return out


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


SHAPES: dict[str, list[dict[str, Any] | str]] = {
    "vllm": vllm_stream(PIECES),
    "vllm-usage-every-chunk": vllm_stream(PIECES, usage_every_chunk=True),
    "openai": openai_stream(PIECES),
    "ollama": ollama_stream(PIECES),
    "ollama-old": ollama_stream(PIECES, old=True),
    "llamacpp": llamacpp_stream(PIECES),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_every_server_shape_and_framing_gives_the_text(shape: str, eol: str) -> None:
    data = encode_stream(SHAPES[shape], eol=eol, comments=True)
    events = parse([data])
    assert text_of(events) == TEXT
    assert events[-1] == Finished("stop")
    usage = [e for e in events if isinstance(e, Usage)]
    if shape != "ollama-old":  # old Ollama sent no usage
        assert usage == [Usage(**USAGE)]


@pytest.mark.parametrize("shape", SHAPES)
def test_one_byte_at_a_time_splits_utf8_and_crlf(shape: str) -> None:
    data = encode_stream(SHAPES[shape], eol="\r\n")
    assert text_of(parse([data[i : i + 1] for i in range(len(data))])) == TEXT


def test_data_without_space_and_done_without_trailing_blank_line() -> None:
    data = encode_stream(vllm_stream(PIECES), space=False, done_blank_line=False)
    assert data.endswith(b"data:[DONE]")
    events = parse([data])
    assert text_of(events) == TEXT
    assert events[-1] == Finished("stop")


def test_text_in_the_finish_chunk_is_kept() -> None:
    events = parse([encode_stream(vllm_stream(["a", "b", "last words"]))])
    assert text_of(events) == "ablast words"


def test_length_finish_reason_is_reported() -> None:
    events = parse([encode_stream(vllm_stream(["cut"], finish="length"))])
    assert events[-1] == Finished("length")


def test_reasoning_is_kept_apart_from_the_answer() -> None:
    events = parse([encode_stream(llamacpp_stream(["Answer"], reasoning=["Let me ", "think"]))])
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Let me think"
    assert text_of(events) == "Answer"
    # Ollama and newer vLLM call it "reasoning"
    chunk = {"choices": [{"delta": {"reasoning": "hmm"}, "finish_reason": None}]}
    assert parse([encode_stream([chunk, "[DONE]"])])[0] == ReasoningDelta("hmm")


def test_usage_with_choices_null_is_read() -> None:
    msgs: list[dict[str, Any] | str] = [
        {"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}]},
        {"choices": None, "usage": USAGE},
        "[DONE]",
    ]
    assert Usage(**USAGE) in parse([encode_stream(msgs)])


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            {
                "error": {
                    "message": "CUDA out of memory",
                    "type": "InternalServerError",
                    "code": 500,
                }
            },
            "CUDA out of memory",
        ),
        ({"error": "Something broke"}, "Something broke"),
        ({"object": "error", "message": "old vllm says no", "code": 400}, "old vllm says no"),
    ],
)
def test_error_inside_a_200_stream_ends_it(error: dict[str, Any], message: str) -> None:
    msgs: list[dict[str, Any] | str] = [*vllm_stream(["partial "])[:2], error, "[DONE]"]
    events = parse([encode_stream(msgs)])
    assert text_of(events) == "partial "
    assert isinstance(events[-1], StreamErrorEvent)
    assert events[-1].message == message


def test_old_llamacpp_error_field() -> None:
    data = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\nerror: {"message":"slot died"}\n\n'
    events = parse([data])
    assert events[0] == TextDelta("a")
    assert events[-1] == StreamErrorEvent("slot died")


def test_malformed_json_is_an_error_event_not_an_exception() -> None:
    events = parse([b'data: {"choices": [\n\n'])
    assert isinstance(events[-1], StreamErrorEvent)
    assert "malformed" in events[-1].message
    events = parse([b'data: {"choices": ["not a dict"]}\n\n'])
    assert isinstance(events[-1], StreamErrorEvent)


def test_cut_stream_has_no_finish() -> None:
    data = encode_stream(openai_stream(["a", "b"]))
    cut = data[: data.index(b'"b"')]  # connection lost mid-answer
    p = ChatStreamParser()
    events = p.feed(cut) + p.close()
    assert text_of(events) == "a"
    assert not p.finished
    assert not any(isinstance(e, Finished) for e in events)


def test_finish_reason_without_done_still_finishes() -> None:
    data = encode_stream(vllm_stream(["a"])[:-2])  # no usage chunk, no [DONE]
    p = ChatStreamParser()
    events = p.feed(data) + p.close()
    assert p.finished
    assert events[-1] == Finished("stop")


def test_anything_after_done_is_ignored() -> None:
    data = encode_stream(["[DONE]", {"choices": [{"delta": {"content": "late"}}]}])
    assert parse([data]) == [Finished(None)]


def test_non_streamed_completion_object() -> None:
    p = ChatStreamParser()
    obj = {
        "choices": [
            {"message": {"role": "assistant", "content": "whole"}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }
    assert p.feed_object(obj) == [TextDelta("whole"), Usage(**USAGE), Finished("stop")]


def test_sse_multiline_data_event_name_and_ignored_fields() -> None:
    d = SSEDecoder()
    out = d.feed(b"id: 1\nretry: 10\nevent: x\ndata: a\ndata: b\n\n")
    assert out == [("x", "a\nb")]
    assert d.feed(b"data: tail") == []
    assert d.flush() == [("message", "tail")]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"error": {"message": "bad key", "type": "auth"}}, "bad key"),
        ({"error": "Unauthorized"}, "Unauthorized"),
        (
            {"object": "error", "message": "The model `x` does not exist.", "code": 404},
            "The model `x` does not exist.",
        ),
        ({"detail": "Not Found"}, "Not Found"),
        ({"detail": [{"msg": "field required"}]}, "field required"),
        ({"nothing": 1}, None),
        (["list"], None),
    ],
)
def test_error_message_from_every_shape(payload: Any, message: str | None) -> None:
    assert error_message_from_payload(payload) == message


# --- property: any chunking gives the same events ------------------------------------

_STREAM = encode_stream(
    llamacpp_stream(PIECES, reasoning=["ü", "\u2028"]), eol="\r\n", comments=True
)
_EXPECTED = parse([_STREAM])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(_STREAM)), max_size=60))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    bounds = [0, *points, len(_STREAM)]
    chunks = [_STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert parse(chunks) == _EXPECTED


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(min_value=1, max_value=7),
)
def test_any_text_survives_any_framing(pieces: list[str], eol: str, step: int) -> None:
    data = encode_stream(vllm_stream(pieces), eol=eol)
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    assert text_of(parse(chunks)) == "".join(p for p in pieces)


def test_json_with_extra_whitespace_is_read() -> None:
    data = b'data:   {"choices": [{"delta": {"content": "x"}}]}  \n\ndata: [DONE]\n\n'
    assert parse([data]) == [TextDelta("x"), Finished(None)]

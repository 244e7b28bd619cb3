"""The "Test connection" check against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from typing import Any

import pytest
from PIL import Image

from desktop_app.core.connection import (
    CHECK_PROMPT,
    STEP_NAMES,
    ConnectionReport,
    check_connection,
    insecure_key_warning,
)
from desktop_app.core.endpoint import CancelToken
from desktop_app.core.models import Sampling
from desktop_app.core.settings import Profile
from tests.servers import (
    Reply,
    StreamServer,
    json_reply,
    llamacpp_stream,
    sse,
    stream_reply,
    vllm_stream,
)

MODEL = "Qwen/Qwen3-VL-8B-Instruct"
KEY = "sk-Zebra-7f3e19c4-unicorn"  # distinctive: must never show up in any text


def profile(base_url: str, model: str = MODEL, **kw: Any) -> Profile:
    return Profile(name="test", base_url=base_url, model=model, **kw)


def models_reply(*ids: str) -> Reply:
    return json_reply({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})


def check(server: StreamServer, key: str | None = KEY, **kw: Any) -> ConnectionReport:
    model = kw.pop("model", MODEL)
    return check_connection(profile(server.base_url, model), key, **kw)


def oks(report: ConnectionReport) -> list[bool | None]:
    return [s.ok for s in report.steps]


def texts(report: ConnectionReport) -> list[str]:
    return [report.summary, *(s.detail for s in report.steps)]


def chat_requests(server: StreamServer) -> list[Any]:
    return [r for r in server.requests if r.path == "/v1/chat/completions"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cancel_after(token: CancelToken, seconds: float) -> list[float]:
    when: list[float] = []

    def run() -> None:
        time.sleep(seconds)
        when.append(time.monotonic())
        token.cancel()

    threading.Thread(target=run, daemon=True).start()
    return when


# --- all well --------------------------------------------------------------------------


def test_all_ok_lists_models_and_times_the_first_token(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL, "other-model"))
    # One SSE message per body chunk, 0.15 s apart: the role chunk (no text) comes at
    # once, "OK" only after the first pause, so the first token is at least 0.15 s in.
    server.chat(Reply(200, [sse(m) for m in vllm_stream(["OK"])], delay=0.15))
    report = check(server)

    assert report.ok, report
    assert oks(report) == [True, True, True, True]
    assert [s.name for s in report.steps] == list(STEP_NAMES)
    assert report.models == (MODEL, "other-model")
    assert report.ttft_ms is not None
    assert report.total_ms is not None
    assert 140 <= report.ttft_ms < report.total_ms < 5000
    assert (
        report.summary == f"Connected: {MODEL} answered, first token after {report.ttft_ms:.0f} ms."
    )
    assert report.step("answer").detail.startswith("The model answered “OK” in ")
    assert report.step("model").detail == f"The server serves {MODEL}."
    assert report.step("auth").detail == "The server accepted the API key."
    assert report.suggested_model is None
    assert not report.cancelled

    # the chat request: tiny, real, with the key, and a real picture
    (seen,) = chat_requests(server)
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    body = seen.json()
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["max_tokens"] == 8
    text, image = body["messages"][0]["content"]
    assert text == {"type": "text", "text": CHECK_PROMPT}
    url = image["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    picture = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    w, h = picture.size
    assert w % 32 == 0
    assert h % 32 == 0
    rgb = picture.convert("RGB")
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((w // 2, h // 2)) == (0, 0, 0)


def test_no_key_sends_none_and_says_so(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(stream_reply(vllm_stream(["OK"])))
    report = check(server, key=None)
    assert report.ok
    assert report.step("auth").detail == "The server did not ask for an API key."
    assert all("Authorization" not in r.headers for r in server.requests)


def test_thinking_model_that_only_reasons_within_8_tokens_counts(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    msgs = llamacpp_stream([], reasoning=["Let", " me"])
    server.chat(stream_reply(msgs))
    report = check(server)
    assert report.ok
    assert report.ttft_ms is not None
    assert report.step("answer").detail.startswith("The model answered in ")


def test_sampling_of_the_profile_is_kept_but_max_tokens_is_tiny(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(stream_reply(vllm_stream(["OK"])))
    p = profile(server.base_url, sampling=Sampling(top_k=20, temperature=0.1))
    assert check_connection(p, None).ok
    body = chat_requests(server)[0].json()
    assert (body["top_k"], body["temperature"], body["max_tokens"]) == (20, 0.1, 8)


# --- reach -----------------------------------------------------------------------------


def test_closed_port_cannot_be_reached_and_stops_at_once() -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/v1"
    t0 = time.monotonic()
    report = check_connection(profile(url), KEY)
    assert time.monotonic() - t0 < 2.0  # no retries, no backoff
    assert not report.ok
    assert oks(report) == [False, None, None, None]
    detail = report.step("reach").detail
    assert detail.startswith(f"Cannot reach {url}: connection refused.")
    assert "Is the server running" in detail
    assert report.summary == detail
    assert report.step("auth").detail == "Not run: an earlier step failed."
    assert report.models == ()


def test_redirect_is_a_wrong_address(server: StreamServer) -> None:
    server.queue(
        "/v1/models",
        Reply(308, b"", headers={"Location": "https://example.invalid/v1/models"}, chunked=False),
    )
    report = check(server)
    assert oks(report) == [False, None, None, None]
    assert "redirects to https://example.invalid" in report.summary
    assert chat_requests(server) == []


def test_server_that_never_answers_hits_the_overall_timeout(server: StreamServer) -> None:
    server.queue("/v1/models", Reply(stall_before_headers=10.0))
    t0 = time.monotonic()
    report = check(server, timeout=0.5)
    assert 0.4 < time.monotonic() - t0 < 1.5
    assert oks(report) == [False, None, None, None]
    assert report.summary == f"The server at {server.base_url} took more than 0.5 s to answer."
    assert not report.cancelled
    assert server.hangup.wait(1.0)  # the socket was really closed


# --- auth ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "key", "words"),
    [
        (401, None, "The server wants an API key and none is stored."),
        (401, KEY, "The server refused the API key. Check that it is complete"),
        (403, KEY, "The server refused the API key: it is not allowed"),
        (403, None, "The server wants an API key and none is stored."),
    ],
)
def test_refused_key(server: StreamServer, status: int, key: str | None, words: str) -> None:
    server.queue("/v1/models", json_reply({"error": "Unauthorized"}, status))
    report = check(server, key=key)
    assert oks(report) == [True, False, None, None]
    detail = report.step("auth").detail
    assert detail.startswith(words)
    assert detail.endswith("The server said: Unauthorized.")
    assert report.summary == detail
    assert report.step("reach").detail.startswith("The server answered in ")
    assert chat_requests(server) == []
    assert len(server.requests) == 1  # a refusal is not retried


def test_chat_refused_although_the_model_list_is_open(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(json_reply({"error": {"message": "invalid token"}}, 401))
    report = check(server)
    assert oks(report) == [True, True, True, False]
    assert report.step("answer").detail == (
        "The chat request was refused. The server refused the API key. Check that it is "
        "complete and still valid. The server said: invalid token."
    )


# --- model -----------------------------------------------------------------------------


def test_missing_model_lists_five_that_are_served(server: StreamServer) -> None:
    served = [f"model-{c}" for c in "abcdefg"]
    server.queue("/v1/models", models_reply(*served))
    report = check(server)
    assert oks(report) == [True, True, False, None]
    assert report.summary == (
        f"The server does not serve {MODEL}. It serves: model-a, model-b, model-c, "
        "model-d, model-e and 2 more."
    )
    assert report.models == tuple(served)
    assert chat_requests(server) == []


def test_missing_model_with_few_served(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply("llava", "bakllava"))
    report = check(server)
    assert report.summary == f"The server does not serve {MODEL}. It serves: llava, bakllava."


def test_a_single_model_server_lets_the_request_decide(server: StreamServer) -> None:
    """llama.cpp without --alias lists its GGUF file and answers any model name."""
    server.queue("/v1/models", models_reply("/models/Qwen3-VL-8B-Instruct-Q4_K_M.gguf"))
    server.chat(stream_reply(vllm_stream(["OK"])))
    report = check(server)
    assert oks(report) == [True, True, True, True]
    assert "lists only /models/Qwen3-VL-8B-Instruct-Q4_K_M.gguf" in report.step("model").detail
    assert len(chat_requests(server)) == 1


def test_a_single_model_server_that_refuses_the_name_fails_the_request(
    server: StreamServer,
) -> None:
    server.queue("/v1/models", models_reply("llava"))
    server.chat(json_reply({"error": {"message": f"model {MODEL} not found"}}, 404))
    report = check(server)
    assert report.ok is False
    assert False in oks(report)


def test_empty_model_list(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply())
    report = check(server)
    assert oks(report) == [True, True, False, None]
    assert report.summary == f"The server does not serve {MODEL}; it lists no models."


@pytest.mark.parametrize(
    ("wanted", "served"),
    [
        ("qwen/qwen3-vl-8b-instruct", MODEL),  # case
        ("Qwen3-VL-8B-Instruct", MODEL),  # org prefix
        ("qwen3-vl:8b-instruct", "qwen3-vl:8b-instruct:latest"),  # Ollama's tag
        ("qwen3-vl", "qwen3-vl:latest"),
    ],
)
def test_loose_model_match_counts_with_a_note(
    server: StreamServer, wanted: str, served: str
) -> None:
    server.queue("/v1/models", models_reply("other", served))
    server.chat(stream_reply(vllm_stream(["OK"])))
    report = check(server, model=wanted)
    assert report.ok
    assert report.suggested_model == served
    assert report.step("model").detail == (
        f"The server lists this model as {served} rather than {wanted}; "
        "if requests fail, use the exact name."
    )
    assert chat_requests(server)[0].json()["model"] == wanted  # the profile is what is tested


def test_loose_match_that_the_chat_refuses_names_the_exact_one(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(
        json_reply({"error": {"message": "The model `qwen3-vl-8b-instruct` does not exist."}}, 404)
    )
    report = check(server, model="qwen3-vl-8b-instruct")
    assert oks(report) == [True, True, True, False]
    assert report.summary == (
        f"The server did not accept the name qwen3-vl-8b-instruct; use the exact name {MODEL} "
        "in the profile."
    )


# --- no model list ---------------------------------------------------------------------


def test_no_models_route_is_not_fatal(server: StreamServer) -> None:
    # nothing queued for /v1/models: the test server answers 404 there
    server.chat(stream_reply(vllm_stream(["OK"])))
    report = check(server)
    assert report.ok, report
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/chat/completions"]
    assert report.models == ()
    assert "no model list at /models" in report.step("reach").detail
    assert report.step("auth").detail == "The server accepted the chat request."
    assert report.step("model").detail == f"The server answered with {MODEL}."


def test_no_models_route_and_unknown_model(server: StreamServer) -> None:
    server.chat(
        json_reply({"error": {"message": f"The model `{MODEL}` does not exist.", "code": 404}}, 404)
    )
    report = check(server)
    assert oks(report) == [True, True, False, None]
    assert report.summary == (
        f"The server does not serve {MODEL}. The server said: The model `{MODEL}` does not exist."
    )


def test_no_models_route_and_key_refused(server: StreamServer) -> None:
    server.chat(json_reply({"error": "Unauthorized"}, 401))
    report = check(server)
    assert oks(report) == [True, False, None, None]
    assert report.summary.startswith("The server refused the API key.")


def test_no_models_route_and_chat_fails(server: StreamServer) -> None:
    server.chat(json_reply({"error": {"message": "boom"}}, 500))
    report = check(server)
    assert oks(report) == [True, None, None, False]
    assert report.step("auth").detail.startswith("Not checked:")
    assert report.summary == "The server failed (500 Internal Server Error): boom."
    assert len(chat_requests(server)) == 1  # the check does not retry


def test_model_list_that_is_not_json_is_noted(server: StreamServer) -> None:
    server.queue("/v1/models", Reply(200, b"<html>hello</html>", content_type="text/html"))
    server.chat(stream_reply(vllm_stream(["OK"])))
    report = check(server)
    assert report.ok
    assert "Its model list was not usable (The server at" in report.step("reach").detail


# --- answer ----------------------------------------------------------------------------


def test_error_in_the_middle_of_the_stream(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    msgs = [
        *vllm_stream(["O"])[:2],
        {"error": {"message": "CUDA out of memory", "type": "InternalServerError"}},
        "[DONE]",
    ]
    server.chat(stream_reply(msgs))
    report = check(server)
    assert oks(report) == [True, True, True, False]
    assert report.summary == "The server reported an error while answering: CUDA out of memory."
    assert report.total_ms is None


def test_stream_with_only_done_still_shows_a_working_connection(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(stream_reply(["[DONE]"]))
    report = check(server)
    assert report.ok
    assert report.ttft_ms is None
    assert report.step("answer").detail.startswith("The model ended its answer without any text")
    assert report.summary.startswith(f"Connected: {MODEL} answered in ")


def test_500_on_chat(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(json_reply({"error": {"message": "engine dead"}}, 500))
    report = check(server)
    assert oks(report) == [True, True, True, False]
    assert (
        report.step("answer").detail
        == "The server failed (500 Internal Server Error): engine dead."
    )
    assert len(chat_requests(server)) == 1


def test_stream_with_nothing_in_it_fails(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(Reply(200, b"", close_without_end=False))
    report = check(server)
    assert oks(report) == [True, True, True, False]
    assert report.summary == "The connection closed before the answer was complete."


def test_model_that_never_answers_hits_the_overall_timeout(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(Reply(stall_before_headers=10.0))
    t0 = time.monotonic()
    report = check(server, timeout=0.5)
    assert time.monotonic() - t0 < 1.5
    assert oks(report) == [True, True, True, False]
    assert report.summary.startswith("The model did not answer within 0.5 s.")


def test_answer_that_starts_but_stalls_counts(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(stream_reply(vllm_stream(["OK"])[:2], stall_after_body=10.0))
    report = check(server, timeout=0.5)
    assert report.ok
    assert report.ttft_ms is not None
    assert report.total_ms is None
    assert "did not finish 8 tokens within 0.5 s" in report.step("answer").detail


# --- the key never shows ---------------------------------------------------------------


def _no_key_anywhere(report: ConnectionReport) -> None:
    for text in texts(report):
        assert KEY not in text
        assert KEY[3:15] not in text


def test_key_never_in_the_texts_of_a_good_check(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(stream_reply(vllm_stream(["OK"])))
    report = check(server)
    assert report.ok
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEY}"  # it was sent
    _no_key_anywhere(report)


def test_key_echoed_by_a_refusing_server_is_hidden(server: StreamServer) -> None:
    server.queue("/v1/models", json_reply({"error": {"message": f"Incorrect API key: {KEY}"}}, 401))
    report = check(server)
    assert not report.ok
    _no_key_anywhere(report)
    assert report.summary.endswith("The server said: Incorrect API key: [API key hidden].")


def test_key_echoed_in_a_stream_error_is_hidden(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(stream_reply([{"error": {"message": f"quota exceeded for {KEY}"}}, "[DONE]"]))
    report = check(server)
    assert oks(report) == [True, True, True, False]
    _no_key_anywhere(report)
    assert "[API key hidden]" in report.summary


def test_key_echoed_in_the_answer_is_hidden(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(stream_reply(vllm_stream([KEY])))
    report = check(server)
    assert report.ok
    _no_key_anywhere(report)


# --- cancel ----------------------------------------------------------------------------


def test_cancel_from_another_thread_during_the_answer(server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(Reply(stall_before_headers=10.0))
    token = CancelToken()
    when = _cancel_after(token, 0.3)
    report = check(server, cancel=token)
    assert time.monotonic() - when[0] < 0.1
    assert report.cancelled
    assert not report.ok
    assert oks(report) == [True, True, True, None]
    assert report.step("answer").detail == "Stopped before this step finished."
    assert report.summary == "The check was stopped."
    assert server.hangup.wait(1.0)
    assert server.hangups[0] - when[0] < 0.1


def test_cancel_while_waiting_for_the_model_list(server: StreamServer) -> None:
    server.queue("/v1/models", Reply(stall_before_headers=10.0))
    token = CancelToken()
    when = _cancel_after(token, 0.2)
    report = check(server, cancel=token)
    assert time.monotonic() - when[0] < 0.1
    assert report.cancelled
    assert oks(report) == [None, None, None, None]
    assert report.step("reach").detail == "Stopped before this step finished."
    assert report.step("auth").detail == "Not run: the check was stopped."
    assert chat_requests(server) == []


def test_cancelled_before_start_sends_nothing(server: StreamServer) -> None:
    token = CancelToken()
    token.cancel()
    report = check(server, cancel=token)
    assert report.cancelled
    assert server.requests == []


def test_the_deadline_does_not_cancel_the_callers_token(server: StreamServer) -> None:
    server.queue("/v1/models", Reply(stall_before_headers=10.0))
    token = CancelToken()
    report = check(server, cancel=token, timeout=0.3)
    assert not report.cancelled
    assert not token.cancelled
    assert oks(report)[0] is False


# --- plain-http warning ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://gpu-box:8000/v1",
        "http://192.168.1.20:8000/v1",  # a private LAN still carries the key in clear
        "http://10.0.0.5/v1",
        "HTTP://api.example.com/v1",
        "http://[fe80::1]:8000/v1",
        "http://0.0.0.0:8000/v1",
        "http://localhost.example.com/v1",
    ],
)
def test_key_over_plain_http_to_another_host_warns(url: str) -> None:
    warning = insecure_key_warning(url, has_key=True)
    assert warning is not None
    assert warning.startswith("The API key would travel unencrypted over plain http to ")
    assert warning.endswith(".")
    assert insecure_key_warning(url, has_key=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1",
        "http://127.0.0.1:8000/v1",
        "http://127.5.6.7/v1",
        "http://localhost:11434/v1",
        "http://LOCALHOST/v1",
        "http://[::1]:8000/v1",
        "http://[::ffff:127.0.0.1]:8000/v1",
        "not a url",
        "http://[broken/v1",
    ],
)
def test_no_warning_for_https_loopback_or_no_url(url: str) -> None:
    assert insecure_key_warning(url, has_key=True) is None


def test_warning_names_the_host() -> None:
    warning = insecure_key_warning("http://gpu-box:8000/v1", has_key=True)
    assert warning is not None
    assert " to gpu-box," in warning


@pytest.mark.parametrize("key", ["k", "EMPTY"])
def test_a_short_key_is_hidden_only_as_a_whole_word(server: StreamServer, key: str) -> None:
    server.queue("/v1/models", json_reply({"error": {"message": f"bad key {key}: EMPTYk"}}, 401))
    report = check(server, key=key)
    assert report.summary == (
        "The server refused the API key. Check that it is complete and still valid. "
        "The server said: bad key [API key hidden]: EMPTYk."
    )

"""The endpoint client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.endpoint import (
    CancelToken,
    EndpointClient,
    RetryNotice,
    build_chat_body,
)
from desktop_app.core.errors import (
    AuthenticationError,
    Cancelled,
    ContextTooLong,
    EndpointTimeout,
    EndpointUnreachable,
    ModelNotFound,
    RequestRejected,
    ScreenScribeError,
    ServerError,
    StreamBroken,
)
from desktop_app.core.models import (
    ChatRequest,
    Finished,
    PreparedImage,
    ReasoningDelta,
    Sampling,
    StreamEvent,
    TextDelta,
    Turn,
    Usage,
)
from tests.servers import (
    USAGE,
    Reply,
    StreamServer,
    json_reply,
    llamacpp_stream,
    ollama_stream,
    openai_stream,
    stream_reply,
    vllm_stream,
)

PIECES = ["Invoice ", "№ 42", "\u2028", " — total ", "€1 234,50", " ✓"]
TEXT = "".join(PIECES)
IMAGE = PreparedImage(b"\x89PNG fake", "image/png", 64, 32, 64, 32, 2)


def req(**kw: Any) -> ChatRequest:
    return ChatRequest(
        model=kw.pop("model", "Qwen/Qwen3-VL-8B-Instruct"),
        prompt=kw.pop("prompt", "Read all the text in the image."),
        image=kw.pop("image", IMAGE),
        **kw,
    )


@pytest.fixture
def client(server: StreamServer) -> Iterator[EndpointClient]:
    with EndpointClient(server.base_url, "sk-test", backoff_initial=0.01, idle_timeout=5.0) as c:
        yield c


def collect(it: Iterator[StreamEvent]) -> list[StreamEvent]:
    return list(it)


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- request -------------------------------------------------------------------------


def test_request_body_has_the_documented_defaults(
    server: StreamServer, client: EndpointClient
) -> None:
    server.chat(stream_reply(vllm_stream(["ok"])))
    collect(client.stream_chat(req()))
    seen = server.requests[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == "Bearer sk-test"
    body = seen.json()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["presence_penalty"]) == (
        0.7,
        2048,
        0.9,
        0,
    )
    assert "top_k" not in body
    content = body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Read all the text in the image."}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_top_k_is_sent_only_when_set() -> None:
    assert build_chat_body(req(sampling=Sampling(top_k=20)))["top_k"] == 20


def test_follow_up_resends_the_conversation() -> None:
    body = build_chat_body(
        req(
            prompt="And the date?",
            first_prompt="Read it.",
            history=(Turn("assistant", "Invoice 42"),),
        )
    )
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0]["content"][0]["text"] == "Read it."
    assert msgs[0]["content"][1]["type"] == "image_url"
    assert msgs[1]["content"] == "Invoice 42"
    assert msgs[2]["content"] == "And the date?"


def test_no_key_sends_no_authorization(server: StreamServer) -> None:
    server.chat(stream_reply(vllm_stream(["ok"])))
    with EndpointClient(server.base_url) as c:
        collect(c.stream_chat(req()))
    assert "Authorization" not in server.requests[-1].headers


def test_the_session_id_goes_as_a_header_only_when_there_is_one(
    server: StreamServer, client: EndpointClient
) -> None:
    """vLLM's production-stack router (routerSpec.sessionKey: x-session-id) keeps one
    conversation on one replica; it must never leak into the body."""
    server.chat(stream_reply(vllm_stream(["a"])), stream_reply(vllm_stream(["b"])))
    collect(client.stream_chat(req(session="c0ffee12")))
    collect(client.stream_chat(req()))
    with_id, without = server.requests[-2], server.requests[-1]
    assert with_id.headers["X-Session-Id"] == "c0ffee12"
    assert "session" not in with_id.json()
    assert "X-Session-Id" not in without.headers


# --- every server's stream shape, over a real socket ----------------------------------

SHAPES = {
    "vllm": vllm_stream(PIECES),
    "openai": openai_stream(PIECES),
    "ollama": ollama_stream(PIECES),
    "ollama-old": ollama_stream(PIECES, old=True),
    "llamacpp": llamacpp_stream(PIECES, reasoning=["think"]),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_every_shape_streams_the_exact_text(
    server: StreamServer, client: EndpointClient, shape: str, eol: str
) -> None:
    server.chat(stream_reply(SHAPES[shape], split=5, eol=eol, comments=True))
    events = collect(client.stream_chat(req()))
    assert text_of(events) == TEXT
    assert events[-1] == Finished("stop")
    if shape != "ollama-old":
        assert Usage(**USAGE) in events
    if shape == "llamacpp":
        assert ReasoningDelta("think") in events


def test_close_delimited_body_with_done_and_no_blank_line(
    server: StreamServer, client: EndpointClient
) -> None:
    server.chat(
        stream_reply(
            vllm_stream(PIECES), split=3, chunked=False, done_blank_line=False, space=False
        )
    )
    assert text_of(collect(client.stream_chat(req()))) == TEXT


def test_server_that_ignores_stream_true(server: StreamServer, client: EndpointClient) -> None:
    server.chat(
        json_reply(
            {"choices": [{"message": {"content": TEXT}, "finish_reason": "stop"}], "usage": USAGE}
        )
    )
    events = collect(client.stream_chat(req()))
    assert text_of(events) == TEXT
    assert events[-2:] == [Usage(**USAGE), Finished("stop")]


def test_connection_is_reused(server: StreamServer, client: EndpointClient) -> None:
    server.chat(stream_reply(vllm_stream(["a"])))
    for _ in range(3):
        assert text_of(collect(client.stream_chat(req()))) == "a"
    ports = {s.headers.get("Host") for s in server.requests}
    assert len(server.requests) == 3
    assert len(ports) == 1


# --- errors before the stream ---------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "exc", "words"),
    [
        (
            json_reply({"error": {"message": "Invalid API key", "type": "auth"}}, 401),
            AuthenticationError,
            "Invalid API key",
        ),
        (json_reply({"error": "Unauthorized"}, 401), AuthenticationError, "Unauthorized"),
        (json_reply({"error": {"message": "forbidden"}}, 403), AuthenticationError, "forbidden"),
        (
            json_reply(
                {
                    "object": "error",
                    "message": "The model `Qwen/Qwen3-VL-8B-Instruct` does not exist.",
                    "code": 404,
                },
                404,
            ),
            ModelNotFound,
            "does not exist",
        ),
        (
            json_reply(
                {
                    "error": {
                        "message": 'model "Qwen/Qwen3-VL-8B-Instruct" not found, '
                        "try pulling it first"
                    }
                },
                404,
            ),
            ModelNotFound,
            "try pulling it first",
        ),
        (
            Reply(404, b"404 page not found", content_type="text/plain", chunked=False),
            RequestRejected,
            "usually ends in /v1",
        ),
        (
            json_reply(
                {
                    "object": "error",
                    "message": "The decoder prompt (length 40000) is longer "
                    "than the maximum model length of 32768.",
                    "code": 400,
                },
                400,
            ),
            ContextTooLong,
            "maximum model length",
        ),
        (
            json_reply(
                {
                    "error": {
                        "code": 400,
                        "message": "the request exceeds the available context size",
                        "type": "exceed_context_size_error",
                        "n_prompt_tokens": 40000,
                        "n_ctx": 32768,
                    }
                },
                400,
            ),
            ContextTooLong,
            "context",
        ),
        (
            json_reply(
                {
                    "object": "error",
                    "message": "At most 2 image(s) may be provided in one prompt.",
                    "code": 400,
                },
                400,
            ),
            RequestRejected,
            "At most 2 image",
        ),
        (
            Reply(
                502,
                b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>",
                content_type="text/html",
                chunked=False,
            ),
            ServerError,
            "502 Bad Gateway nginx",
        ),
        (
            Reply(500, b"", content_type="text/plain", chunked=False),
            ServerError,
            "500 Internal Server Error",
        ),
    ],
)
def test_error_shapes_become_one_clear_error(
    server: StreamServer, client: EndpointClient, reply: Reply, exc: type[Exception], words: str
) -> None:
    server.chat(reply)
    with pytest.raises(exc) as info:
        collect(client.stream_chat(req()))
    assert type(info.value) is exc
    message = str(info.value)
    assert words in message
    assert "\n" not in message
    assert "<" not in message


def test_429_with_retry_after_then_success(server: StreamServer, client: EndpointClient) -> None:
    server.chat(
        json_reply({"error": {"message": "rate limited"}}, 429, headers={"Retry-After": "0.3"}),
        stream_reply(vllm_stream(PIECES)),
    )
    notices: list[RetryNotice] = []
    t0 = time.monotonic()
    events = collect(client.stream_chat(req(), on_retry=notices.append))
    assert time.monotonic() - t0 >= 0.3
    assert text_of(events) == TEXT
    assert len(server.requests) == 2
    assert notices == [RetryNotice(1, 0.3, notices[0].reason)]
    assert "rate limited" in notices[0].reason


def test_retry_after_ms_is_honoured(server: StreamServer, client: EndpointClient) -> None:
    server.chat(
        Reply(
            503,
            b"server busy, please try again. maximum pending requests exceeded",
            content_type="text/plain",
            chunked=False,
            headers={"retry-after-ms": "150"},
        ),
        stream_reply(vllm_stream(["ok"])),
    )
    notices: list[RetryNotice] = []
    assert text_of(collect(client.stream_chat(req(), on_retry=notices.append))) == "ok"
    assert notices[0].delay == pytest.approx(0.15)


def test_5xx_retried_then_given_up(server: StreamServer, client: EndpointClient) -> None:
    server.chat(json_reply({"error": {"message": "overloaded"}}, 503))
    notices: list[RetryNotice] = []
    with pytest.raises(ServerError, match="overloaded"):
        collect(client.stream_chat(req(), on_retry=notices.append))
    assert len(server.requests) == 3  # 1 + max_retries
    assert [n.attempt for n in notices] == [1, 2]


def test_retry_after_longer_than_a_minute_is_not_waited(
    server: StreamServer, client: EndpointClient
) -> None:
    server.chat(json_reply({"error": {"message": "quota"}}, 429, headers={"Retry-After": "3600"}))
    t0 = time.monotonic()
    with pytest.raises(ServerError, match="quota"):
        collect(client.stream_chat(req()))
    assert time.monotonic() - t0 < 1
    assert len(server.requests) == 1


def test_4xx_is_not_retried(server: StreamServer, client: EndpointClient) -> None:
    server.chat(json_reply({"error": {"message": "bad"}}, 400))
    with pytest.raises(RequestRejected):
        collect(client.stream_chat(req()))
    assert len(server.requests) == 1


def test_redirect_is_reported_not_followed(server: StreamServer, client: EndpointClient) -> None:
    server.chat(
        Reply(
            308,
            b"",
            headers={"Location": "https://example.invalid/v1/chat"},
            content_type="text/plain",
            chunked=False,
        )
    )
    with pytest.raises(RequestRejected, match=r"redirects to https://example\.invalid"):
        collect(client.stream_chat(req()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dead_endpoint_is_unreachable_after_retries() -> None:
    notices: list[RetryNotice] = []
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with (
        EndpointClient(url, backoff_initial=0.01) as c,
        pytest.raises(EndpointUnreachable, match=r"Could not connect to 127\.0\.0\.1") as info,
    ):
        collect(c.stream_chat(req(), on_retry=notices.append))
    assert len(notices) == 2
    assert "Traceback" not in str(info.value)


# --- failures in the middle of the stream --------------------------------------------


def test_error_inside_200_stream_keeps_partial_text_and_is_not_retried(
    server: StreamServer, client: EndpointClient
) -> None:
    msgs = [
        *vllm_stream(["Partial ", "answer"])[:3],
        {"error": {"message": "CUDA out of memory", "type": "InternalServerError"}},
        "[DONE]",
    ]
    server.chat(stream_reply(msgs))
    got: list[StreamEvent] = []
    with pytest.raises(StreamBroken, match="CUDA out of memory"):
        for e in client.stream_chat(req()):
            got.append(e)
    assert text_of(got) == "Partial answer"
    assert len(server.requests) == 1


def test_connection_cut_mid_stream(server: StreamServer, client: EndpointClient) -> None:
    msgs = vllm_stream(["one ", "two ", "three"])[:3]  # no finish, no [DONE]
    server.chat(stream_reply(msgs, close_without_end=True))
    got: list[StreamEvent] = []
    with pytest.raises(StreamBroken):
        for e in client.stream_chat(req()):
            got.append(e)
    assert text_of(got) == "one two "
    assert len(server.requests) == 1


def test_malformed_stream_is_a_clear_error(server: StreamServer, client: EndpointClient) -> None:
    server.chat(
        Reply(
            200,
            [b'data: {"choices":[{"delta":{"content":"ok"}}]}\n\n', b"data: <html>oops</html>\n\n"],
        )
    )
    with pytest.raises(StreamBroken, match="malformed"):
        collect(client.stream_chat(req()))


def test_stalled_server_hits_the_idle_timeout(server: StreamServer) -> None:
    msgs = vllm_stream(["a"])
    server.chat(stream_reply(msgs[:2], stall_after_body=3.0))
    with EndpointClient(server.base_url, idle_timeout=0.3) as c:
        got: list[StreamEvent] = []
        t0 = time.monotonic()
        with pytest.raises(EndpointTimeout, match=r"sent nothing for 0\.3 s"):
            for e in c.stream_chat(req()):
                got.append(e)
        assert 0.25 < time.monotonic() - t0 < 2.0
    assert text_of(got) == "a"


# --- cancellation from another thread -------------------------------------------------


def _cancel_after(token: CancelToken, seconds: float) -> list[float]:
    when: list[float] = []

    def run() -> None:
        time.sleep(seconds)
        when.append(time.monotonic())
        token.cancel()

    threading.Thread(target=run, daemon=True).start()
    return when


def test_cancel_mid_stream_closes_the_connection_within_100ms(
    server: StreamServer, client: EndpointClient
) -> None:
    server.chat(stream_reply(vllm_stream(["first "])[:2], stall_after_body=10.0))
    token = CancelToken()
    got: list[StreamEvent] = []
    when = _cancel_after(token, 0.3)
    with pytest.raises(Cancelled):
        for e in client.stream_chat(req(), cancel=token):
            got.append(e)
    raised = time.monotonic()
    assert text_of(got) == "first "
    assert raised - when[0] < 0.1
    assert server.hangup.wait(1.0)
    assert server.hangups[0] - when[0] < 0.1


def test_cancel_before_response_headers(server: StreamServer, client: EndpointClient) -> None:
    server.chat(Reply(stall_before_headers=10.0, body=b""))
    token = CancelToken()
    when = _cancel_after(token, 0.2)
    with pytest.raises(Cancelled):
        collect(client.stream_chat(req(), cancel=token))
    assert time.monotonic() - when[0] < 0.1
    assert server.hangup.wait(1.0)
    assert server.hangups[0] - when[0] < 0.1


def test_cancel_during_backoff(server: StreamServer) -> None:
    server.chat(json_reply({"error": {"message": "busy"}}, 503, headers={"Retry-After": "30"}))
    token = CancelToken()
    with EndpointClient(server.base_url) as c:
        when = _cancel_after(token, 0.2)
        with pytest.raises(Cancelled):
            collect(c.stream_chat(req(), cancel=token))
    assert time.monotonic() - when[0] < 0.1
    assert len(server.requests) == 1


def test_a_late_cancel_does_not_break_the_next_request(
    server: StreamServer, client: EndpointClient
) -> None:
    server.chat(stream_reply(vllm_stream(["a"])))
    token = CancelToken()
    collect(client.stream_chat(req(), cancel=token))
    token.cancel()  # after the fact: must not shut the pooled socket down
    assert text_of(collect(client.stream_chat(req()))) == "a"


def test_cancelled_before_start(client: EndpointClient, server: StreamServer) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        collect(client.stream_chat(req(), cancel=token))
    assert server.requests == []


# --- models --------------------------------------------------------------------------


def test_list_models(server: StreamServer, client: EndpointClient) -> None:
    server.queue(
        "/v1/models",
        json_reply(
            {
                "object": "list",
                "data": [{"id": "Qwen/Qwen3-VL-8B-Instruct", "object": "model"}, {"id": "other"}],
            }
        ),
    )
    assert client.list_models() == ["Qwen/Qwen3-VL-8B-Instruct", "other"]
    assert server.requests[-1].method == "GET"


def test_list_models_auth_error(server: StreamServer, client: EndpointClient) -> None:
    server.queue("/v1/models", json_reply({"error": "Unauthorized"}, 401))
    with pytest.raises(AuthenticationError):
        client.list_models()


# --- keep-alive -----------------------------------------------------------------------


def test_requests_one_after_another_reuse_one_connection(
    server: StreamServer, client: EndpointClient
) -> None:
    """The body is read to its end after [DONE], so httpx keeps the connection: the
    next request does not pay for a new one (a TLS handshake, against a hosted API)."""
    server.chat(stream_reply(vllm_stream(["one"])))
    for _ in range(3):
        assert text_of(collect(client.stream_chat(req()))) == "one"
    ports = {seen.client[1] for seen in server.requests}
    assert len(server.requests) == 3
    assert len(ports) == 1


def test_a_server_that_holds_the_stream_open_after_done_costs_50_ms(
    server: StreamServer, client: EndpointClient
) -> None:
    server.chat(stream_reply(vllm_stream(["held"]), stall_after_body=5.0))
    t0 = time.monotonic()
    events = collect(client.stream_chat(req()))
    took = time.monotonic() - t0
    assert text_of(events) == "held"
    assert took < 1.0  # the bounded drain, not the 5 s stall or the 5 s idle timeout
    assert server.hangup.wait(2)  # its socket was shut down, as before


def test_a_busy_pool_keeps_its_connections_for_the_next_round(server: StreamServer) -> None:
    """Twelve requests at once, twice: the second round reuses the first round's
    connections (a keep-alive limit below the pool size closed each idle one)."""
    server.chat(stream_reply(vllm_stream(["x"]), stall_before_headers=0.1))

    def one_round(client: EndpointClient) -> None:
        threads = [
            threading.Thread(target=lambda: collect(client.stream_chat(req()))) for _ in range(12)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)

    with EndpointClient(server.base_url, idle_timeout=5.0) as client:
        one_round(client)
        first = {seen.client[1] for seen in server.requests}
        one_round(client)
    assert len(server.requests) == 24
    ports = {seen.client[1] for seen in server.requests}
    assert len(first) <= 12
    assert len(first) >= 9  # they did run at once
    assert ports == first  # the second round opened no connection


# --- TLS ----------------------------------------------------------------------------


def test_an_https_endpoint_with_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    """Certificates are verified (the pool's own TLS context; the transport's discarded
    one is unverified only to skip loading the CA bundle twice)."""
    import http.server
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    make_cert = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    make_cert += ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(make_cert, check=True, capture_output=True)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/v1"
        with EndpointClient(url, max_retries=0) as c, pytest.raises(ScreenScribeError) as err:
            collect(c.stream_chat(req()))
        assert "certificate" in str(err.value).lower()
    finally:
        httpd.shutdown()
        httpd.server_close()

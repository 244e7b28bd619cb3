"""Which engine answers, and the offline engine behind the same interface as an endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.engines import OFFLINE_PROFILE, choose_engine, endpoint_configured
from desktop_app.core.errors import UsageError
from desktop_app.core.imaging import prepare_image
from desktop_app.core.local_ocr import LocalOcrEngine, LocalOcrSource
from desktop_app.core.models import ChatRequest
from desktop_app.core.pipeline import run_request
from desktop_app.core.settings import Settings, resolve_profile, with_default_profile

DATA = Path(__file__).resolve().parents[1] / "data" / "ocr"


@pytest.mark.parametrize(
    ("requested", "mode", "configured", "engine"),
    [
        ("auto", "ocr", False, "local"),
        ("auto", "ocr", True, "endpoint"),
        ("auto", "ask", True, "endpoint"),
        ("local", "ocr", True, "local"),
        ("endpoint", "ocr", False, "endpoint"),
        ("endpoint", "table", False, "endpoint"),
    ],
)
def test_choose_engine(requested: str, mode: str, configured: bool, engine: str) -> None:
    assert choose_engine(requested, mode, configured=configured) == engine


@pytest.mark.parametrize(
    ("requested", "mode"), [("auto", "ask"), ("auto", "describe"), ("local", "table")]
)
def test_modes_that_need_a_model_say_so(requested: str, mode: str) -> None:
    with pytest.raises(UsageError, match="needs a vision model"):
        choose_engine(requested, mode, configured=False)


def test_what_counts_as_configured() -> None:
    settings = Settings()
    hosted = resolve_profile(settings, env={})
    assert not endpoint_configured(settings, hosted, env={})
    assert endpoint_configured(settings, hosted, explicit=True, env={})
    assert endpoint_configured(settings, hosted, env={"SCREENSCRIBE_ENDPOINT": "http://h/v1"})
    assert endpoint_configured(settings, hosted, env={"SCREENSCRIBE_API_KEY": "sk-1"})
    local = with_default_profile(settings, "vllm")
    assert endpoint_configured(local, resolve_profile(local, env={}), env={})


def test_offline_source_through_the_shared_pipeline() -> None:
    truth = (DATA / "single_line_13px.txt").read_text(encoding="utf-8").strip()
    image = prepare_image(DATA / "single_line_13px.png", fit=False)
    progress: list[str] = []
    with LocalOcrEngine(idle_timeout=None) as engine:
        source = LocalOcrSource(engine)
        assert not source.can_chat
        outcome = run_request(
            source,
            ChatRequest(OFFLINE_PROFILE.model, "ignored", image),
            on_progress=progress.append,
        )
    assert outcome.error is None
    assert outcome.text == truth
    assert outcome.finish_reason == "stop"
    assert progress  # a person sees what happens while the model loads
    assert any("Loading" in p for p in progress)

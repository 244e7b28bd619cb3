"""What the panel and the CLI say about an endpoint and a request: where it runs, what
it cost. Pure functions, no Qt."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from desktop_app.core.models import Usage
from desktop_app.core.settings import Profile

_LAN_SUFFIXES = (".localhost", ".local", ".lan", ".home.arpa", ".internal")


def is_local_endpoint(base_url: str) -> bool:
    """True when the endpoint is this machine or the local network: loopback, private,
    link-local or shared (CGNAT) addresses, ``localhost``, single-label and ``.local`` /
    ``.lan`` / ``.home.arpa`` / ``.internal`` host names."""
    host = (urlsplit(base_url).hostname or "").rstrip(".").lower()
    if not host:
        return False
    if host == "localhost" or host.endswith(_LAN_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # "gpu-box": a LAN name
    return not address.is_global


def request_cost(profile: Profile, usage: Usage | None) -> float | None:
    """USD for one request, from the profile's prices per million tokens; None when
    the profile has no prices or the server reported no usage."""
    p_in, p_out = profile.input_price_per_mtok, profile.output_price_per_mtok
    if usage is None or (p_in is None and p_out is None):
        return None
    return (usage.prompt_tokens * (p_in or 0.0) + usage.completion_tokens * (p_out or 0.0)) / 1e6


def format_cost(usd: float) -> str:
    if usd <= 0:
        return "$0"
    if usd < 0.0001:
        return "<$0.0001"
    if usd < 1:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"

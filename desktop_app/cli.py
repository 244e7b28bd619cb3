"""The command line: ``screenscribe [COMMAND]``.

Headless commands use the Qt-free core only; everything heavy (httpx, Pillow, keyring,
sqlite) is imported inside the command that needs it, so ``--help`` and the forwarding
commands of the app stay fast.

Exit codes: 0 done; 2 usage or unreadable input; 3 endpoint unreachable or timed out;
4 authentication refused; 5 request rejected; 6 server failed or stream broke;
130 interrupted. Errors are one line on stderr; text already streamed stays on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from desktop_app import __version__

if TYPE_CHECKING:
    from desktop_app.core.history import History
    from desktop_app.core.settings import Profile, Settings

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"screenscribe: {message}\n")


def _add_endpoint_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("endpoint")
    g.add_argument("--profile", help="endpoint profile from the settings (default: its default)")
    g.add_argument("--endpoint", metavar="URL", help="base URL, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--model", help="model name on that endpoint")


def _add_request_flags(p: argparse.ArgumentParser) -> None:
    _add_endpoint_flags(p)
    g = p.add_argument_group("request")
    g.add_argument("--prompt", help="instruction sent with the image (replaces the preset's)")
    g.add_argument("--max-tokens", type=int, metavar="N", help="longest answer in tokens")
    g.add_argument("--temperature", type=float, metavar="T", help="sampling temperature")
    g.add_argument(
        "--max-image-tokens",
        type=int,
        metavar="N",
        help="image budget in tokens (Qwen3-VL: 64 to 16384)",
    )
    g.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per image (text, usage, timings, finish reason)",
    )
    g.add_argument("--no-history", action="store_true", help="do not save to the history")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="screenscribe",
        description="Read text from images and the screen with a vision-language model. "
        "With no command, starts the desktop app.",
        epilog="Environment: SCREENSCRIBE_ENDPOINT, SCREENSCRIBE_MODEL, SCREENSCRIBE_API_KEY, "
        "SCREENSCRIBE_CONFIG_DIR, SCREENSCRIBE_DATA_DIR.",
    )
    parser.add_argument("--version", action="version", version=f"screenscribe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ocr = sub.add_parser(
        "ocr",
        help="stream the text of images to stdout",
        description="Stream the text of each image to stdout. IMAGE may be a "
        "file, a folder (searched for images) or - for stdin.",
    )
    ocr.add_argument("images", nargs="+", metavar="IMAGE")
    _add_request_flags(ocr)
    ocr.add_argument(
        "--engine",
        choices=["auto", "local", "endpoint"],
        default=None,
        help="local: the offline OCR engine; endpoint: the vision model; auto (default): the "
        "model when an endpoint is configured, else offline; default: the settings' "
        "ocr_engine, which is auto",
    )
    b = ocr.add_argument_group("batch")
    b.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="N",
        help="requests in flight at once (default 4)",
    )
    b.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="append one JSON line per image to FILE instead of printing text",
    )
    b.add_argument(
        "--resume",
        action="store_true",
        help="skip the images FILE (--output) already has a finished answer for",
    )

    ask = sub.add_parser(
        "ask",
        help="ask a question about an image",
        description="Stream the answer to a question about an image.",
    )
    ask.add_argument("image", metavar="IMAGE")
    ask.add_argument("question", metavar="QUESTION")
    _add_request_flags(ask)

    for name, text in (
        ("capture", "select a screen region and read it (the overlay opens)"),
        ("clipboard", "read the image on the clipboard"),
    ):
        cmd = sub.add_parser(
            name,
            help=text,
            description=text.capitalize() + ". Bind "
            f"`screenscribe {name}` to a key in your desktop's settings: a "
            "running app opens at once; with none, a one-shot app starts.",
        )
        _add_preset_flag(cmd)

    models = sub.add_parser("models", help="list the endpoint's models")
    _add_endpoint_flags(models)
    models.add_argument("--json", action="store_true", help="print a JSON list")

    doctor = sub.add_parser("doctor", help="say what works on this machine")
    _add_endpoint_flags(doctor)

    key = sub.add_parser("key", help="store or remove an endpoint's API key in the keyring")
    key.add_argument("action", choices=["set", "delete", "status"])
    key.add_argument("--profile", help="profile the key belongs to (default: the default one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            return _cmd_app()
        if args.command in ("capture", "clipboard"):
            preset = ["--preset", args.preset] if args.preset else []
            return _cmd_app([args.command, *preset], one_shot=True)
        handler = {
            "ocr": _cmd_ocr,
            "ask": _cmd_ask,
            "models": _cmd_models,
            "doctor": _cmd_doctor,
            "key": _cmd_key,
        }[args.command]
        return handler(args)
    except KeyboardInterrupt:
        err("Interrupted.")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout went away (`| head`): not an error of ours. Point stdout at devnull so
        # the interpreter's final flush does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        from desktop_app.core.errors import ScreenScribeError

        if isinstance(exc, ScreenScribeError):
            err(str(exc))
            return exc.exit_code
        raise


def err(message: str, stream: TextIO | None = None) -> None:
    print(f"screenscribe: {message}", file=stream or sys.stderr, flush=True)


def _cmd_app(command: list[str] | None = None, *, one_shot: bool = False) -> int:
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and not os.environ.get("QT_QPA_PLATFORM")
    ):
        err(
            "No display: the desktop app needs a graphical session (DISPLAY or "
            "WAYLAND_DISPLAY is not set). The command line works without one: "
            "`screenscribe ocr IMAGE`."
        )
        return EXIT_USAGE
    from desktop_app.app import run_app

    return run_app(command, one_shot=one_shot)


class _ForwardedParser(_Parser):
    def error(self, message: str) -> NoReturn:
        raise _usage(message)


def _add_preset_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset",
        "--mode",
        dest="preset",
        metavar="NAME",
        help="prompt preset: ocr, ask, table, describe, translate or one of yours "
        "(default: the default preset in the settings)",
    )


def parse_app_command(argv: Sequence[str]) -> tuple[str, str | None]:
    """A command handed to the running app: ``(command, preset or None for the
    default)``. Raises ``UsageError``; the app checks that the preset exists."""
    parser = _ForwardedParser(prog="screenscribe", add_help=False)
    from desktop_app.instance import FORWARDED_COMMANDS

    parser.add_argument("command", choices=FORWARDED_COMMANDS)
    _add_preset_flag(parser)
    args = parser.parse_args(list(argv))
    return args.command, args.preset


# --- shared set-up -------------------------------------------------------------------


def load_settings_reporting() -> Settings:
    from desktop_app.core.settings import load_settings

    result = load_settings()
    for warning in result.warnings:
        err(warning)
    return result.settings


def profile_from_args(args: argparse.Namespace, settings: Settings) -> Profile:
    from dataclasses import replace

    from desktop_app.core.settings import resolve_profile

    profile = resolve_profile(
        settings,
        args.profile or os.environ.get("SCREENSCRIBE_PROFILE") or None,
        endpoint=args.endpoint,
        model=args.model,
    )
    sampling = profile.sampling
    if getattr(args, "max_tokens", None) is not None:
        if args.max_tokens < 1:
            raise _usage("--max-tokens must be at least 1.")
        sampling = replace(sampling, max_tokens=args.max_tokens)
    if getattr(args, "temperature", None) is not None:
        if not 0 <= args.temperature <= 2:
            raise _usage("--temperature must be between 0 and 2.")
        sampling = replace(sampling, temperature=args.temperature)
    profile = replace(profile, sampling=sampling)
    if getattr(args, "max_image_tokens", None) is not None:
        if args.max_image_tokens < profile.min_image_tokens:
            raise _usage(f"--max-image-tokens must be at least {profile.min_image_tokens}.")
        profile = replace(profile, max_image_tokens=args.max_image_tokens)
    return profile


def _usage(message: str) -> Exception:
    from desktop_app.core.errors import UsageError

    return UsageError(message)


def make_client(profile: Profile, *, quiet: bool = False) -> Any:
    from desktop_app.core.endpoint import EndpointClient
    from desktop_app.core.secrets import get_api_key

    key = get_api_key(profile.name)
    if key and not quiet:
        _warn_plain_http(profile.base_url)
    return EndpointClient(
        profile.base_url,
        key,
        connect_timeout=profile.connect_timeout,
        idle_timeout=profile.idle_timeout,
    )


def _warn_plain_http(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host in {"localhost", "::1"} or host.startswith("127.")
    if parts.scheme == "http" and not loopback:
        err(
            f"warning: the API key goes to {host} over plain http; anyone on the network "
            "can read it. Use https if the server offers it."
        )


def open_history(settings: Settings, args: argparse.Namespace) -> History | None:
    if getattr(args, "no_history", False) or not settings.history_enabled:
        return None
    from desktop_app.core.history import History
    from desktop_app.core.settings import data_dir

    history, warning = History.open_or_recover(
        data_dir() / "history.sqlite3",
        max_entries=settings.history_max_entries,
        max_age_days=settings.history_max_days,
    )
    if warning:
        err(warning)
    return history


# --- ocr / ask -----------------------------------------------------------------------


def _expand_inputs(items: Sequence[str]) -> list[str]:
    """Files as given, folders searched for images (sorted), ``-`` for stdin."""
    from desktop_app.core.errors import UsageError

    out: list[str] = []
    for item in items:
        if item == "-":
            out.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not found:
                raise UsageError(f"No images in folder {item}.")
            out.extend(found)
        else:
            out.append(item)
    if out.count("-") > 1:
        raise UsageError("Standard input (-) can be read only once.")
    return out


def _cmd_ocr(args: argparse.Namespace) -> int:
    from desktop_app.core.prompts import OCR

    if args.concurrency < 1:
        raise _usage("--concurrency must be at least 1.")
    if args.resume and not args.output:
        raise _usage("--resume needs --output FILE, the file to resume from.")
    from desktop_app.batch import run_batch

    return run_batch(args, _expand_inputs(args.images), args.prompt or OCR.prompt, mode="ocr")


def _cmd_ask(args: argparse.Namespace) -> int:
    if not args.question.strip():
        raise _usage("The question is empty.")
    prompt = args.question.strip()
    if args.prompt:
        prompt = f"{args.prompt.strip()}\n\n{prompt}"
    args.concurrency, args.output, args.resume = 1, None, False
    from desktop_app.batch import run_batch

    return run_batch(args, [args.image], prompt, mode="ask")


# --- models, doctor, key -------------------------------------------------------------


def _cmd_models(args: argparse.Namespace) -> int:
    import json

    settings = load_settings_reporting()
    profile = profile_from_args(args, settings)
    with make_client(profile) as client:
        models = client.list_models()
    if args.json:
        print(json.dumps(models))
    else:
        for m in models:
            print(f"{'*' if m == profile.model else ' '} {m}")
        if profile.model not in models:
            err(f"note: the profile's model {profile.model!r} is not among them.")
    return EXIT_OK


def _cmd_key(args: argparse.Namespace) -> int:
    import getpass

    from desktop_app.core import secrets

    settings = load_settings_reporting()
    name = args.profile or settings.default_profile
    if name not in settings.profiles:
        from desktop_app.core.settings import resolve_profile

        resolve_profile(settings, name)  # raises the ConfigError that lists the profiles
    if args.action == "status":
        source = secrets.key_source(name)
        where = {"environment": "from $SCREENSCRIBE_API_KEY", "keyring": "in the keyring"}
        print(
            f"{name}: {'key ' + where[source] if source else 'no key'} "
            f"(keyring: {secrets.backend_description()})"
        )
        return EXIT_OK
    if args.action == "delete":
        removed = secrets.delete_api_key(name)
        print(f"{name}: key removed from the keyring" if removed else f"{name}: no key stored")
        return EXIT_OK
    if sys.stdin.isatty():
        key = getpass.getpass(f"API key for {name} (not shown): ")
    else:
        key = sys.stdin.readline()
    secrets.set_api_key(name, key.strip())
    print(f"{name}: key stored in {secrets.backend_description()}")
    return EXIT_OK


def _cmd_doctor(args: argparse.Namespace) -> int:
    from desktop_app.doctor import run_doctor

    return run_doctor(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

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
    from desktop_app.core.history import History, HistoryEntry
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
    key.add_argument(
        "--check",
        action="store_true",
        help="with status: print nothing, exit 0 when the profile has a key and 1 when not",
    )

    history = sub.add_parser(
        "history",
        help="list past requests and their answers",
        description="List past requests, newest first: time, preset, status when not "
        "complete, model, tokens in/out and the answer's first line.",
    )
    history.add_argument(
        "--search",
        metavar="TEXT",
        help="only entries whose prompt or answer holds every word (the last one as a "
        "prefix), best match first",
    )
    history.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N entries (default 20)"
    )
    history.add_argument(
        "--json", action="store_true", help="print a JSON array with every field of each entry"
    )

    config = sub.add_parser(
        "config",
        help="show or change the settings file",
        description="Show or change the settings file. KEY is dotted as in the file: "
        "default_profile, general.theme, history.max_days, profiles.vllm.model, "
        "presets.ocr.profile.",
    )
    actions = config.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    actions.add_parser("show", help="print every setting in effect, defaults included, as TOML")
    actions.add_parser("path", help="print where the settings file is")
    config_set = actions.add_parser(
        "set",
        help="set KEY to VALUE; several pairs are checked and saved together",
        description="Set KEY to VALUE. VALUE is read as TOML when it is a TOML value (30, "
        'true, 0.2, "text", false to unset an optional number), else as text. A new '
        "profile needs base_url and model in the same command.",
        usage="screenscribe config set [-h] KEY VALUE [KEY VALUE ...]",
    )
    config_set.add_argument("pairs", nargs="+", metavar="KEY VALUE")
    config_unset = actions.add_parser(
        "unset",
        help="remove KEY from the file, so its default applies again",
        description="Remove each KEY from the settings file, so its default applies again. "
        "A whole profile or preset (profiles.mybox) is removed, or a built-in one reset.",
    )
    config_unset.add_argument("keys", nargs="+", metavar="KEY")
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
            "history": _cmd_history,
            "config": _cmd_config,
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
    from desktop_app.gui_start import start_gui

    return start_gui(command, one_shot=one_shot)


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
    if result.settings.keyring == "file":  # chosen in the settings dialog, with a warning
        from desktop_app.core.errors import ScreenScribeError
        from desktop_app.core.secrets import use_keyring

        try:
            use_keyring("file")
        except ScreenScribeError as exc:
            err(str(exc))
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


def make_client(profile: Profile, *, quiet: bool = False, max_connections: int = 32) -> Any:
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
        max_connections=max_connections,
    )


def _warn_plain_http(url: str) -> None:
    from desktop_app.core.connection import insecure_key_warning

    warning = insecure_key_warning(url, has_key=True)
    if warning:
        err(f"warning: {warning}")


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
        if args.check:
            return EXIT_OK if source else 1
        where = {
            "environment": "from $SCREENSCRIBE_API_KEY",
            "session": "kept for this session",
            "keyring": "in the keyring",
        }
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


# --- history, config ------------------------------------------------------------------

HISTORY_WIDTH = 100
# Bidirectional overrides and isolates: they would reorder the rest of a terminal line.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _cmd_history(args: argparse.Namespace) -> int:
    import json

    from desktop_app.core.settings import data_dir

    if args.limit < 1:
        raise _usage("--limit must be at least 1.")
    settings = load_settings_reporting()
    path = data_dir() / "history.sqlite3"
    history = None
    if not settings.history_enabled:
        err(
            "The history is turned off in the settings (history.enabled = false); "
            "turn it on with `screenscribe config set history.enabled true`."
        )
    elif not path.exists():
        err(f"No history yet: {path} does not exist.")
    else:
        history = open_history(settings, args)
    entries: list[HistoryEntry] = []
    if history is not None:
        with history:
            if args.search is not None:
                entries = history.search(args.search, args.limit)
            else:
                entries = history.recent(args.limit)
        if not entries:
            err(f"No entry matches {args.search!r}." if args.search else "The history is empty.")
    if args.json:
        print(json.dumps([_history_record(e) for e in entries], indent=2))
    else:
        for entry in entries:
            print(_history_line(entry))
    return EXIT_OK


def _history_record(entry: HistoryEntry) -> dict[str, object]:
    """Every field but the thumbnail's bytes; created_at also as local ISO 8601."""
    from dataclasses import fields
    from datetime import datetime

    record: dict[str, object] = {}
    for f in fields(entry):
        if f.name == "thumbnail":
            continue
        record[f.name] = getattr(entry, f.name)
        if f.name == "created_at":
            when = datetime.fromtimestamp(entry.created_at).astimezone()
            record["created_at_iso"] = when.isoformat(timespec="seconds")
    return record


def _history_line(entry: HistoryEntry, width: int = HISTORY_WIDTH) -> str:
    """One entry in about ``width`` columns: time, preset, status when not complete,
    model, tokens in/out when known, and the answer's first line (else the error's)."""
    import time

    parts = [
        time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at)),
        _one_line(entry.mode).ljust(8),
    ]
    if entry.status != "complete":
        parts.append(f"[{entry.status}]")
    parts.append(_one_line(entry.model))
    if entry.prompt_tokens is not None or entry.completion_tokens is not None:
        tokens_in = "?" if entry.prompt_tokens is None else str(entry.prompt_tokens)
        tokens_out = "?" if entry.completion_tokens is None else str(entry.completion_tokens)
        parts.append(f"{tokens_in}/{tokens_out} tok")
    prefix = "  ".join(parts)
    text = _first_line(entry.answer) or _first_line(entry.error or "")
    if not text:
        return prefix
    return f"{prefix}  {_fit(text, max(20, width - _width(prefix) - 2))}"


def _one_line(text: str) -> str:
    """``text`` safe on one terminal line: control characters (escape sequences, line
    breaks, bidirectional overrides) become spaces, runs of spaces one."""
    import unicodedata

    return " ".join(
        "".join(
            " " if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS else c for c in text
        ).split()
    )


def _first_line(text: str) -> str:
    """The first line of ``text`` that has something on it, made safe by _one_line."""
    for line in text.splitlines():
        if cleaned := _one_line(line):
            return cleaned
    return ""


def _char_width(c: str) -> int:
    import unicodedata

    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


def _width(text: str) -> int:
    return sum(_char_width(c) for c in text)


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns, ending in an ellipsis when cut."""
    if _width(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        w = _char_width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out).rstrip() + "\u2026"


def _cmd_config(args: argparse.Namespace) -> int:
    from desktop_app.core import config_edit
    from desktop_app.core.settings import _to_document, save_settings, settings_path

    path = settings_path()
    if args.config_action == "path":
        print(path)
        if not path.exists():
            err("note: the file does not exist yet, so every setting has its default.")
        return EXIT_OK
    settings = load_settings_reporting()
    if args.config_action == "show":
        import tomli_w

        print(tomli_w.dumps(_to_document(settings, full=True)), end="")
        return EXIT_OK
    if args.config_action == "set":
        if len(args.pairs) % 2:
            raise _usage(f"config set takes KEY VALUE pairs; {args.pairs[-1]!r} has no value.")
        pairs = list(zip(args.pairs[::2], args.pairs[1::2], strict=True))
        changed = config_edit.set_values(settings, pairs)
        keys = [key for key, _ in pairs]
    else:
        keys = args.keys
        for key in keys:
            if not config_edit.is_set(settings, key):
                err(f"{key} is not set in {path}; it already has its default.")
        changed = config_edit.unset_values(settings, keys)
    if _to_document(changed) != _to_document(settings):
        save_settings(changed, path)
    for key in keys:
        print(
            _config_line(
                key, config_edit.get_value(changed, key), unset=args.config_action == "unset"
            )
        )
    return EXIT_OK


def _config_line(key: str, value: object, *, unset: bool) -> str:
    """What ``key`` is now: ``key = value`` as TOML writes it, or what became of a table."""
    if isinstance(value, dict):
        return f"{key}: back to the defaults"
    if value is None:
        from desktop_app.core.config_edit import parse_key

        parts = parse_key(key, table=True)
        if len(parts) == 2 and parts[0] in ("profiles", "presets"):
            return f"{key}: removed"
        return f"{key} = false  # not set"
    import tomli_w

    text = tomli_w.dumps({"v": value}).partition("= ")[2].rstrip()
    return f"{key} = {text}" + ("  # the default" if unset else "")


def _cmd_doctor(args: argparse.Namespace) -> int:
    from desktop_app.doctor import run_doctor

    return run_doctor(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

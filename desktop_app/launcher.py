"""The ``screenscribe`` command's entry point.

``screenscribe capture`` bound to an OS shortcut must open the overlay of a running app
in tens of milliseconds, so commands the app takes are handed over before anything else
is imported (see ``instance``); everything else goes to the full CLI.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:  # the tray app: no argument parser kept alive for its whole life
        from desktop_app.gui_start import start_gui

        return start_gui()
    if args and args[0] in ("capture", "clipboard") and not {"-h", "--help"} & set(args):
        from desktop_app.instance import ForwardError, forward

        try:
            if forward(args):
                return 0
        except ForwardError as exc:
            print(f"screenscribe: {exc}", file=sys.stderr)
            return 2
    from desktop_app.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

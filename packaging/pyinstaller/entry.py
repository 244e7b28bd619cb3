"""The frozen bundle's entry point: the ``screenscribe`` command, as the console script.

A frozen app has no Python interpreter to run child processes with: ``sys.executable``
is this bundle's binary. Two kinds of child start it again with interpreter arguments:

* ``multiprocessing`` (the offline OCR worker, spawn context) and its resource tracker:
  ``screenscribe --multiprocessing-fork ...`` and ``screenscribe -B -s -c "from
  multiprocessing.resource_tracker import main..."``. PyInstaller's runtime hook makes
  ``freeze_support()`` recognise both on every OS (CPython's does so only on Windows).
* ``screenscribe doctor`` probes Qt in a child ``[sys.executable, "-c", CODE]`` and the
  start-at-login entry falls back to ``[sys.executable, "-m", "desktop_app"]``: both are
  served here, so the bundle answers them as an interpreter would.

Nothing else is imported before ``desktop_app.launcher``: ``screenscribe capture``
forwarded to a running app stays standard-library only.
"""

import sys


def _interpreter_arguments(argv: list[str]) -> int | None:
    """Serves ``-c CODE`` and ``-m desktop_app``; None when ``argv`` is neither."""
    if len(argv) >= 3 and argv[1] == "-c":
        code = argv[2]
        sys.argv = ["-c", *argv[3:]]
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
        return 0
    if len(argv) >= 3 and argv[1] == "-m" and argv[2] == "desktop_app":
        del argv[1:3]
    return None


def run() -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # a worker or helper process: runs it and exits
    handled = _interpreter_arguments(sys.argv)
    if handled is not None:
        return handled
    from desktop_app.launcher import main

    return main()


if __name__ == "__main__":
    sys.exit(run())

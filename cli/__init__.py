"""The `llm-advisor` command line: parses arguments, calls the engine, prints."""

import atexit
import gc
import os
import signal
import sys
import threading
from typing import NoReturn


def run() -> None:
    """The console script: Ctrl-C is handled before the command line's modules load, the cyclic
    garbage collector waits until they have (see `started`), and the process ends without the
    interpreter's teardown (see `_exit`)."""
    global _paused
    gc.disable()
    _paused = True
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)
    from llm_advisor.cli.main import main

    try:
        main()
    except SystemExit as done:
        _exit(done)  # click's main always ends with SystemExit


_paused = False
"""Whether `run` holds the garbage collector off until the command's start-up ends."""


def started() -> None:
    """The command's modules are loaded: from here on the cyclic garbage collector runs as usual.

    Loading them makes tens of thousands of objects (modules, classes, functions) and next to no
    garbage, so the collector's passes over them while `run` holds it off (about 5 ms of a cold
    command) would find nothing. They live until exit, so they are frozen out of its later
    passes too. Commands in `main.ENDS_OWN_START_UP` call this themselves, later or never.
    Without `run` (the command line called in-process) nothing changes.
    """
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def _exit(done: SystemExit) -> NoReturn:
    """End the process without the interpreter's teardown, which frees every module and object
    one by one (about 12 ms of a cold command) only for the operating system to reclaim them.

    Exit handlers still run and the output is flushed first. While another thread runs, or when
    the output cannot be flushed, this is an ordinary exit, so nothing is lost or left running.
    """
    code = done.code
    if not (code is None or isinstance(code, int)) or threading.active_count() > 1:
        raise done
    atexit._run_exitfuncs()  # it also clears them: an ordinary exit below does not run them twice
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: the process was started with that stream closed
                stream.flush()
    except (OSError, ValueError):  # ValueError: closed by the command
        raise done from None
    os._exit(code or 0)


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C while modules load: one line and exit 130, no traceback."""
    os.write(2, b"Interrupted.\n")
    os._exit(130)

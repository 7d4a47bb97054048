"""The `llm-advisor` command line: parses arguments, calls the engine, prints."""

import os
import signal


def run() -> None:
    """The console script: Ctrl-C is handled before the command line's modules load."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)
    from llm_advisor.cli.main import main

    main()


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C while modules load: one line and exit 130, no traceback."""
    os.write(2, b"Interrupted.\n")
    os._exit(130)

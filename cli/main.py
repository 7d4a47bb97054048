"""Entry point: a click group whose commands are imported only when used."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import Any

import click

from llm_advisor.cli import _interrupted, started
from llm_advisor.engine.errors import AdvisorError, InputError, LocatedInputError

COMMANDS = {
    "consult": "llm_advisor.cli.consult:consult",
    "recommend": "llm_advisor.cli.recommend:recommend",
    "explain": "llm_advisor.cli.explain:explain",
    "diagram": "llm_advisor.cli.diagram:diagram",
    "batch": "llm_advisor.cli.batch:batch",
    "rules": "llm_advisor.cli.rules:rules",
    "audit": "llm_advisor.cli.audit:audit",
}

ENDS_OWN_START_UP = {"recommend", "consult"}
"""Commands that end their start-up themselves (see `started`): `consult` when it first waits for
an answer, `recommend` never (its whole run is one bounded case, which makes next to no garbage
either); every other command's start-up ends once its module is loaded."""


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        found = super().resolve_command(ctx, args)
        if found[0] not in ENDS_OWN_START_UP:
            started()  # the command's module is loaded
        return found

    def _load(self, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[name].partition(":")
        try:
            command = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as err:
            if err.name == module:
                return None  # not built yet
            raise
        assert isinstance(command, click.Command)
        return command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as err:
            raise usage_failure(err) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # before click turns it into "Aborted!" with exit 1
            click.echo("\nInterrupted.", err=True)
            raise click.exceptions.Exit(130) from None
        except InputError as err:
            raise UsageFailure(input_message(err)) from None
        except AdvisorError as err:
            raise Failure(str(err)) from None
        except click.UsageError as err:
            raise usage_failure(err) from None
        except (
            click.ClickException,
            click.exceptions.Exit,
            click.exceptions.Abort,
            BrokenPipeError,
        ):
            raise
        except OSError as err:
            raise Failure(f"{err.filename or 'I/O'}: {err.strerror or err}") from None
        except Exception as err:  # a bug: still one line, never a traceback
            raise Failure(f"internal error: {type(err).__name__}: {err}") from None


def input_message(err: InputError) -> str:
    """Bad input as shown: an item read from a file says first where it is (`file:line:`)."""
    if isinstance(err, LocatedInputError):
        return f"{err.file}:{err.line}: {err}"
    return str(err)


def one_line(text: str) -> str:
    """A message as one line: line breaks, other control characters and unpaired surrogates
    (from file names that are not UTF-8) written as escapes, so no name can break it."""
    import unicodedata  # only when a message is shown

    return "".join(
        ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        if ch != " " and (not ch.isprintable() or unicodedata.category(ch) == "Cs")
        else ch
        for ch in text.strip()
    )


class Failure(click.ClickException):
    """An error printed as one line, exit code 1."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class UsageFailure(Failure):
    """Bad input: printed as one line, exit code 2."""

    exit_code = 2


def usage_failure(err: click.UsageError) -> click.ClickException:
    """Click's usage errors as one line too, pointing to the command's help (a group given no
    command still shows its help)."""
    if isinstance(err, click.exceptions.NoArgsIsHelpError):
        return err
    where = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
    return UsageFailure(err.format_message() + where)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llm-advisor")
def cli() -> None:
    """Tell a team how to adapt a large language model to its use case.

    Prompt engineering, RAG, fine-tuning, training from scratch, or a combination: declarative
    rules weigh your facts, a Rete engine (durable_rules) fires them, and every recommendation
    comes with its reasons.
    """


def main() -> None:
    if signal.getsignal(signal.SIGINT) is _interrupted:  # now a KeyboardInterrupt, handled below
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli.main(prog_name="llm-advisor")
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)

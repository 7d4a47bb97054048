"""Every command's help, as a terminal of 80 columns shows it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from llm_advisor.cli.main import cli


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command below `group`, groups included (loaded as on the command
    line: the groups load their commands lazily)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


@pytest.mark.parametrize("path", list(commands(cli)), ids=" ".join)
def test_help_fits_80_columns_and_keeps_options_whole(path: tuple[str, ...]) -> None:
    """No line runs past the terminal, and no option is broken at its hyphen (`--public-` /
    `key`), which a reader would copy wrong."""
    # click wraps at two columns less than the terminal's; a width given to it is used as is
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=78)
    assert result.exit_code == 0, result.output
    for line in result.output.splitlines():
        assert len(line) <= 80, line
        assert not re.search(r"(^|\s)--?[a-z]+(-[a-z]+)*-$", line), line


@pytest.mark.parametrize("path", list(commands(cli)), ids=" ".join)
def test_help_speaks_the_users_language(path: tuple[str, ...]) -> None:
    """Help names no exception class or Python identifier of the implementation (`AuditError`,
    `record_result`): a user cannot act on them."""
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert not re.search(r"\b[A-Z][a-z]+Error\b|\b[a-z]+_[a-z_]+\(", result.output), result.output

"""The cron lines and systemd ExecStart lines README.md gives for verify, renew and backup: each
has five valid time fields (cron) and a provisioner command line that the CLI itself accepts.
cron and systemd do not run here; what they would run is parsed by Click, as a run would."""

from __future__ import annotations

import re
import shlex

import click
import pytest

from provisioner.cli import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
CRON = re.compile(r"^\s*`?((?:\S+\s+){5})root\s+(?:cd \S+ && )?\S*/?\.venv/bin/provisioner\s+(.+?)`?\.?$", re.M)
EXEC = re.compile(r"ExecStart=\S+/\.venv/bin/provisioner\s+([^`\n]+)")
FIELD = re.compile(r"^(\*|\d+)(?:-\d+)?(?:/\d+)?(?:,\d+)*$")
LIMITS = (59, 23, 31, 12, 7)


def _arguments(command: str) -> list[str]:
    """The command's own arguments: what comes before any shell redirection."""
    words = shlex.split(command)
    cut = next((i for i, w in enumerate(words) if w[:1] in "<>" or re.match(r"^\d?>", w)), len(words))
    return words[:cut]


def _parse(arguments: list[str]) -> str:
    """Parse the subcommand's arguments as the CLI would, without running it; its name."""
    name, *rest = arguments
    with click.Context(cli, info_name="provisioner") as ctx:
        sub = cli.get_command(ctx, name)
        assert sub is not None, name
        sub.make_context(name, rest, parent=ctx)
    return name


CRON_LINES = CRON.findall(README)
EXEC_LINES = EXEC.findall(README)


def test_readme_gives_schedules_for_verify_renew_and_backup() -> None:
    commands = {_arguments(c)[0] for _, c in CRON_LINES} | {_arguments(c)[0] for c in EXEC_LINES}
    assert {"verify", "renew", "backup"} <= commands, commands


@pytest.mark.parametrize(("times", "command"), CRON_LINES)
def test_each_cron_line_has_valid_times_and_a_command_the_cli_accepts(times: str, command: str) -> None:
    fields = times.split()
    assert len(fields) == 5
    for field, limit in zip(fields, LIMITS, strict=True):
        assert FIELD.match(field), field
        assert all(int(n) <= limit for n in re.findall(r"\d+", field.split("/")[0])), field
    assert _parse(_arguments(command)) in {"verify", "renew", "backup"}


@pytest.mark.parametrize("command", EXEC_LINES)
def test_each_exec_start_is_a_command_the_cli_accepts(command: str) -> None:
    assert _parse(_arguments(command)) in {"verify", "renew", "backup"}


def test_a_wrong_option_would_be_caught() -> None:
    with pytest.raises(click.UsageError):
        _parse(["renew", "-i", "inventories/production", "--dayz", "3"])

"""What ``--help`` says: one wording per option shared by several commands, every filter
repeatable and a glob, each option's own constraint named by the message that enforces it, and
no help text speaking of what a command does not do."""

from __future__ import annotations

from collections import defaultdict

import click
import pytest
from click.testing import CliRunner

from nifti2parquet.commands.cli import main
from nifti2parquet.common.selection import FILTERS


def options_by_flag() -> dict[str, dict[str, click.Option]]:
    """Each long flag, and the option that declares it in each command."""
    found: dict[str, dict[str, click.Option]] = defaultdict(dict)
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                found[param.opts[0]][name] = param
    return dict(found)


SHARED = {flag: by for flag, by in options_by_flag().items() if len(by) > 1}


def test_options_are_shared_by_several_commands() -> None:
    assert {"--split", "--revision", "--threads", "--token", "--subject", "--json"} <= set(SHARED)
    assert len(SHARED) >= 20


@pytest.mark.parametrize("flag", sorted(SHARED))
def test_a_shared_option_has_one_help_text(flag: str) -> None:
    texts = {command: option.help for command, option in SHARED[flag].items()}
    assert len(set(texts.values())) == 1, texts
    metavars = {o.metavar for o in SHARED[flag].values()}
    assert len(metavars) == 1, metavars


@pytest.mark.parametrize("flag", [f.flag for f in FILTERS])
def test_every_filter_says_repeatable_and_globs(flag: str) -> None:
    by_command = options_by_flag()[flag]
    assert set(by_command) == {"build", "inspect", "verify", "export"}
    for command, option in by_command.items():
        assert option.multiple, command
        assert "repeatable" in option.help and "glob" in option.help, (command, option.help)


def help_of(*command: str) -> str:
    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0
    return " ".join(result.output.split())


def test_no_help_speaks_of_what_its_command_does_not_do() -> None:
    assert "published" not in help_of("verify")  # verify publishes nothing
    assert "OUTPUT" not in help_of("inspect")  # inspect has no output folder
    assert "Only these subjects." not in help_of("export")


def test_the_demo_shows_where_it_writes() -> None:
    text = help_of("demo")
    assert "[OUTPUT_DIR=nifti2parquet-demo]" in text and "default: ./nifti2parquet-demo" in text


# each refused value: the message names that option, and only that one
BAD_VALUES = [
    (["build", "src", "out", "--max-shard-size", "0"], "--max-shard-size", "more than 0"),
    (["build", "src", "out", "--row-group-size", "0"], "--row-group-size", "more than 0"),
    (["build", "src", "out", "--row-group-size", "2GiB"], "--row-group-size", "at most 1GiB"),
    (["inspect", "src", "--max-shard-size", "0"], "--max-shard-size", "more than 0"),
    (["build", "src", "out", "--split", "a/b"], "--split", "letters, digits"),
    (["build", "src", "out", "--part", "3/2"], "--part", "I must be between"),
    (["build", "src", "out", "--max-shard-size", "lots"], "--max-shard-size", "not a byte size"),
    (["verify", "out", "--threads", "0"], "--threads", "x>=1"),
    (["export", "out", "dest", "--threads", "0"], "--threads", "x>=1"),
    (["push", "out", "u/r", "--files-per-commit", "0"], "--files-per-commit", "x>=1"),
]
FLAGS = {"--max-shard-size", "--row-group-size", "--split", "--part", "--threads"}


@pytest.mark.parametrize("args,flag,constraint", BAD_VALUES, ids=lambda v: str(v))
def test_each_bad_value_names_its_own_option(
    args: list[str], flag: str, constraint: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("help")
    args = [str(folder / a) if a in ("src", "out", "dest") else a for a in args]
    (folder / "src").mkdir()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    message = result.output + (result.stderr if result.stderr_bytes else "")
    assert flag in message and constraint in message, message
    assert not [other for other in FLAGS - {flag} if other in message], message
    assert sorted(p.name for p in folder.iterdir()) == ["src"]  # nothing created

"""The README, CI script and docs stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from nifti2parquet.commands.cli import main

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    """The set-up commands: the lines of the README's "Set up" section that create a venv."""
    section = ROOT.joinpath("README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("python3 -m venv")]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    demo, tests = readme_commands()
    assert demo.endswith("nifti2parquet demo")
    assert tests.endswith("pytest")
    ci = ROOT.joinpath(".ci", "run").read_text()
    assert tests in ci.splitlines()


def all_options() -> list[tuple[str, str]]:
    found = []
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                found += [(name, opt) for opt in param.opts if opt.startswith("--")]
    return found


@pytest.mark.parametrize("command,option", all_options())
def test_every_cli_option_is_in_the_reference(command: str, option: str) -> None:
    reference = ROOT.joinpath("docs", "reference", "cli.md").read_text()
    section = reference.split(f"## `nifti2parquet {command}", 1)
    assert len(section) == 2, f"docs/reference/cli.md has no section for {command}"
    body = section[1].split("\n## ", 1)[0]
    assert f"`{option}" in body, f"{command} {option} is not documented"


def test_every_command_is_in_the_reference() -> None:
    reference = ROOT.joinpath("docs", "reference", "cli.md").read_text()
    for name in main.commands:
        assert f"## `nifti2parquet {name}" in reference


@pytest.mark.parametrize(
    "page",
    sorted(
        str(p.relative_to(ROOT)) for p in [ROOT / "README.md", *ROOT.joinpath("docs").rglob("*.md")]
    ),
)
def test_links_resolve(page: str) -> None:
    path = ROOT / page
    for target in re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", path.read_text()):
        if target.startswith("http"):
            continue
        assert (path.parent / target).resolve().exists(), f"{page} links to missing {target}"


def test_the_design_page_lists_every_module() -> None:
    """docs/explanation/design.md has a row for every module of the package."""
    import nifti2parquet

    package = Path(nifti2parquet.__file__).parent
    page = ROOT.joinpath("docs", "explanation", "design.md").read_text()
    modules = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if p.name != "__init__.py" or p.read_text().strip()
    ]
    assert len(modules) > 80
    assert [m for m in modules if f"| `{m}` |" not in page] == []


def test_the_tutorials_show_what_the_commands_print() -> None:
    """docs/tools/tutorials.py runs every tutorial and compares each output block with the page
    (durations masked): a change that changes what a command prints regenerates the pages."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "tools" / "tutorials.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]

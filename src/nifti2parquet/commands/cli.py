"""The ``nifti2parquet`` command line: a thin click layer over the Python API.

Each command parses its options into the API's dataclasses, calls one function, and prints the
result: a one-line summary (or ``--json``), warnings on stderr. A user error prints one clear line
naming the file and the problem and exits non-zero; never a traceback.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..common.errors import N2PError, OptionError, Problem
from ..common.file_groups import LeftOutLists, problem_lines
from ..common.startup import (
    keep_numpy_out,
    keep_pandas_out,
    one_blas_thread,
    pyarrow_without_numpy,
)
from .cli_options import (
    card_details,
    card_options,
    checksum_option,
    exclude_dicom_tags_option,
    json_option,
    on_error_option,
    plan_options,
    privacy_options,
    quiet_option,
    revision_option,
    selection_from,
    selection_options,
    source_options,
    source_options_from,
    split_option,
    threads_option,
    token_option,
)

if TYPE_CHECKING:
    from ..preflight.privacy_record import PrivacyRecord

DEBUG_ENV = "NIFTI2PARQUET_DEBUG"
DEMO_FOLDER = "nifti2parquet-demo"


def _part(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``I/N`` → (I, N) as given; the base is applied with --part-base."""
    if value is None:
        return None
    try:
        index, count = (int(x) for x in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: write I/N, e.g. 0/8") from None
    if count < 1:
        raise click.BadParameter(f"{value!r}: N must be at least 1")
    return index, count


def _quiet_hub_logs() -> None:
    """huggingface_hub logs each of its own retries ("Retrying in 8s [Retry 5/5]"); the command
    says once what failed, and its own retries are reported as notes."""
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()


def _print_problems(
    problems: tuple[Problem, ...] | list[Problem], label: str, shown: int = 10
) -> None:
    """One line per problem; past ``shown`` problems with the same message (an MSD archive's
    hundreds of ``._`` files), one line counting the rest (``--json`` lists every one)."""
    for line in problem_lines(problems, label, shown):
        click.echo(line, err=True)


def _run(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors into one clear message and an exit code; no tracebacks for user errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except N2PError as exc:
            _print_error(exc)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except KeyboardInterrupt:
            click.echo(
                "interrupted; run the same command again to continue where it stopped", err=True
            )
            sys.exit(130)
        except Exception as exc:  # an unexpected failure is a bug: say so, briefly
            if os.environ.get(DEBUG_ENV):
                raise
            click.echo(
                f"error: internal error {type(exc).__name__}: {exc} (please report it; "
                f"set {DEBUG_ENV}=1 to see the traceback)",
                err=True,
            )
            sys.exit(3)

    return wrapper


def _quiet_broken_pipe() -> None:
    """The reader of stdout went away (``| head``): end quietly, as Unix tools do. stdout is
    pointed at /dev/null so that Python's own flush at exit has nowhere to fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a tool ended by a closed pipe


def _print_error(exc: N2PError) -> None:
    if len(exc.problems) == 1 and exc.message.endswith(":"):
        click.echo(f"error: {exc.problems[0]} — {exc.message.rstrip(':')}", err=True)
        return
    click.echo(f"error: {exc.message}", err=True)
    for problem in exc.problems:
        click.echo(f"  {problem}", err=True)


def _print_privacy(record: PrivacyRecord | None) -> None:
    """The privacy scan's findings (values masked) on stderr."""
    from ..preflight.privacy_record import record_lines

    if record:
        for line in record_lines(record)[1:]:
            click.echo(
                line.strip() if line.startswith("privacy") else f"privacy: {line.strip()}", err=True
            )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nifti2parquet")
def main() -> None:
    """Publish NIfTI / BIDS datasets as Hugging Face Parquet datasets."""
    # verify reads image-sized batches one after another; pyarrow's pooling allocator keeps the
    # freed ones and peak memory creeps up. The C allocator gives them back. pyarrow reads this
    # when it loads, which is after this point (commands import it lazily).
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


@main.command()
@click.argument("source")
@click.argument("output_dir")
@source_options
@plan_options
@click.option(
    "--workers",
    type=int,
    default=0,
    help="Processes writing shards in parallel. Default: one per two CPU cores.",
)
@click.option(
    "--part",
    callback=_part,
    metavar="I/N",
    help="Build only part I of N (array jobs); then run once more with --finalize.",
)
@click.option(
    "--part-base",
    type=click.Choice(["0", "1"]),
    default="0",
    show_default=True,
    help="Whether --part counts from 0 (I in 0..N-1) or from 1 (I in 1..N).",
)
@click.option(
    "--plan-only",
    is_flag=True,
    help="Read, check and plan, save the plan for the --part runs (they then skip the source "
    "reading), write no shard.",
)
@click.option(
    "--finalize",
    is_flag=True,
    help="After all --part runs: check every shard is there, write manifest and card.",
)
@on_error_option
@click.option(
    "--check",
    type=click.Choice(["cheap", "deep"]),
    default="cheap",
    show_default=True,
    help="deep: also decompress and decode every image first.",
)
@click.option("--license", default="", help="License for the card (e.g. cc-by-4.0).")
@click.option("--repo-id", default=None, help="Hub repo id to show in the card's snippets.")
@card_options
@quiet_option
@json_option
@privacy_options
@checksum_option
@exclude_dicom_tags_option
@click.option(
    "--blank-nifti-headers",
    is_flag=True,
    help="Store the images with their header text fields (descrip, aux_file, intent_name, "
    "db_name) blanked and header extensions dropped; the sources are not changed.",
)
@_run
def build(source: str, output_dir: str, **kw: Any) -> None:
    """Build SOURCE (a table of files or a BIDS folder) into OUTPUT_DIR."""
    if kw["no_previews"] and _is_the_program():
        pyarrow_without_numpy()  # before pyarrow loads: without previews no array is converted
    from ..common.progress import ConsoleReporter
    from .build import BuildOptions
    from .build import build as run_build

    part = kw["part"]
    if part:
        base = int(kw["part_base"])
        if not base <= part[0] < part[1] + base:
            raise OptionError(
                f"--part {part[0]}/{part[1]}: I must be between {base} and {part[1] - 1 + base}"
                f" (--part-base {base})"
            )
        part = (part[0] - base, part[1])
    options = BuildOptions(
        source=source_options_from(kw),
        split=kw["split"],
        max_shard_size=kw["max_shard_size"],
        row_group_size=kw["row_group_size"],
        workers=kw["workers"],
        part=part,
        finalize=kw["finalize"],
        plan_only=kw["plan_only"],
        on_error=kw["on_error"],
        check=kw["check"],
        repo_id=kw["repo_id"],
        card=card_details(kw),
        previews=not kw["no_previews"],
        blank_nifti_headers=kw["blank_nifti_headers"],
        exclude_dicom_tags=kw["exclude_dicom_tags"],
        privacy_rules=kw["privacy_rules"],
        known_identifiers=kw["known_identifiers"],
        checksum=kw["checksum"],
    )
    result = run_build(source, output_dir, options, ConsoleReporter(kw["quiet"]))
    _print_problems(result.warnings, "warning")
    selection = " ".join(options.source.selection.flags())  # each list grouped by folder:
    for line in LeftOutLists.of(result.left_out).terminal_lines(selection, options.source.exclude):
        click.echo(line, err=True)
    _print_privacy(result.privacy)
    if kw["as_json"]:
        click.echo(json.dumps(result.to_dict(), indent=1))
    else:
        click.echo(result.summary())


@main.command()
@click.argument("output_dir")
@click.option("--deep", is_flag=True, help="Also decode every image (and download every Hub file).")
@click.option(
    "--source",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[SOURCE]",
    help="Compare with the source: every image stored once and equal to its file now. "
    "Alone: the source recorded by the build, read with the build's source options.",
)
@source_options
@click.option("--repo", "repo_id", metavar="REPO_ID", help="Also check this Hub dataset repo.")
@revision_option
@token_option
@split_option(multiple=True)
@threads_option
@quiet_option
@json_option
@_run
def verify(output_dir: str, **kw: Any) -> None:
    """Prove OUTPUT_DIR (and its source, and its Hub copy) complete and byte-exact.

    The source options (--rows, --subject...) say how --source SOURCE is read; alone, --source
    reads the source as the build did."""
    from ..common.errors import VerifyError
    from ..common.progress import ConsoleReporter
    from ..proof.report import VerifyOptions
    from ..proof.verify import verify as run_verify

    options = VerifyOptions(
        splits=kw["splits"],
        deep=kw["deep"],
        source=kw["source"],
        source_options=source_options_from(kw),
        repo_id=kw["repo_id"],
        revision=kw["revision"],
        token=kw["token"],
        threads=kw["threads"] or 0,
    )
    if options.repo_id:
        _quiet_hub_logs()
    report = run_verify(output_dir, options, ConsoleReporter(kw["quiet"]))
    _print_problems(report.warnings, "warning")
    _print_problems(report.on_purpose, "changed on purpose")
    if kw["as_json"]:
        click.echo(json.dumps(report.to_dict(), indent=1))
    if not report.ok:
        raise VerifyError(report.summary(), report.problems)
    if not kw["as_json"]:
        click.echo(report.summary())


@main.command()
@click.argument("output_dir", default=DEMO_FOLDER, metavar=f"[OUTPUT_DIR={DEMO_FOLDER}]")
@quiet_option
@_run
def demo(output_dir: str, quiet: bool) -> None:
    """Build a small dataset from the NIfTI images shipped with nibabel into OUTPUT_DIR
    (default: ./nifti2parquet-demo), check it, show it."""
    from ..common.progress import ConsoleReporter
    from .demo import run_demo

    for line in run_demo(output_dir, ConsoleReporter(quiet)):
        click.echo(line)


@main.command("inspect")
@click.argument("source")
@source_options
@plan_options
@on_error_option
@quiet_option
@json_option
@privacy_options
@exclude_dicom_tags_option
@_run
def inspect_command(source: str, **kw: Any) -> None:
    """Show what build would make of SOURCE (reads headers, writes nothing)."""
    from ..common.progress import ConsoleReporter
    from .build import BuildOptions
    from .inspect import inspect_source

    options = BuildOptions(
        source=source_options_from(kw),
        split=kw["split"],
        max_shard_size=kw["max_shard_size"],
        row_group_size=kw["row_group_size"],
        on_error=kw["on_error"],
        exclude_dicom_tags=kw["exclude_dicom_tags"],
        privacy_rules=kw["privacy_rules"],
        known_identifiers=kw["known_identifiers"],
    )
    report = inspect_source(source, options, ConsoleReporter(kw["quiet"]))
    if kw["as_json"]:
        click.echo(json.dumps(report.to_dict(), indent=1))
    else:
        click.echo("\n".join(report.lines()))


@main.command("push")
@click.argument("output_dir")
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repo private (when it does not exist).")
@revision_option
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of pushing directly.")
@token_option
@click.option("--message", default=None, help="Commit message (numbered when several commits).")
@click.option(
    "--files-per-commit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Shards per commit (the Hub recommends 50-100 operations per commit).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing, here or on the Hub.")
@click.option("--no-xet", is_flag=True, help="Upload with plain Git LFS instead of Xet.")
@quiet_option
@json_option
@click.option(
    "--publish-identifying-data",
    is_flag=True,
    help="Push to a public repo although the build's privacy scan found identifying values "
    "(you have checked them and may publish them).",
)
@_run
def push_command(output_dir: str, repo_id: str, **kw: Any) -> None:
    """Push the build in OUTPUT_DIR to the Hub dataset repo REPO_ID (batched, resumable)."""
    from ..common.progress import ConsoleReporter
    from ..hub.push import PushOptions
    from ..hub.push import push as run_push

    options = PushOptions(
        private=kw["private"],
        revision=kw["revision"],
        create_pr=kw["create_pr"],
        token=kw["token"],
        message=kw["message"],
        files_per_commit=kw["files_per_commit"],
        dry_run=kw["dry_run"],
        no_xet=kw["no_xet"],
        publish_identifying_data=kw["publish_identifying_data"],
    )
    _quiet_hub_logs()
    result = run_push(output_dir, repo_id, options, ConsoleReporter(kw["quiet"]))
    _print_problems(result.warnings, "warning")
    if kw["as_json"]:
        click.echo(json.dumps(result.to_dict(), indent=1))
        return
    if result.dry_run:
        click.echo("\n".join(result.dry_run_lines()))
    click.echo(result.summary())


@main.command("export")
@click.argument("source")
@click.argument("dest")
@selection_options
@split_option()
@revision_option
@token_option
@threads_option
@quiet_option
@json_option
@_run
def export_command(source: str, dest: str, **kw: Any) -> None:
    """Write the files of SOURCE (an OUTPUT_DIR or a Hub REPO_ID) back into DEST, byte for byte."""
    if _is_the_program():
        keep_numpy_out()  # before pyarrow loads: nothing of an export needs arrays
    from ..common.progress import ConsoleReporter
    from .export import ExportOptions
    from .export import export as run_export

    options = ExportOptions(
        selection=selection_from(kw),
        split=kw["split"],
        revision=kw["revision"],
        token=kw["token"],
        threads=kw["threads"] or ExportOptions.threads,
    )
    result = run_export(source, dest, options, ConsoleReporter(kw["quiet"]))
    _print_problems(result.left_out, "left out")
    if kw["as_json"]:
        click.echo(json.dumps(result.to_dict(), indent=1))
    else:
        click.echo(result.summary())


PROGRAM = "nifti2parquet"


def _is_the_program() -> bool:
    """Whether this is the ``nifti2parquet`` process itself (:func:`run`), which may decide what
    its process loads, rather than ``main`` called by a host (a test's CliRunner, a script)."""
    return click.get_current_context().find_root().obj == PROGRAM


def run() -> None:
    """The ``nifti2parquet`` program: the console script and ``python -m nifti2parquet``."""
    keep_pandas_out()
    one_blas_thread()
    try:
        main(prog_name=PROGRAM, obj=PROGRAM)
    finally:
        # Every file a command writes is closed (and synced) before it returns: what is left
        # for the interpreter's end is to drop the objects. Frozen, they are not walked by the
        # collector's last passes, which took 0.11-0.16 s of an export's ~1 s (0.03 s after).
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    run()

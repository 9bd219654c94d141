"""Options shared by several commands, declared once: one flag, one wording, one default.

Each group is a decorator (``@source_options``) plus a function that turns the parsed values into
the API's dataclass (:func:`source_options_from`). Defaults come from the code that uses them
(the plan's sizes, the row layouts), so the help cannot drift from what happens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..common.errors import OptionError
from ..common.selection import FILTERS, Selection
from ..common.storage import Storage
from ..common.units import parse_size, short_size
from ..shards.plan import DEFAULT_MAX_SHARD_SIZE, DEFAULT_ROW_GROUP_SIZE, DEFAULT_SPLIT
from ..sources.options import ROW_LAYOUTS, SourceOptions

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _group(*options: Decorator) -> Decorator:
    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


def _size(ctx: click.Context, param: click.Parameter, value: str | int) -> int:
    try:
        return parse_size(value)
    except OptionError as exc:
        raise click.BadParameter(exc.message) from None


selection_options = _group(
    *(click.option(f.flag, f.field, multiple=True, metavar="GLOB", help=f.help) for f in FILTERS)
)

storage_option = click.option(
    "--storage-option",
    "storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="fsspec option for reaching remote files (repeatable; e.g. anon=true, endpoint_url=...).",
)

source_options = _group(
    click.option(
        "--image-column",
        "image_columns",
        multiple=True,
        metavar="NAME",
        help="Table column holding NIfTI paths (repeatable). Default: detected.",
    ),
    click.option(
        "--rows",
        type=click.Choice(ROW_LAYOUTS),
        default="auto",
        show_default=True,
        help="BIDS row layout: one row per session, subject or file (auto: per session, or per "
        "subject when there are no sessions).",
    ),
    click.option(
        "--derivatives/--no-derivatives",
        default=True,
        show_default=True,
        help="BIDS: include derivatives/<pipeline>/ images as their own columns.",
    ),
    selection_options,
    click.option(
        "--exclude-field",
        "exclude_fields",
        multiple=True,
        metavar="KEY",
        help="Sidecar JSON key left out of what is published (repeatable).",
    ),
    click.option(
        "--exclude",
        "exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave out of what is published the files this gitignore-style pattern matches "
        "(repeatable; paths from the dataset's root, e.g. 'scratch/' or '*.log'; each pattern "
        "and its count are recorded and on the card).",
    ),
    click.option(
        "--exclude-column",
        "exclude_columns",
        multiple=True,
        metavar="[GLOB:]NAME",
        help="Table column left out of what is published (repeatable): NAME in participant-level "
        "tables (participants, sessions, scans, phenotype) and a table source's own table; "
        "GLOB:NAME in the tables whose path matches GLOB (e.g. '*_channels.tsv:name').",
    ),
    storage_option,
)

plan_options = _group(
    click.option(
        "--split", default=DEFAULT_SPLIT, show_default=True, help="Split name of the shards."
    ),
    click.option(
        "--max-shard-size",
        default=short_size(DEFAULT_MAX_SHARD_SIZE),
        show_default=True,
        callback=_size,
        metavar="SIZE",
        help="Largest shard file on disk (true bytes; more than 0).",
    ),
    click.option(
        "--row-group-size",
        default=short_size(DEFAULT_ROW_GROUP_SIZE),
        show_default=True,
        callback=_size,
        metavar="SIZE",
        help="Target bytes per row group (more than 0, at most 1GiB; the Hub viewer reads up "
        "to ~286 MiB).",
    ),
)

on_error_option = click.option(
    "--on-error",
    type=click.Choice(["fail", "skip"]),
    default="fail",
    show_default=True,
    help="Bad input files: stop before writing anything (fail), or leave them out (skip).",
)

privacy_options = _group(
    click.option(
        "--privacy-rules",
        metavar="FILE",
        default=None,
        help="YAML file of extra identifying/review field names and patterns.",
    ),
    click.option(
        "--known-identifiers",
        metavar="FILE",
        default=None,
        help="File of participant names or IDs to search for, one per line (never stored "
        "or printed).",
    ),
)

checksum_option = click.option(
    "--checksum",
    is_flag=True,
    help="Reuse a finished shard only if its images' sha256 still match their files (as rsync "
    "-c); by default a file's size and modification time decide, which reads nothing.",
)
exclude_dicom_tags_option = click.option(
    "--exclude-dicom-tags",
    is_flag=True,
    help="Publish DICOM files (sourcedata/...) without the attributes DICOM PS3.15's Basic "
    "Application Level Confidentiality Profile removes or replaces (patient, dates, "
    "institution, staff, private attributes; UIDs replaced); the sources are not changed.",
)

quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."
)
token_option = click.option(
    "--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)."
)
revision_option = click.option(
    "--revision", default=None, help="Hub branch, tag or commit (default: main)."
)


def storage_from(pairs: tuple[str, ...]) -> Storage:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise OptionError(f"--storage-option {pair!r}: write KEY=VALUE, e.g. anon=true")
        options[key] = {"true": True, "false": False}.get(value.lower(), value)
    return Storage(options)


def selection_from(kw: dict[str, Any]) -> Selection:
    return Selection(**{f.field: kw[f.field] for f in FILTERS})


def source_options_from(kw: dict[str, Any]) -> SourceOptions:
    return SourceOptions(
        image_columns=kw["image_columns"],
        rows=kw["rows"],
        derivatives=kw["derivatives"],
        selection=selection_from(kw),
        exclude_fields=kw["exclude_fields"],
        exclude_columns=kw["exclude_columns"],
        exclude=kw["exclude"],
        storage=storage_from(kw["storage_options"]),
    )

"""Options shared by several commands, declared once: one flag, one wording, one default.

Each group is a decorator (``@source_options``) plus a function that turns the parsed values into
the API's dataclass (:func:`source_options_from`). Defaults come from the code that uses them
(the plan's sizes, the row layouts: kept in ``common.defaults``, which imports nothing, so
``--help`` loads neither pyarrow nor any kind of source), so the help cannot drift from what
happens. An option that
means a little more in one command than in another (``--split``: the split build writes, the
splits verify checks) has one help text that says so for each, so every command's ``--help``
reads the same words; each help names the option's own constraint (``more than 0``...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..common.defaults import (
    DEFAULT_MAX_SHARD_SIZE,
    DEFAULT_ROW_GROUP_SIZE,
    DEFAULT_SPLIT,
    ROW_LAYOUTS,
)
from ..common.errors import OptionError
from ..common.selection import FILTERS, Selection
from ..common.storage import Storage
from ..common.units import parse_size, short_size

if TYPE_CHECKING:
    from ..sources.options import SourceOptions

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
        help="Leave this sidecar JSON key out of the dataset's metadata (repeatable).",
    ),
    click.option(
        "--exclude",
        "exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave out the files of the dataset this gitignore-style pattern matches "
        "(repeatable; paths from the dataset's root, e.g. 'scratch/' or '*.log'; a build "
        "records each pattern and its count, and its card states them).",
    ),
    click.option(
        "--exclude-column",
        "exclude_columns",
        multiple=True,
        metavar="[GLOB:]NAME",
        help="Leave this table column out of the dataset (repeatable): NAME in participant-level "
        "tables (participants, sessions, scans, phenotype) and a table source's own table; "
        "GLOB:NAME in the tables whose path matches GLOB (e.g. '*_channels.tsv:name').",
    ),
    storage_option,
)

SPLIT_HELP = (
    "Split name (letters, digits, _ and .). build, inspect: the split written (default: "
    f"{DEFAULT_SPLIT}); verify: the splits checked (repeatable; default: every split built); "
    "export: the split read (default: the only one)."
)


def split_option(multiple: bool = False, default: str | None = None) -> Decorator:
    """``--split``: one name (build, inspect, export), or several (verify)."""
    if multiple:
        return click.option("--split", "splits", multiple=True, metavar="NAME", help=SPLIT_HELP)
    return click.option("--split", default=default, metavar="NAME", help=SPLIT_HELP)


plan_options = _group(
    split_option(default=DEFAULT_SPLIT),
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
    help="Bad input files: fail (build stops before writing anything), or skip (they are left "
    "out, and listed).",
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


def card_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The card's words (build): a BIDS source gives them itself, a table needs them."""
    options = [
        click.option("--title", default="", help="The card's title (BIDS: Name)."),
        click.option(
            "--description",
            default="",
            metavar="TEXT|@FILE",
            help="What the dataset is, under the title (BIDS: the README).",
        ),
        click.option(
            "--citation",
            default="",
            metavar="TEXT|@FILE",
            help="How to cite it: text, or a BibTeX entry (BIDS: HowToAcknowledge).",
        ),
        click.option(
            "--license-name",
            default="",
            help="Name of a license the Hub has no identifier for (the card says license: other).",
        ),
        click.option(
            "--column-descriptions",
            default="",
            metavar="JSON",
            help="A data dictionary like participants.json. Default: the table's own sidecar "
            "(participants.json next to participants.csv).",
        ),
        click.option(
            "--no-previews",
            "no_previews",
            is_flag=True,
            help="No PNG previews of the images on the card.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def card_details(kw: dict[str, Any]) -> Any:
    """The card options as CardDetails (``@FILE`` read here)."""
    from ..card.details import CardDetails, text_format, text_or_file

    return CardDetails(
        license=kw["license"],
        title=kw["title"],
        description=text_or_file(kw["description"], "--description"),
        description_format=text_format(kw["description"]),
        citation=text_or_file(kw["citation"], "--citation"),
        license_name=kw["license_name"],
        column_descriptions=kw["column_descriptions"],
    )


quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."
)
token_option = click.option(
    "--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)."
)
revision_option = click.option(
    "--revision",
    default=None,
    help="Hub revision. verify, export: the branch, tag or commit read (default: main); push: "
    "the branch written (created from main if missing) or refs/pr/N.",
)
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Reads at once (at least 1). verify: shards checked (default: one per core, at most "
    "8); export: files fetched (default: 8).",
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
    from ..sources.options import SourceOptions  # the sources registry: only when one is read

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

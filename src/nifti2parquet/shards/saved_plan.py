"""The plan ``--plan-only`` saves for array-job parts, and the record of what made it.

``.nifti2parquet/{split}/plan.pickle`` keeps the checked rows and the plan, so each ``--part`` run
writes its shards without reading the source again; ``plan-options.json`` says, for people and for
the parts, which source, options and library versions made it (:mod:`nifti2parquet.commands.parts`
refuses a run whose options differ).
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from ..common.rows import SourceRows
from .manifest import FORMAT, absolute_source, split_dir, tool_versions
from .markers import hash_json
from .output import OutputFolder
from .plan import Plan


def saved_plan_path(split: str) -> str:
    return f"{split_dir(split)}/plan.pickle"


def plan_options_path(split: str) -> str:
    return f"{split_dir(split)}/plan-options.json"


def plan_record_of(source: str, options: dict[str, Any]) -> dict[str, Any]:
    """The source, options and library versions that decide a plan (hashed: its fingerprint)."""
    return {
        "source": absolute_source(source),
        "options": options,
        "tools": tool_versions(),
        "format": FORMAT,
    }


def plan_fingerprint_of(source: str, options: dict[str, Any]) -> str:
    """What decides the rows and the plan: the source, the options, the library versions."""
    return hash_json(plan_record_of(source, options))


def save_plan_options(output: OutputFolder, split: str, record: dict[str, Any]) -> None:
    """What the saved plan was made with (source, options, library versions), readable by
    people and by the parts that must use exactly that plan."""
    output.write_text_atomic(plan_options_path(split), json.dumps(record, indent=1) + "\n")


def read_plan_options(output: OutputFolder, split: str) -> dict[str, Any] | None:
    path = plan_options_path(split)
    if not output.exists(path):
        return None
    try:
        return json.loads(output.read_text(path))
    except ValueError:
        return None


def save_plan(
    output: OutputFolder, split: str, fingerprint: str, rows: SourceRows, plan: Plan
) -> None:
    """Keep the checked rows and the plan, so array-job parts need not read the source again.

    A pickle: the rows hold Arrow types and Python values that JSON cannot carry. It is read back
    only by this tool, from the output folder it wrote.
    """
    data = pickle.dumps(
        {"fingerprint": fingerprint, "rows": rows, "plan": plan}, protocol=pickle.HIGHEST_PROTOCOL
    )
    output.write_bytes_atomic(saved_plan_path(split), data)


def load_plan(output: OutputFolder, split: str, fingerprint: str) -> tuple[SourceRows, Plan] | None:
    """The saved rows and plan, if they were made from the same source with the same options."""
    path = saved_plan_path(split)
    if not output.exists(path):
        return None
    with output.open_read(path) as f:
        try:
            saved = pickle.loads(f.read())
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None
    if saved.get("fingerprint") != fingerprint:
        return None
    return saved["rows"], saved["plan"]

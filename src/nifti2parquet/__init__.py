"""nifti2parquet: publish NIfTI / BIDS datasets as Hugging Face Parquet datasets.

The Python API mirrors the command line, one function per command::

    from nifti2parquet import build, BuildOptions, verify, push
    result = build("participants.csv", "out/", BuildOptions(max_shard_size=500_000_000))
    print(result.summary())

Data flows one way: source → rows → plan → shards → card → push. Names are imported on first use,
so a command (or a worker process) loads only the modules it needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "build": "commands.build",
    "BuildOptions": "commands.build",
    "BuildResult": "commands.build",
    "inspect_source": "commands.inspect",
    "verify": "proof.verify",
    "VerifyOptions": "proof.report",
    "VerifyReport": "proof.report",
    "push": "hub.push",
    "PushOptions": "hub.push_options",
    "PushResult": "hub.push",
    "run_demo": "commands.demo",
    "export": "commands.export",
    "ExportOptions": "retrieval.dataset",
    "ExportResult": "commands.export",
    "open_dataset": "retrieval.lazy",
    "LazyDataset": "retrieval.lazy",
    "N2PError": "common.errors",
    "InputError": "common.errors",
    "OptionError": "common.errors",
    "OutputError": "common.errors",
    "VerifyError": "common.errors",
    "Problem": "common.errors",
    "Storage": "common.storage",
    "Selection": "common.selection",
    "SourceOptions": "sources.options",
    "CardDetails": "card.details",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nifti2parquet' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # resolved once
    return value

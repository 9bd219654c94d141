"""``python -m nifti2parquet``: the same as the ``nifti2parquet`` command."""

from .commands.cli import run

run()

"""nifti2parquet: publish NIfTI / BIDS datasets as Hugging Face Parquet datasets.

The Python API mirrors the command line, one function per command::

    from nifti2parquet import build, BuildOptions
    result = build("participants.csv", "out/", BuildOptions(max_shard_size=500_000_000))
    print(result.summary())

Data flows one way: source → rows → plan → shards → card → push.
"""

from .build import BuildOptions, BuildResult, build
from .errors import InputError, N2PError, OptionError, OutputError, Problem, VerifyError
from .fsio import Storage

__all__ = [
    "BuildOptions",
    "BuildResult",
    "InputError",
    "N2PError",
    "OptionError",
    "OutputError",
    "Problem",
    "Storage",
    "VerifyError",
    "build",
]

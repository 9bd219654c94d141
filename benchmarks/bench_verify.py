"""How long ``verify`` takes compared with reading the shards once.

    python benchmarks/bench_verify.py             # builds ~1.1 GB once, then 5 interleaved rounds

Side by side, page cache dropped before each run when possible (root) so every contender reads from
disk: ``cat shards > /dev/null`` (reading once), ``sha256sum`` of the shards (one hash pass, one
core), and ``nifti2parquet verify`` (every shard's sha256, every image cell's header, the card, the
manifest). Issue 5's target: checking a dataset must not take much longer than reading it once.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness import (
    PYTHON,
    Comparison,
    drop_caches,
    fresh,
    image_dataset,
    interleave,
    measure,
    write_result,
)

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench"
    )
    args = parser.parse_args()
    source = args.work / f"source-{args.size_gb}gb"
    image_dataset(source, args.size_gb)
    built = args.work / "verify-target"
    if not (built / "README.md").exists():
        fresh(built)
        measure(
            "build",
            [
                PYTHON,
                "-m",
                "nifti2parquet",
                "build",
                str(source / "participants.csv"),
                str(built),
                "--quiet",
            ],
        )
    shards = sorted(str(p) for p in (built / "data").iterdir())
    data = sum(os.path.getsize(p) for p in shards)
    cold = drop_caches()

    def step(name: str, command: list[str]):
        def run() -> object:
            drop_caches()
            return measure(name, command)

        return name, run

    comparison = Comparison()
    interleave(
        args.rounds,
        [
            step("cat shards > /dev/null", ["sh", "-c", f"cat {' '.join(shards)} > /dev/null"]),
            step("sha256sum shards", ["sha256sum", *shards]),
            step(
                "nifti2parquet verify", [PYTHON, "-m", "nifti2parquet", "verify", str(built), "-q"]
            ),
        ],
        comparison,
    )
    ratio = comparison.seconds("nifti2parquet verify") / comparison.seconds(
        "cat shards > /dev/null"
    )
    print(f"\n{len(shards)} shards, {data / 1e9:.2f} GB, {'cold' if cold else 'warm'} page cache\n")
    print(comparison.table(data))
    print(f"\nverify / cat: {ratio:.2f}x")
    write_result(
        HERE / "results" / "verify.json",
        {
            "data_bytes": data,
            "cold_cache": cold,
            "verify_over_cat": ratio,
            **comparison.results(),
        },
    )


if __name__ == "__main__":
    main()

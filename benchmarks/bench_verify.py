"""How long ``verify`` takes compared with reading the shards once.

    python benchmarks/bench_verify.py          # builds ~1.1 GB once, then 5 interleaved rounds
    python benchmarks/bench_verify.py --cold   # drop the page cache before each run (root)

Side by side: ``cat shards > /dev/null`` (reading once), ``sha256sum`` of the shards (one hash
pass, one core), and ``nifti2parquet verify`` (every shard's sha256, every image cell's header,
the card, the manifest). The target: checking a dataset must not take much longer than reading it
once. ``--cold`` empties the page cache of the whole machine before every run, so every contender
reads from disk; on a machine shared with others, leave it off.
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
    tidy,
    write_result,
)
from tables import Table, megabytes, ratio, seconds

HERE = Path(__file__).parent
CAT, SHA, VERIFY = "cat shards > /dev/null", "sha256sum shards", "nifti2parquet verify"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench"
    )
    return parser.parse_args(argv)


def compare(args: argparse.Namespace) -> dict:
    source = args.work / f"source-{args.size_gb}gb"
    image_dataset(source, args.size_gb)
    built = args.work / f"verify-target-{args.size_gb}gb"
    if not (built / "README.md").exists():
        fresh(built)
        command = [PYTHON, "-m", "nifti2parquet", "build", str(source / "participants.csv")]
        if measure("build", [*command, str(built), "--quiet"]).returncode:
            raise SystemExit("build failed")
    shards = sorted(str(p) for p in (built / "data").iterdir())
    data = sum(os.path.getsize(p) for p in shards)
    if args.cold and not drop_caches():
        raise SystemExit("--cold needs root (writing /proc/sys/vm/drop_caches)")

    def step(name: str, command: list[str]):
        def run() -> object:
            if args.cold:
                drop_caches()
            return measure(name, command)

        return name, run

    comparison = Comparison()
    verify = [PYTHON, "-m", "nifti2parquet", "verify", str(built), "-q"]
    steps = [
        step(CAT, ["sh", "-c", f"cat {' '.join(shards)} > /dev/null"]),
        step(SHA, ["sha256sum", *shards]),
        step(VERIFY, verify),
    ]
    interleave(args.rounds, steps, comparison)
    print(f"\n{len(shards)} shards, {data / 1e9:.2f} GB, {'cold' if args.cold else 'warm'} cache\n")
    print(comparison.table(data))
    report = {
        "data_bytes": data,
        "shards": len(shards),
        "cold_cache": args.cold,
        "rounds": args.rounds,
        "verify_over_cat": comparison.seconds(VERIFY) / comparison.seconds(CAT),
        "verify_over_sha256sum": comparison.seconds(VERIFY) / comparison.seconds(SHA),
        **comparison.results(),
    }
    write_result(HERE / "results" / "verify.json", report)
    return report


def verify_table(report: dict) -> Table:
    one_hash = report["seconds"][SHA]
    rows = tuple(
        (
            name,
            seconds(value),
            ratio(value / one_hash),
            seconds(report["cpu_seconds"][name]),
            megabytes(report["peak_rss"][name]),
        )
        for name, value in report["seconds"].items()
    )
    notes = (
        f"the build of the build table's data: {report['shards']} shards, "
        f"{report['data_bytes'] / 1e9:.2f} GB; {'cold' if report['cold_cache'] else 'warm'} "
        f"page cache; {report['rounds']} interleaved rounds, medians",
        f"verify / `sha256sum`: **{report['verify_over_sha256sum']:.2f}x**, / `cat`: "
        f"{report['verify_over_cat']:.2f}x; verify hashes every shard (on several threads; "
        f"`sha256sum` on one) and reads every image cell's header",
    )
    columns = ("", "median", "× sha256sum", "CPU", "peak memory")
    return Table("verify", "Verify, against reading the shards once", columns, rows, notes)


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: the 1.1 GB build, 5 rounds (0.5 GB, 2 rounds, quick); warm page cache."""
    args = parse(["--size-gb", "0.5", "--rounds", "2"] if quick else [])
    args.work = work
    report = compare(args)
    tidy(work, ["source-*", "verify-target-*"])
    return [verify_table(report)]


def main() -> None:
    args = parse()
    report = compare(args)
    print(f"\nverify / cat: {report['verify_over_cat']:.2f}x")


if __name__ == "__main__":
    main()

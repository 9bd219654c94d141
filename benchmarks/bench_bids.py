"""BIDS build throughput and peak memory on an ARC-shaped tree, side by side with ``cp -r``.

    python benchmarks/bench_bids.py                  # scale 0.004: 57 sessions, ~1.1 GB, 3 rounds
    python benchmarks/bench_bids.py --scale 0.02     # ~5.5 GB, 127 sessions
    python benchmarks/bench_bids.py --rows file      # another row layout
    python benchmarks/bench_bids.py --privacy        # also the build with its privacy scan off

The tree comes from ``arc_tree.py`` (ARC's modality mix and size spread, scaled; kept between runs
in ``--work``). Each round runs, each as its own process and each until the data is on disk:
``cp -r TREE DST && sync`` (the I/O floor: it copies the sidecars and tables too), then
``nifti2parquet build TREE DST --quiet && sync`` (shards are fsynced by the build; every input and
shard is hashed; the build ends with its own footer checks). Medians of the rounds are compared;
peak RSS is that of the whole process tree (worker processes included). After the rounds, the
build's counts are checked against what the generator wrote: rows, images per column, nothing left
out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from arc_tree import make_arc_tree
from harness import (
    PYTHON,
    Comparison,
    api_build,
    fresh,
    interleave,
    measure,
    print_privacy,
    privacy_overhead,
    privacy_steps,
    write_result,
)

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.004, help="fraction of ARC's 273 GB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", default="auto", help="nifti2parquet --rows")
    parser.add_argument(
        "--workers", default="0", help="nifti2parquet --workers (0: the default, one per two cores)"
    )
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-bids"
    )
    parser.add_argument(
        "--privacy", action="store_true", help="also compare the build with its scan on and off"
    )
    args = parser.parse_args()

    tree = args.work / f"arc-{args.scale}"
    summary_file = args.work / f"arc-{args.scale}.json"
    if not summary_file.exists():
        print(f"generating an ARC-shaped tree at scale {args.scale} in {tree} ...", flush=True)
        fresh(tree)
        made = make_arc_tree(tree, args.scale)
        summary_file.write_text(
            json.dumps({"sessions": made.sessions, "files": made.files, "bytes": made.image_bytes})
        )
    made = json.loads(summary_file.read_text())
    tree_bytes = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    image_bytes = made["bytes"]
    largest = max(p.stat().st_size for p in tree.rglob("*.nii.gz"))
    build_name = f"nifti2parquet build (w={args.workers})"
    result_json = args.work / "build.json"

    def cp() -> object:
        target = fresh(args.work / "cp")
        return measure("cp -r + sync", ["sh", "-c", f"cp -r '{tree}' '{target}' && sync"])

    def build() -> object:
        target = fresh(args.work / "n2p")
        command = (
            f"'{PYTHON}' -m nifti2parquet build '{tree}' '{target}' --quiet --json "
            f"--rows {args.rows} --workers {args.workers} > '{result_json}' && sync"
        )
        return measure(build_name, ["sh", "-c", command])

    steps = [("cp", cp), ("build", build)]
    if args.privacy:
        steps += privacy_steps(
            lambda scan: api_build(tree, args.work / "n2p-api", args.workers, scan, rows=args.rows)
        )
    comparison = Comparison()
    interleave(args.rounds, steps, comparison)

    result = json.loads(result_json.read_text())
    _check_counts(result, made, args.rows, args.work / "n2p")
    shards = sorted((args.work / "n2p" / "data").iterdir())
    ratio = comparison.seconds(build_name) / comparison.seconds("cp -r + sync")
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "scale": args.scale,
        "rows_layout": args.rows,
        "sessions": made["sessions"],
        "images": sum(made["files"].values()),
        "image_bytes": image_bytes,
        "tree_bytes": tree_bytes,
        "largest_file": largest,
        **comparison.results(),
        "build_over_cp": ratio,
        "build_mb_per_s": image_bytes / comparison.seconds(build_name) / 1e6,
        "shards": len(shards),
        "largest_shard": max(p.stat().st_size for p in shards),
    }
    print(
        f"\nARC-shaped tree, scale {args.scale}: {made['sessions']} sessions, "
        f"{report['images']} images, {image_bytes / 1e9:.2f} GB of images "
        f"({tree_bytes / 1e9:.2f} GB with sidecars), largest {largest / 1e6:.1f} MB, "
        f"{args.rounds} rounds, warm page cache\n"
    )
    print(comparison.table(image_bytes))
    print(f"\nbuild / cp -r          {ratio:.2f}x")
    print(f"build peak RSS         {comparison.rss(build_name) / 1e6:.0f} MB")
    print(f"shards                 {len(shards)}, largest {report['largest_shard'] / 1e6:.1f} MB")
    print(f"build summary          {result['summary']}")
    if args.privacy:
        report["privacy_scan"] = overhead = privacy_overhead(comparison)
        print_privacy(overhead)
    name = f"bids-arc-{args.scale}-{args.rows}-w{args.workers}.json"
    write_result(HERE / "results" / name, report)


def _check_counts(result: dict, made: dict, rows: str, out: Path) -> None:
    """The build holds what the generator wrote: every image, each session a row (or a file)."""
    images = sum(made["files"].values())
    expected_rows = {"auto": made["sessions"], "session": made["sessions"], "file": images}
    problems = []
    found = result["files_found"]  # the images and every other file the files config stores
    others = result["other_files"]
    if result["num_images"] != images or found != images + others or result["left_out"]:
        problems.append(f"images: {result['num_images']} of {result['files_found']}, made {images}")
    if rows in expected_rows and result["num_rows"] != expected_rows[rows]:
        problems.append(f"rows: {result['num_rows']}, expected {expected_rows[rows]}")
    manifest = json.loads((out / ".nifti2parquet/train/manifest.json").read_text())
    if rows in ("auto", "session", "subject") and manifest["images_per_column"] != made["files"]:
        problems.append(f"per column: {manifest['images_per_column']} != {made['files']}")
    if problems:
        sys.exit("counts do not match: " + "; ".join(problems))


if __name__ == "__main__":
    main()

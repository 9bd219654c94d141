"""BIDS build throughput and peak memory on an ARC-shaped tree, side by side with ``cp -r``.

    python benchmarks/bench_bids.py                  # scale 0.004: 57 sessions, ~1.1 GB, 3 rounds
    python benchmarks/bench_bids.py --scale 0.02     # ~5.5 GB, 127 sessions
    python benchmarks/bench_bids.py --rows file      # another row layout
    python benchmarks/bench_bids.py --privacy        # also the build with its privacy scan off

``benchmarks/run_all`` runs it (``tables()``) with ``--privacy``.

The tree comes from ``arc_tree.py`` (ARC's modality mix and size spread, scaled; kept between runs
in ``--work``). Each round runs, each as its own process and each until the data is on disk:
``cp -r TREE DST && sync`` (the I/O floor: it copies the sidecars and tables too), then
``nifti2parquet build TREE DST --quiet --no-previews && sync`` and the same build with its
previews (the default); shards are fsynced by the build, every input and shard is hashed, and the
build ends with its own footer checks. Medians of the rounds are compared;
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
    tidy,
    write_result,
)
from tables import (
    Table,
    against_cp,
    previews_cost,
    privacy_scan_table,
)

HERE = Path(__file__).parent
CP = "cp -r + sync"
BUILD = "build --no-previews"
PREVIEWS = "build (previews on, the default)"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def compare(args: argparse.Namespace) -> tuple[dict, Comparison]:
    """The interleaved rounds, the counts checked; the results file's report."""
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
    result_json = args.work / "build.json"

    def cp() -> object:
        target = fresh(args.work / "cp")
        return measure(CP, ["sh", "-c", f"cp -r '{tree}' '{target}' && sync"])

    def build(name: str, flags: str) -> object:
        target = fresh(args.work / "n2p")
        command = (
            f"'{PYTHON}' -m nifti2parquet build '{tree}' '{target}' --quiet --json {flags} "
            f"--rows {args.rows} --workers {args.workers} > '{result_json}' && sync"
        )
        return measure(name, ["sh", "-c", command])

    steps = [
        ("cp", cp),
        ("build", lambda: build(BUILD, "--no-previews")),
        ("previews", lambda: build(PREVIEWS, "")),
    ]
    if args.privacy:
        steps += privacy_steps(
            lambda scan: api_build(
                tree, args.work / "n2p-api", args.workers, scan, rows=args.rows, previews=False
            )
        )
    comparison = Comparison()
    interleave(args.rounds, steps, comparison)

    result = json.loads(result_json.read_text())
    _check_counts(result, made, args.rows, args.work / "n2p")
    shards = sorted((args.work / "n2p" / "data").iterdir())
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
        "rounds": args.rounds,
        **comparison.results(),
        "build_over_cp": comparison.seconds(BUILD) / comparison.seconds(CP),
        "previews_over_build": comparison.seconds(PREVIEWS) / comparison.seconds(BUILD),
        "previews_rss_over_build": comparison.rss(PREVIEWS) - comparison.rss(BUILD),
        "shards": len(shards),
        "largest_shard": max(p.stat().st_size for p in shards),
        "summary": result["summary"],
    }
    if args.privacy:
        report["privacy_scan"] = privacy_overhead(comparison)
    name = f"bids-arc-{args.scale}-{args.rows}-w{args.workers}.json"
    write_result(HERE / "results" / name, report)
    return report, comparison


def arc_table(report: dict, quick: bool) -> Table:
    rows = against_cp(report, report["image_bytes"], CP)
    notes = (
        f"ARC-shaped BIDS tree (`arc_tree.py`, scale {report['scale']}): {report['sessions']} "
        f"sessions, {report['images']} images, {report['image_bytes'] / 1e9:.2f} GB of images "
        f"({report['tree_bytes'] / 1e9:.2f} GB with sidecars and tables), the largest "
        f"{report['largest_file'] / 1e6:.1f} MB; one row per session; warm page cache; "
        f"{report['rounds']} interleaved rounds, medians; MB/s of image bytes",
        f"build `--no-previews` / `cp -r` + `sync`: **{report['build_over_cp']:.2f}x**; "
        + previews_cost(report),
        f"shards: {report['shards']}, the largest {report['largest_shard'] / 1e6:.1f} MB; every "
        f"image the generator wrote is in the build, each session a row (checked)",
    )
    title = "Build of an ARC-shaped BIDS tree, against cp + sync"
    columns = ("", "median", "× cp + sync", "CPU", "MB/s of images", "peak memory")
    return Table("build-arc", title, columns, rows, notes)


def privacy_table(report: dict) -> Table:
    data = (
        f"the ARC-shaped tree of the table above ({report['images']} images and the sidecars, "
        f"bval/bvec and tables beside them)"
    )
    title = "The privacy preflight's cost in a build of an ARC-shaped BIDS tree"
    return privacy_scan_table(report, "privacy-scan-arc", title, data)


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: the ARC-shaped tree at scale 0.004, ~1.1 GB (0.001, ~0.3 GB, quick), and the
    build with its privacy scan on and off."""
    args = parse(["--scale", "0.001", "--rounds", "2", "--privacy"] if quick else ["--privacy"])
    args.work = work
    report, _ = compare(args)
    tidy(work, ["arc-*"])
    return [arc_table(report, quick), privacy_table(report)]


def main() -> None:
    args = parse()
    report, comparison = compare(args)
    print("\n" + "\n".join(arc_table(report, quick=False).notes[:1]) + "\n")
    print(comparison.table(report["image_bytes"]))
    print(f"\nbuild / cp -r          {report['build_over_cp']:.2f}x")
    print(f"previews / no previews {report['previews_over_build']:.2f}x (two medians)")
    print(f"build peak RSS         {comparison.rss(PREVIEWS) / 1e6:.0f} MB")
    largest = report["largest_shard"] / 1e6
    print(f"shards                 {report['shards']}, largest {largest:.1f} MB")
    print(f"build summary          {report['summary']}")
    if args.privacy:
        print_privacy(report["privacy_scan"])


def _check_counts(result: dict, made: dict, rows: str, out: Path) -> None:
    """The build holds what the generator wrote: every image, each session a row (or a file), and
    every other file in the files config."""
    images = sum(made["files"].values())
    expected_rows = {"auto": made["sessions"], "session": made["sessions"], "file": images}
    problems = []
    if result["num_images"] != images or result["left_out"]:
        problems.append(f"images: {result['num_images']}, made {images}; {result['left_out']}")
    if result["files_found"] != result["num_images"] + result["other_files"]:
        problems.append(f"{result['files_found']} files found, not all images or other files")
    if rows in expected_rows and result["num_rows"] != expected_rows[rows]:
        problems.append(f"rows: {result['num_rows']}, expected {expected_rows[rows]}")
    manifest = json.loads((out / ".nifti2parquet/train/manifest.json").read_text())
    if rows in ("auto", "session", "subject") and manifest["images_per_column"] != made["files"]:
        problems.append(f"per column: {manifest['images_per_column']} != {made['files']}")
    if problems:
        sys.exit("counts do not match: " + "; ".join(problems))


if __name__ == "__main__":
    main()

"""Build throughput and peak memory, side by side with ``cp -r`` and the `datasets` route.

    python benchmarks/bench_build.py                # 1.1 GB of 10-150 MB images, 3 rounds
    python benchmarks/bench_build.py --size-gb 2.2  # more data: peak RSS must stay flat
    python benchmarks/bench_build.py --cold         # drop the page cache before every run (root)
    python benchmarks/bench_build.py --profile 3    # and where the build's time goes, 3 builds

Each round runs, in this order and each as its own process, until the data is on disk:
``cp -r SRC DST && sync`` (the I/O floor), the two sha256 passes a build makes and nothing else
(``hash_floor.py``: the floor under any build with hashes on), ``nifti2parquet build
--no-previews`` and ``nifti2parquet build`` (previews on, the default; shards are fsynced;
integrity hashes of every input and shard on), each followed by ``sync``, and the `datasets`
route (``datasets_path.py``) followed by ``sync``. Results go to ``benchmarks/results/``;
``benchmarks/run_all`` puts them in ``benchmarks/README.md``.

Targets: build (``--no-previews``) wall time <= 1.5x ``cp -r``; previews add <= 10% to the build
time (judged in ``bench_previews.py``, on paired rounds) and <= 50 MB to its peak memory; build
peak RSS <= 2 x largest row + 200 MB, flat as the data grows, and <= 1/5 of the `datasets`
route's.

``--privacy`` adds two more contenders, the same build through the Python API with the privacy
scan on (as every build runs) and off (``BuildOptions(privacy_scan=False)``, only for measuring):
the scan must add at most 5% to the build. ``--profile N`` then runs ``profile_build.py`` on N
more builds (``--no-previews``) and reports the median time of each phase.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
from collections import defaultdict
from pathlib import Path

from harness import (
    PYTHON,
    Comparison,
    api_build,
    drop_caches,
    fresh,
    image_dataset,
    interleave,
    measure,
    print_privacy,
    privacy_overhead,
    privacy_steps,
    session_table,
    tidy,
    write_result,
)
from tables import (
    Table,
    against_cp,
    megabytes,
    met,
    previews_cost,
    privacy_scan_table,
    seconds,
)

HERE = Path(__file__).parent
CP = "cp -r + sync"
HASHES = "the two sha256 alone (no copy)"
BUILD = "build --no-previews"
PREVIEWS = "build (previews on, the default)"
DATASETS = "datasets cast+embed+to_parquet"


def _largest_row(table: Path) -> int:
    """Bytes of the largest row: its T1w plus its BOLD runs (the memory target's unit)."""
    largest = 0
    with open(table) as f:
        for row in csv.DictReader(f):
            paths = [row["t1w"]] + (json.loads(row["bold"]) if row.get("bold") else [])
            largest = max(largest, sum((table.parent / p).stat().st_size for p in paths))
    return largest


def source_data(work: Path, size_gb: float, shape: str, min_mb: float, max_mb: float) -> Path:
    """The benchmark's table source, generated once under ``work`` and reused."""
    suffix = "" if shape == "images" else "-sessions"
    source = work / f"source-{size_gb}gb{suffix}"
    if not (source / "participants.csv").exists():
        print(f"generating {size_gb} GB of {shape} in {source} ...", flush=True)
        fresh(source)
        if shape == "images":
            image_dataset(source, size_gb, min_mb, max_mb)
        else:
            session_table(source, int(size_gb * 1e9))
    return source / "participants.csv"


def compare(args: argparse.Namespace) -> tuple[dict, Comparison]:
    """The interleaved rounds; the results file's report."""
    table = source_data(args.work, args.size_gb, args.shape, args.min_mb, args.max_mb)
    source = table.parent
    images = list((source / "images").iterdir())
    data_bytes = sum(p.stat().st_size for p in images)

    def prepare() -> None:
        if args.cold and not drop_caches():
            raise SystemExit("--cold needs root (writing /proc/sys/vm/drop_caches)")

    def cp() -> object:
        target = fresh(args.work / "cp")
        prepare()
        return measure(CP, ["sh", "-c", f"cp -r '{source}' '{target}' && sync"])

    def build(name: str, flags: str) -> object:
        target = fresh(args.work / "n2p")
        prepare()
        command = (
            f"'{PYTHON}' -m nifti2parquet build '{table}' '{target}' --quiet "
            f"--workers {args.workers} {flags} > /dev/null && sync"
        )
        return measure(name, ["sh", "-c", command])

    def hashes() -> object:
        prepare()
        return measure(HASHES, [PYTHON, str(HERE / "hash_floor.py"), str(source / "images")])

    def datasets_route() -> object:
        target = fresh(args.work / "hf")
        prepare()
        script = HERE / "datasets_path.py"
        command = f"'{PYTHON}' '{script}' '{table}' '{target}' && sync"
        return measure(DATASETS, ["sh", "-c", command])

    def scan_build(scan: bool) -> object:
        prepare()
        return api_build(table, args.work / "n2p-api", args.workers, scan, previews=False)

    steps = [
        ("cp", cp),
        ("hashes", hashes),
        ("build", lambda: build(BUILD, "--no-previews")),
        ("previews", lambda: build(PREVIEWS, "")),
    ]
    steps += [] if args.no_datasets else [("datasets", datasets_route)]
    steps += privacy_steps(scan_build) if args.privacy else []
    comparison = Comparison()
    interleave(args.rounds, steps, comparison)

    shards = sorted((args.work / "n2p" / "data").iterdir())
    largest = _largest_row(table)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "cold_cache": args.cold,
        "rounds": args.rounds,
        "data_bytes": data_bytes,
        "files": len(images),
        "smallest_file": min(p.stat().st_size for p in images),
        "largest_file": max(p.stat().st_size for p in images),
        "shape": args.shape,
        "largest_row": largest,
        **comparison.results(),
        "build_over_cp": comparison.seconds(BUILD) / comparison.seconds(CP),
        "previews_over_build": comparison.seconds(PREVIEWS) / comparison.seconds(BUILD),
        "previews_rss_over_build": comparison.rss(PREVIEWS) - comparison.rss(BUILD),
        "hashes_over_cp": comparison.seconds(HASHES) / comparison.seconds(CP),
        "rss_bound": 2 * largest + 200_000_000,
        "n2p_shards": len(shards),
        "n2p_largest_shard": max(p.stat().st_size for p in shards),
    }
    if not args.no_datasets:
        hf_shards = sorted((args.work / "hf").iterdir())
        report.update(
            datasets_over_build=comparison.seconds(DATASETS) / comparison.seconds(BUILD),
            rss_over_datasets=comparison.rss(PREVIEWS) / comparison.rss(DATASETS),
            datasets_shards=len(hf_shards),
            datasets_largest_shard=max(p.stat().st_size for p in hf_shards),
        )
    if args.privacy:
        report["privacy_scan"] = privacy_overhead(comparison)
    return report, comparison


def profile(table: Path, work: Path, runs: int) -> dict:
    """``profile_build.py`` on ``runs`` builds (``--no-previews``): the median of each phase."""
    reports = []
    for _ in range(runs):
        target, out = fresh(work / "n2p-profile"), work / "profile.json"
        command = [PYTHON, str(HERE / "profile_build.py"), "--json", str(out)]
        run = measure("profiled build", [*command, str(table), str(target), "--no-previews"])
        if run.returncode:
            raise SystemExit("profiled build failed")
        report = json.loads(out.read_text())
        report["start"] = run.seconds - report["inside"]  # Python's start and exit
        report["wall"], report["process_cpu"] = run.seconds, run.cpu
        reports.append(report)
    merged: dict = {}
    for key in ("import", "import_cpu", "build", "build_cpu", "sync", "start", "wall"):
        merged[key] = statistics.median(r[key] for r in reports)
    merged["process_cpu"] = statistics.median(r["process_cpu"] for r in reports)
    for key in ("main", "cpu", "threads"):
        phases: dict[str, list[float]] = defaultdict(list)
        for r in reports:
            for name, value in r[key].items():
                phases[name].append(value)
        merged[key] = {
            name: statistics.median(values + [0.0] * (runs - len(values)))
            for name, values in phases.items()
        }
    merged["runs"] = runs
    return merged


# tables for run_all -----------------------------------------------------------------------------
def build_table(report: dict, quick: bool) -> Table:
    rss_of = report["peak_rss"]
    rows = against_cp(report, report["data_bytes"], CP)
    notes = [
        f"{report['files']} images of {report['smallest_file'] / 1e6:.0f}–"
        f"{report['largest_file'] / 1e6:.0f} MB, {report['data_bytes'] / 1e9:.2f} GB, one per "
        f"row of a CSV table; warm page cache; {report['rounds']} interleaved rounds, medians; "
        f"CPU is user + system time of the whole process tree",
        f"build `--no-previews` / `cp -r` + `sync`: **{report['build_over_cp']:.2f}x** (target "
        f"<= 1.5x: {met(report['build_over_cp'] <= 1.5)}); the two sha256 alone: "
        f"{report['hashes_over_cp']:.2f}x, the floor of any build that records them",
        previews_cost(report),
        f"peak memory of the build with previews {megabytes(rss_of[PREVIEWS])} against "
        f"2 x largest row + 200 MB = {megabytes(report['rss_bound'])}: "
        f"{met(rss_of[PREVIEWS] <= report['rss_bound'])}",
        f"shards: {report['n2p_shards']}, the largest {report['n2p_largest_shard'] / 1e6:.1f} MB "
        f"(threshold 500 MB)",
    ]
    if "datasets_shards" in report:
        notes.append(
            f"the `datasets` route wrote {report['datasets_shards']} shard(s), the largest "
            f'{report["datasets_largest_shard"] / 1e6:,.1f} MB (`max_shard_size="500MB"`); the '
            f"build's peak memory is {report['rss_over_datasets']:.2f} of its (target <= 0.20: "
            f"{met(report['rss_over_datasets'] <= 0.2)})"
        )
    elif quick:
        notes.append("the `datasets` route is measured in the full run only")
    columns = ("", "median", "× cp + sync", "CPU", "MB/s", "peak memory")
    title = "Build of a table source, against cp + sync"
    return Table("build-table", title, columns, rows, tuple(notes))


def phases_table(merged: dict, hash_floor: float) -> Table:
    wall = merged["wall"]
    rows = [("start Python, exit", seconds(merged["start"]), _share(merged["start"], wall), "")]
    rows.append(
        (
            "import nifti2parquet (as the command line does)",
            seconds(merged["import"]),
            _share(merged["import"], wall),
            seconds(merged["import_cpu"]),
        )
    )
    for name, value in sorted(merged["main"].items(), key=lambda kv: -kv[1]):
        cpu = merged["cpu"].get(name, 0.0)
        rows.append((name, seconds(value), _share(value, wall), seconds(cpu)))
    sync = merged["sync"]
    rows.append(("`sync` (as after every contender)", seconds(sync), _share(sync, wall), ""))
    total = seconds(merged["process_cpu"])
    rows.append(("**the whole build process**", seconds(wall), "100%", total))
    for name, value in merged["threads"].items():
        rows.append((f"*at the same time*, busy: {name}", seconds(value), _share(value, wall), ""))
    writing = sum(v for k, v in merged["main"].items() if k.startswith("writing shards"))
    notes = (
        f"the median of {merged['runs']} builds (`--no-previews`) of the data above, each sampled "
        f"every 2 ms from inside its process (`profile_build.py`); a phase's time is the main "
        f"thread's, its CPU is the whole process's (every thread) while the main thread was in it",
        f"writing the shards took {writing:.2f} s; meanwhile its blocks kept three threads busy: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in merged["threads"].items()),
        f"the two sha256 alone, with nothing else running, take {hash_floor:.2f} s of CPU on this "
        f"data (the build table's CPU column)",
    )
    columns = ("phase", "time", "share", "CPU")
    return Table("build-phases", "Where a build's time goes", columns, tuple(rows), notes)


def _share(value: float, total: float) -> str:
    return f"{100 * value / total:.0f}%"


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: the 1.1 GB build (0.5 GB quick) and where its time goes."""
    quick_args = ["--size-gb", "0.5", "--rounds", "2", "--no-datasets", "--privacy"]
    args = parse(quick_args if quick else ["--privacy"])
    args.work = work
    report, comparison = compare(args)
    table = source_data(work, args.size_gb, "images", args.min_mb, args.max_mb)
    report["profile"] = merged = profile(table, work, 2 if quick else 3)
    write_result(HERE / "results" / "build-run-all.json", report)
    tidy(work, ["source-*"])
    made = [build_table(report, quick), phases_table(merged, comparison.cpu(HASHES))]
    return made + ([privacy_table(report)] if "privacy_scan" in report else [])


def privacy_table(report: dict) -> Table:
    title = "The privacy preflight's cost in a build"
    return privacy_scan_table(report, "privacy-scan", title, "the same data as the build table")


# the command line -------------------------------------------------------------------------------
def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.1)
    parser.add_argument("--min-mb", type=float, default=10)
    parser.add_argument("--max-mb", type=float, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers", default="0", help="nifti2parquet --workers (0: the default, one per two cores)"
    )
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    parser.add_argument("--no-datasets", action="store_true", help="skip the datasets route")
    parser.add_argument(
        "--privacy", action="store_true", help="also compare the build with its scan on and off"
    )
    parser.add_argument("--profile", type=int, default=0, help="profile this many more builds")
    parser.add_argument(
        "--shape",
        choices=["images", "sessions"],
        default="images",
        help="one image per row, or sessions (T1w + 1-3 BOLD runs per row)",
    )
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench"
    )
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    report, comparison = compare(args)
    print(
        f"\n{report['files']} images, {report['data_bytes'] / 1e9:.2f} GB, largest row "
        f"{report['largest_row'] / 1e6:.0f} MB, {'cold' if args.cold else 'warm'} page cache, "
        f"{args.rounds} rounds\n"
    )
    print(comparison.table(report["data_bytes"]))
    print(f"\nbuild / cp -r          {report['build_over_cp']:.2f}x   (target <= 1.5x)")
    print(f"hashes alone / cp -r   {report['hashes_over_cp']:.2f}x   (the floor with hashes on)")
    print(f"previews / no previews {report['previews_over_build']:.2f}x (two medians)")
    print(
        f"build peak RSS         {comparison.rss(PREVIEWS) / 1e6:.0f} MB   "
        f"(target <= 2 x largest row + 200 MB = {report['rss_bound'] / 1e6:.0f} MB)"
    )
    if "rss_over_datasets" in report:
        print(f"build RSS / datasets   {report['rss_over_datasets']:.2f}   (target <= 0.20)")
    if args.privacy:
        print_privacy(report["privacy_scan"])
    if args.profile:
        table = source_data(args.work, args.size_gb, args.shape, args.min_mb, args.max_mb)
        report["profile"] = merged = profile(table, args.work, args.profile)
        print("\n" + phases_table(merged, comparison.cpu(HASHES)).markdown())
    suffix = "" if args.shape == "images" else "-sessions"
    name = f"build-{args.size_gb}gb{suffix}-w{args.workers}{'-cold' if args.cold else ''}.json"
    write_result(HERE / "results" / name, report)


if __name__ == "__main__":
    main()

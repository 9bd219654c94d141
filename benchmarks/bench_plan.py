"""What planning costs per file: ``inspect`` and ``build`` of BIDS trees of many small files.

    python benchmarks/bench_plan.py                       # 4,502, 18,002 and 180,002 files
    python benchmarks/bench_plan.py --subjects 250 1000   # 4,502 and 18,002 files only

The trees come from ``many_files.py`` (2 sessions of 9 files per subject: tiny real NIfTI images,
sidecars, events, bval/bvec), generated once under ``--work``. For each tree, each as its own
process: ``nifti2parquet inspect TREE --quiet`` (listing, header checks, sidecar inheritance,
privacy scan and the plan; nothing written) and ``nifti2parquet build TREE OUT --quiet && sync``
(the same, then the shards, the files config, the card). The images are tiny, so both measure
the cost of the number of files: wall time and the peak memory of the process tree, and per file
the slope from the tree before (what one more file costs, without the fixed start-up).

A command still running after ``--limit-min`` minutes (20) is stopped and its tree says so. A
million files is extrapolated from the last two trees each command finished, linearly, and said
so: targets are a million files planned in < 4 minutes and < 1 GB, and <= 0.2 ms and <= 1 KB per
file. Planning is what ``inspect`` does (issue 21 measured it so); ``build`` also hashes and copies
every file into its shards, and its figures are shown beside it, each against the same bounds.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
from pathlib import Path

from harness import PYTHON, TIMED_OUT, fresh, measure, tidy, write_result
from many_files import files_for, make_tree
from tables import Table, met, seconds

HERE = Path(__file__).parent
MILLION = 1_000_000


def tree_for(work: Path, subjects: int) -> Path:
    tree = work / f"many-{subjects}"
    done = tree / ".complete"
    if not done.exists():
        print(f"generating {files_for(subjects):,} files in {tree} ...", flush=True)
        fresh(tree)
        make_tree(tree, subjects)
        done.touch()
    return tree


def warm(tree: Path) -> None:
    """Read every file of ``tree`` once, so the command that follows meets a warm page cache:
    the benchmarks before this one write gigabytes, and a kernel may page out what was not
    touched for a while (this machine's DAMON pages out page cache left idle for about a minute:
    an `inspect` of the 180,002-file tree a minute after the last read 41.7 s, 134,608 blocks
    read from disk; right after a warming read 33.5 s, 1,728 blocks)."""
    subprocess.run(["sh", "-c", f"find '{tree}' -type f -exec cat {{}} + > /dev/null"], check=True)


def measure_tree(work: Path, subjects: int, rounds: int, limit: float) -> dict:
    """Both commands on one tree, interleaved; a command still running after ``limit`` seconds
    is stopped, and the point says so (a time it did not finish in, the peak it had reached)."""
    tree = tree_for(work, subjects)
    out = work / "out"
    commands = {
        "inspect": f"'{PYTHON}' -m nifti2parquet inspect '{tree}' --quiet > /dev/null",
        "build": f"'{PYTHON}' -m nifti2parquet build '{tree}' '{out}' --quiet > /dev/null && sync",
    }
    runs: dict[str, list] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            if runs[name] and runs[name][-1].returncode == TIMED_OUT:
                continue
            fresh(out)
            warm(tree)
            run = measure(name, ["sh", "-c", command], timeout=limit)
            if run.returncode not in (0, TIMED_OUT):
                raise SystemExit(f"{name} of {tree} failed")
            runs[name].append(run)
    fresh(out)
    point: dict = {"files": files_for(subjects), "subjects": subjects, "rounds": rounds}
    for key in ("seconds", "cpu_seconds", "peak_rss", "stopped"):
        point[key] = {}
    for name, done in runs.items():
        stopped = done[-1].returncode == TIMED_OUT
        point["stopped"][name] = limit if stopped else None
        point["seconds"][name] = None if stopped else statistics.median(r.seconds for r in done)
        point["cpu_seconds"][name] = statistics.median(r.cpu for r in done)
        point["peak_rss"][name] = max(r.peak_rss for r in done)
        state = (
            f"stopped after {limit / 60:.0f} min" if stopped else f"{point['seconds'][name]:.2f} s"
        )
        print(f"{point['files']:,} files, {name}: {state}, "
              f"{point['peak_rss'][name] / 1e6:,.0f} MB", flush=True)  # fmt: skip
    return point


def slopes(points: list[dict], command: str) -> list[tuple[float, float] | None]:
    """Per point, (seconds, bytes) one more file costs, from the point before (first: None)."""
    found: list[tuple[float, float] | None] = [None]
    for before, after in itertools.pairwise(points):
        files = after["files"] - before["files"]
        if before["seconds"][command] is None or after["seconds"][command] is None:
            found.append(None)
            continue
        found.append(
            (
                (after["seconds"][command] - before["seconds"][command]) / files,
                (after["peak_rss"][command] - before["peak_rss"][command]) / files,
            )
        )
    return found


def planning_table(points: list[dict]) -> Table:
    rows = []
    per_file = {c: slopes(points, c) for c in ("inspect", "build")}
    for i, point in enumerate(points):
        row = [f"{point['files']:,}"]
        for command in ("inspect", "build"):
            stopped = point["stopped"][command]
            row += [
                f"> {_duration(stopped)} (stopped)"
                if stopped
                else seconds(point["seconds"][command]),
                f"{'>= ' if stopped else ''}{point['peak_rss'][command] / 1e6:,.0f} MB",
                _per_file(per_file[command][i]),
            ]
        rows.append(tuple(row))
    notes = [
        "BIDS trees of tiny real images (`many_files.py`: per subject 2 sessions of a T1w, a BOLD "
        "run and a DWI run with their sidecars, events, bval and bvec); default options; one "
        "process per command, warm page cache (every file read just before each run), rounds per "
        "tree "
        + ", ".join(str(p["rounds"]) for p in points)
        + " (medians); per file: the slope from the tree above (what one more file costs, "
        "start-up aside)",
    ]
    extrapolated = ["1,000,000 (extrapolated, not measured)"]
    for command in ("inspect", "build"):
        complete = [p for p in points if p["seconds"][command] is not None]
        if len(complete) < 2:
            extrapolated += ["", "", ""]
            notes.append(
                f"a million files, `{command}`: not extrapolated (fewer than 2 trees done)"
            )
            continue
        before, last = complete[-2:]
        slope_s, slope_b = slopes([before, last], command)[1]  # type: ignore[misc]
        time_1m = last["seconds"][command] + slope_s * (MILLION - last["files"])
        rss_1m = last["peak_rss"][command] + slope_b * (MILLION - last["files"])
        extrapolated += [f"~{time_1m / 60:,.1f} min", f"~{rss_1m / 1e6:,.0f} MB", ""]
        what = "planning" if command == "inspect" else "planning, then hashing and copying"
        notes.append(
            f"a million files, `{command}` ({what}): ~{time_1m / 60:.1f} min and "
            f"~{rss_1m / 1e9:.2f} GB, "
            f"extrapolated linearly from the {before['files']:,}- and {last['files']:,}-file "
            f"trees (target < 4 min: {met(time_1m < 240)}, < 1 GB: {met(rss_1m < 1e9)}); "
            f"per file there: {slope_s * 1e3:.2f} ms (target <= 0.2 ms: "
            f"{met(slope_s <= 0.2e-3)}) and {slope_b / 1e3:.2f} KB (target <= 1 KB: "
            f"{met(slope_b <= 1e3)})"
        )
    rows.append(tuple(extrapolated))
    columns = (
        "files",
        "inspect",
        "inspect peak",
        "inspect per file",
        "build",
        "build peak",
        "build per file",
    )
    title = "Planning: inspect and build of many small files"
    return Table("planning", title, columns, tuple(rows), tuple(notes))


def _duration(value: float) -> str:
    return f"{value / 60:.0f} min" if value >= 120 else f"{value:.0f} s"


def _per_file(slope: tuple[float, float] | None) -> str:
    if slope is None:
        return ""
    return f"{slope[0] * 1e3:.2f} ms, {slope[1] / 1e3:,.1f} KB"


def run(work: Path, subjects: list[int], rounds: int, limit: float) -> list[dict]:
    # every tree the same number of rounds, the median taken: one run of the largest tree swung
    # by 20% with the machine (47.8 s in one run_all, 40.7 s in the one before, the same code
    # timed by hand between 44.6 and 62.7 s), and the slope per file is read from it
    points = [measure_tree(work, n, rounds, limit) for n in sorted(subjects)]
    write_result(HERE / "results" / "plan.json", {"points": points})
    return points


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: 4,502, 18,002 and 180,002 files, 3 rounds each (the first two, one round each,
    quick)."""
    subjects = [250, 1000] if quick else [250, 1000, 10_000]
    points = run(work, subjects, 1 if quick else 3, 20 * 60)
    tidy(work, ["many-*"])
    return [planning_table(points)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[250, 1000, 10_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit-min", type=float, default=20, help="stop a command after this")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-plan"
    )
    args = parser.parse_args()
    points = run(args.work, args.subjects, args.rounds, args.limit_min * 60)
    print("\n" + planning_table(points).markdown())


if __name__ == "__main__":
    main()

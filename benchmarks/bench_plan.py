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

A million files is extrapolated from the last two trees, linearly, and said so: targets are a
million files planned in < 4 minutes and < 1 GB, and <= 0.2 ms and <= 1 KB per file.
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

from harness import PYTHON, Comparison, fresh, interleave, measure, write_result
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


def measure_tree(work: Path, subjects: int, rounds: int) -> dict:
    tree = tree_for(work, subjects)
    files = files_for(subjects)

    def inspect() -> object:
        command = f"'{PYTHON}' -m nifti2parquet inspect '{tree}' --quiet > /dev/null"
        return measure("inspect", ["sh", "-c", command])

    def build() -> object:
        out = fresh(work / "out")
        command = f"'{PYTHON}' -m nifti2parquet build '{tree}' '{out}' --quiet > /dev/null && sync"
        return measure("build", ["sh", "-c", command])

    comparison = Comparison()
    interleave(rounds, [("inspect", inspect), ("build", build)], comparison)
    fresh(work / "out")
    print(f"{files:,} files:\n{comparison.table(files)}", flush=True)
    return {"files": files, "subjects": subjects, "rounds": rounds, **comparison.results()}


def slopes(points: list[dict], command: str) -> list[tuple[float, float] | None]:
    """Per point, (seconds, bytes) one more file costs, from the point before (first: None)."""
    found: list[tuple[float, float] | None] = [None]
    for before, after in itertools.pairwise(points):
        files = after["files"] - before["files"]
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
            row += [
                seconds(point["seconds"][command]),
                f"{point['peak_rss'][command] / 1e6:,.0f} MB",
                _per_file(per_file[command][i]),
            ]
        rows.append(tuple(row))
    notes = [
        "BIDS trees of tiny real images (`many_files.py`: per subject 2 sessions of a T1w, a BOLD "
        "run and a DWI run with their sidecars, events, bval and bvec); default options; one "
        "process per command, rounds per tree "
        + ", ".join(str(p["rounds"]) for p in points)
        + " (medians); per file: the slope from the tree above (what one more file costs, "
        "start-up aside)",
    ]
    if len(points) >= 2:
        last, row = points[-1], ["1,000,000 (extrapolated, not measured)"]
        for command in ("inspect", "build"):
            slope_s, slope_b = per_file[command][-1]  # type: ignore[misc]
            time_1m = last["seconds"][command] + slope_s * (MILLION - last["files"])
            rss_1m = last["peak_rss"][command] + slope_b * (MILLION - last["files"])
            row += [f"~{time_1m / 60:,.1f} min", f"~{rss_1m / 1e6:,.0f} MB", ""]
            notes.append(
                f"a million files, `{command}`: ~{time_1m / 60:.1f} min and ~{rss_1m / 1e9:.2f} "
                f"GB, extrapolated linearly from the {points[-2]['files']:,}- and "
                f"{last['files']:,}-file trees (target < 4 min: {met(time_1m < 240)}, < 1 GB: "
                f"{met(rss_1m < 1e9)})"
            )
        rows.append(tuple(row))
        slope_s, slope_b = per_file["build"][-1]  # type: ignore[misc]
        notes.append(
            f"per file, `build`, at the largest tree: {slope_s * 1e3:.2f} ms (target <= 0.2 ms: "
            f"{met(slope_s <= 0.2e-3)}) and {slope_b / 1e3:.1f} KB (target <= 1 KB: "
            f"{met(slope_b <= 1e3)})"
        )
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


def _per_file(slope: tuple[float, float] | None) -> str:
    if slope is None:
        return ""
    return f"{slope[0] * 1e3:.2f} ms, {slope[1] / 1e3:,.1f} KB"


def run(work: Path, subjects: list[int], rounds: int) -> list[dict]:
    points = [measure_tree(work, n, 1 if n >= 10_000 else rounds) for n in sorted(subjects)]
    write_result(HERE / "results" / "plan.json", {"points": points})
    return points


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: 4,502, 18,002 and 180,002 files (the first two, one round each, quick)."""
    subjects = [250, 1000] if quick else [250, 1000, 10_000]
    return [planning_table(run(work, subjects, 1 if quick else 2))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[250, 1000, 10_000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-plan"
    )
    args = parser.parse_args()
    points = run(args.work, args.subjects, args.rounds)
    print("\n" + planning_table(points).markdown())


if __name__ == "__main__":
    main()

"""What the card's previews cost a build: time and peak memory, with and without ``--no-previews``.

    python benchmarks/bench_previews.py                    # every data set, 5 rounds
    python benchmarks/bench_previews.py --data images arc  # some of them
    python benchmarks/bench_previews.py --quick            # 0.3 GB of each, 3 rounds

``benchmarks/run_all`` runs it (``tables()``): every data set in the full run, ``images`` and
``arc`` at about 0.3 GB in ``--quick``.

Data sets (made once under ``--work`` and reused), about 1.1 GB each:

- ``images``: ``bench_build.py``'s, one 10-150 MB ``.nii.gz`` per row (64x64xN int16 noise in
  stored gzip blocks: inflating is a copy, so reading is what costs);
- ``sessions``: ``bench_build.py --shape sessions``'s, a T1w and 1-3 BOLD runs per row (a
  ``List(Nifti())`` column);
- ``arc``: ``arc_tree.py``'s ARC-shaped BIDS tree (8 image columns, 4D BOLD and DWI);
- ``compressed``: T1w-like volumes (256x256x176, a head-sized ellipsoid with texture and
  noise) gzip'ed at level 6 as scanners' converters do: 2:1, so inflating costs CPU, as on real
  data.

Each round builds each data set twice, each run its own process until the data is on disk
(``&& sync``), with previews and without, back to back, taking turns at going first (of two large
writes in a row on a busy disk, the second is often slower), and then draws the previews alone in
a process of its own (the source read as the build reads it, then ``draw_previews`` timed: wall
and CPU seconds). What previews add is the median of the rounds' own differences: the wall-time
ratio of the two builds of a round (they met the same load on a shared machine, where the ratio
of two medians flips with the noise), and the difference of their CPU seconds (user + system,
every thread), which a busy machine moves far less. Peak RSS (the process tree) is compared too;
the targets: previews add at most 10% to the build's time, judged on the pairs' CPU over the
build's wall time (a build keeps both cores busy, so each CPU-second it adds is at most a second
of its time), and at most 50 MB to its peak memory. The drawing alone's CPU over the same wall
time is the steady floor of that share: the pairs' CPU also counts the drawing slowed by the
build's threads beside it, and the builds' own spread.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
from arc_tree import make_arc_tree
from harness import PYTHON, Comparison, Run, fresh, image_dataset, measure, session_table
from harness import write_result as save_result
from tables import Table, met, percent

HERE = Path(__file__).parent
DATA = ("images", "sessions", "arc", "compressed")
QUICK_DATA = ("images", "arc")
TIME_TARGET, MEMORY_TARGET = 0.10, 50e6
# bytes of each table-source data set, and the ARC tree's scale, full size and quick
SIZES = {False: (1.1e9, 0.004), True: (0.3e9, 0.001)}
DESCRIPTIONS = {
    "images": "one 10–150 MB `.nii.gz` per row (stored gzip), the build benchmark's data",
    "sessions": "a T1w and 1–3 BOLD runs per row (a list column)",
    "arc": "ARC-shaped BIDS tree (`arc_tree.py`), 8 image columns, 4D BOLD and DWI",
    "compressed": "T1w-like 256x256x176 volumes at gzip level 6",
}


def compressed_t1w(folder: Path, total: int, distinct: int = 6) -> Path:
    """A table of T1w-like ``.nii.gz`` files adding up to ``total`` bytes (``distinct`` different
    volumes, copied under new names: the build hashes and copies every file all the same)."""
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for seed in range(distinct):
        path = folder / f"sub-{seed:03d}_T1w.nii.gz"
        image = nib.Nifti1Image(_head(seed), np.diag([1.0, 1.0, 1.0, 1.0]))
        path.write_bytes(gzip.compress(image.to_bytes(), compresslevel=6, mtime=0))
        made.append(path)
    copies, written = list(made), sum(p.stat().st_size for p in made)
    while written < total:
        source = made[len(copies) % distinct]
        copy = folder / f"sub-{len(copies):03d}_T1w.nii.gz"
        shutil.copyfile(source, copy)
        copies.append(copy)
        written += copy.stat().st_size
    table = folder / "participants.csv"
    rows = ["subject_id,t1w"] + [f"{p.name.split('_')[0]},{p.name}" for p in copies]
    table.write_text("\n".join(rows) + "\n")
    return table


def _head(seed: int) -> np.ndarray:
    """256x256x176 int16: an ellipsoid 'head' with smooth shells and scanner-like noise."""
    rng = np.random.default_rng(seed)
    x, y, z = np.ogrid[:256, :256, :176]
    r = np.sqrt(((x - 128) / 70.0) ** 2 + ((y - 128) / 95.0) ** 2 + ((z - 88) / 80.0) ** 2)
    head = np.where(r < 1, 600 + 300 * np.cos(r * (8 + seed)), 0) + np.where(r < 1.08, 90, 0)
    return np.abs(head + rng.normal(0, 20, head.shape)).astype(np.int16)


def source_of(name: str, work: Path, quick: bool = False) -> Path:
    """The data set's table or tree, made if missing (about 1.1 GB; 0.3 GB quick)."""
    folder = work / (f"{name}-quick" if quick else name)
    size, scale = SIZES[quick]
    ready = folder / ".ready"
    if not ready.exists():
        print(f"generating {name} in {folder} ...", flush=True)
        fresh(folder)
        if name == "images":
            image_dataset(folder, size / 1e9)
        elif name == "sessions":
            folder.mkdir(parents=True)
            session_table(folder, int(size))
        elif name == "arc":
            make_arc_tree(folder / "tree", scale)
        else:
            compressed_t1w(folder, int(size))
        ready.touch()
    return folder / "tree" if name == "arc" else folder / "participants.csv"


def build_step(source: Path, target: Path, previews: bool) -> Callable[[], Run]:
    def step() -> Run:
        fresh(target)
        flag = "" if previews else " --no-previews"
        command = f"'{PYTHON}' -m nifti2parquet build '{source}' '{target}' --quiet{flag} && sync"
        return measure(label(previews), ["sh", "-c", command])

    return step


def label(previews: bool) -> str:
    return "build" if previews else "build --no-previews"


DRAWING = "drawing alone"
_DRAW = """
import sys, time
from nifti2parquet.card.previews.pictures import draw_previews
from nifti2parquet.sources import SourceOptions, read_source
rows = read_source(sys.argv[1], SourceOptions())
wall, cpu = time.perf_counter(), time.process_time()
pictures = draw_previews(rows, SourceOptions().storage)
print("DRAW", time.perf_counter() - wall, time.process_time() - cpu, len(pictures))
"""


def drawing_step(source: Path) -> Callable[[], Run]:
    def step() -> Run:
        return measure(DRAWING, [PYTHON, "-c", _DRAW, str(source)])

    return step


def drawing_times(comparison: Comparison) -> tuple[float, float]:
    """Median wall and CPU seconds of the drawing, as timed inside its process."""
    lines = [
        next(x for x in r.output.splitlines() if x.startswith("DRAW "))
        for r in comparison.runs[DRAWING]
    ]
    walls, cpus = zip(*((float(x.split()[1]), float(x.split()[2])) for x in lines))
    return statistics.median(walls), statistics.median(cpus)


def measure_data(name: str, source: Path, work: Path, rounds: int) -> dict:
    """The paired rounds on one data set: the builds with and without previews back to back
    (taking turns at going first), the drawing alone; the results file's entry (printed as it
    is measured)."""
    target = work / "out"
    on, off = build_step(source, target, True), build_step(source, target, False)
    comparison, pairs = Comparison(), []
    for round_ in range(rounds):
        pair = {}
        for previews in (True, False) if round_ % 2 == 0 else (False, True):
            pair[previews] = (on if previews else off)()
            comparison.add(pair[previews])
        pairs.append((pair[True], pair[False]))
        comparison.add(drawing_step(source)())
    fresh(target)
    build_seconds = comparison.seconds(label(False))
    time_share, cpu_added, cpu_share = paired(pairs)
    time_bound = drawing_times(comparison)[1] / build_seconds
    memory = comparison.rss(label(True)) - comparison.rss(label(False))
    wall, cpu = drawing_times(comparison)
    data_bytes = _bytes(source)
    print(f"\n{name}: {data_bytes / 1e9:.2f} GB, {rounds} rounds")
    print(comparison.table(data_bytes))
    print(
        f"builds, previews on / off, the median of {rounds} paired rounds: "
        f"{time_share * 100:+.1f}% time, "
        f"{cpu_added:+.2f} s CPU ({cpu_share * 100:+.1f}% of the build's time, target <= "
        f"{TIME_TARGET * 100:.0f}%), "
        f"{memory / 1e6:+.0f} MB peak (target <= {MEMORY_TARGET / 1e6:.0f} MB)\n"
        f"drawing alone: {wall:.2f} s ({cpu:.2f} s CPU); its CPU over the build without "
        f"previews: {time_bound * 100:.1f}%",
        flush=True,
    )
    return {
        **comparison.results(),
        "data_bytes": data_bytes,
        "rounds": rounds,
        "time_share": time_share,
        "round_time_shares": [a.seconds / b.seconds - 1 for a, b in pairs],
        "cpu_added": cpu_added,
        "cpu_share": cpu_share,
        "time_bound": time_bound,
        "memory": memory,
        "drawing_seconds": wall,
        "drawing_cpu_seconds": cpu,
        "drawing_share": wall / build_seconds,
    }


def paired(pairs: list[tuple[Run, Run]]) -> tuple[float, float, float]:
    """What previews add, from rounds of a build with them and one without run back to back: the
    median of the rounds' wall-time ratios (on / off - 1), of their CPU differences (user + sys
    seconds, every thread), and of those over the build's wall time. A round compares two builds
    that met the same load on the machine, so a burst of other work moves both, not the
    difference; the median drops the round where it hit only one."""
    shares = [on.seconds / off.seconds - 1 for on, off in pairs]
    added = [on.cpu - off.cpu for on, off in pairs]
    cpu_shares = [(on.cpu - off.cpu) / off.seconds for on, off in pairs]
    return statistics.median(shares), statistics.median(added), statistics.median(cpu_shares)


def previews_table(report: dict) -> Table:
    """One row per data set: the builds with and without previews, what previews add measured
    two ways (the paired builds' CPU, which the target is judged on; the drawing alone's, the
    steady floor it is checked against)."""
    rows, names = [], [n for n in DATA if n in report]
    for name in names:
        r = report[name]
        shares, peaks = r["round_time_shares"], r["peak_rss"]
        rows.append(
            (
                f"`{name}`: {r['data_bytes'] / 1e9:.2f} GB",
                f"{r['seconds'][label(True)]:.2f} / {r['seconds'][label(False)]:.2f} s",
                f"{percent(r['time_share'])} ({percent(min(shares))} to {percent(max(shares))})",
                f"{r['cpu_added']:+.2f} s ({percent(r['cpu_share'])}) "
                f"{met(r['cpu_share'] <= TIME_TARGET)}",
                f"{r['drawing_seconds']:.2f} s ({r['drawing_cpu_seconds']:.2f} s CPU)",
                f"{percent(r['time_bound'])} {met(r['time_bound'] <= TIME_TARGET)}",
                f"{peaks[label(True)] / 1e6:,.0f} / {peaks[label(False)] / 1e6:,.0f} MB",
                f"{r['memory'] / 1e6:+,.0f} MB {met(r['memory'] <= MEMORY_TARGET)}",
            )
        )
    cpu_met = sum(report[n]["cpu_share"] <= TIME_TARGET for n in names)
    time_met = sum(report[n]["time_bound"] <= TIME_TARGET for n in names)
    memory_met = sum(report[n]["memory"] <= MEMORY_TARGET for n in names)
    rounds = report[names[0]]["rounds"] if names else 0
    notes = (
        "data: " + "; ".join(f"`{n}`: {DESCRIPTIONS[n]}" for n in names),
        f"each build its own process until the data is on disk (`&& sync`), with previews (the "
        f"default) and `--no-previews` back to back, taking turns at going first; {rounds} such "
        f"pairs; builds: median wall seconds; peak memory of the process tree, the largest of "
        f"the rounds",
        "time added, pairs: the median of the pairs' ratios of wall time (on / off - 1; in "
        "brackets the lowest and the highest), both builds of a pair having met the same load; "
        "CPU added, pairs: the median of the pairs' differences of CPU seconds (user + system, "
        "every thread of the build), and that over the build's wall time (without previews): "
        "what drawing inside a build costs it, on a build that keeps both cores busy",
        "drawing alone: the previews drawn in a process of their own (the source read as the "
        "build reads it, `draw_previews` timed inside: wall and CPU seconds); its CPU over the "
        "build's wall time: the same share from the drawing alone, steady when the builds' own "
        "CPU is not (the pairs' CPU also counts the drawing slowed by the build's threads "
        "beside it, and the builds' own spread)",
        f"targets: previews add at most {TIME_TARGET * 100:.0f}% to the build's time (the "
        f"pairs' CPU: met on {cpu_met} of {len(names)} data sets; the drawing alone: "
        f"{time_met} of {len(names)}) and at most {MEMORY_TARGET / 1e6:.0f} MB to its peak "
        f"memory (met on {memory_met} of {len(names)})",
    )
    columns = (
        "data",
        "builds, on / off",
        "time added, pairs",
        "CPU added, pairs (<= 10%)",
        "drawing alone",
        "drawing alone's CPU (<= 10%)",
        "peak, on / off",
        "memory added (<= 50 MB)",
    )
    title = "What the card's previews cost a build"
    return Table("previews", title, columns, tuple(rows), notes)


def run(data: list[str], rounds: int, work: Path, quick: bool) -> dict:
    report: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    }
    for name in data:
        report[name] = measure_data(name, source_of(name, work, quick), work, rounds)
    save_result(HERE / "results" / f"previews{'-quick' if quick else ''}.json", report)
    return report


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: every data set at about 1.1 GB, 5 paired rounds (``images`` and ``arc`` at
    about 0.3 GB, 3 rounds, quick)."""
    report = run(list(QUICK_DATA if quick else DATA), 3 if quick else 5, work, quick)
    return [previews_table(report)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=DATA, default=None)
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (--quick: 3)")
    parser.add_argument("--quick", action="store_true", help="about 0.3 GB of each data set")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-previews"
    )
    args = parser.parse_args()
    data = args.data or list(QUICK_DATA if args.quick else DATA)
    report = run(data, args.rounds or (3 if args.quick else 5), args.work, args.quick)
    print("\n" + previews_table(report).markdown())


def _bytes(source: Path) -> int:
    folder = source if source.is_dir() else source.parent
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


if __name__ == "__main__":
    main()

"""A Medical Segmentation Decathlon task: build both splits against ``cp -r``, and one case back
from the Hub.

    python benchmarks/bench_segmentation.py            # 480 cases x 4 channels of 1-2 MB: ~3 GB
    python benchmarks/bench_segmentation.py --quick    # 48 cases: ~0.3 GB, 2 rounds
    python benchmarks/bench_segmentation.py --cases 160

``benchmarks/run_all`` runs it (``tables()``): 480 cases, 3 rounds (48 cases, 2 rounds, quick).

The task is generated once into ``--work`` (it needs about three times its size on disk: the
task, the ``cp`` copy or the build, the local Hub's storage), shaped like ``Task01_BrainTumour``:
one 4D ``.nii.gz`` per case (64 x 64 x S x 4 int16, each channel 1-2 MB of incompressible voxels
in stored gzip blocks, as real compressed scans barely compress), a small gzipped uint8 label per
training case, five in six cases in ``imagesTr/``, the rest in ``imagesTs/``, a ``dataset.json``
with the ``training`` and ``test`` lists, and a ``._`` resource fork beside every image, as in
the official archives.

Each round, each as its own process, until the data is on disk: ``cp -r TASK DST && sync`` (the
I/O floor), the two sha256 passes a build makes and nothing else (``hash_floor.py``: the floor
under any build with hashes on), then ``nifti2parquet build TASK OUT && nifti2parquet build TASK
OUT --split test`` and ``sync`` (wall time and the peak memory of the process tree), and the same
two builds with ``--no-previews`` (the data path alone: previews decode images). After the
rounds the build is pushed (Git LFS) to the local Hub server of the tests, and ``export REPO
--split train --case C`` of one case is run, with the bytes the server sent: at most the case's
bytes plus 1 MB per shard read (footers and small columns). The exported files are checked
against the task's.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
from bench_push import TOKEN, client_env
from harness import PYTHON, Comparison, fresh, interleave, measure, tidy, write_result
from tables import Table, megabytes, met, ratio, seconds

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from hubserver import HubServer  # noqa: E402

REPO = "bench/brain-tumour"
CP = "cp -r + sync"
HASHES = "the two sha256 alone (no copy)"
BUILD = "build train + test + sync"
NO_PREVIEWS = "the same, --no-previews"
EXPORT = "export --case (range reads)"
MB = 1 << 20
CHANNELS = 4
FORK = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(4000)


def nifti_4d(path: Path, channel_bytes: int, seed: int) -> int:
    """A 64 x 64 x S x 4 int16 ``.nii.gz`` of about ``4 * channel_bytes``, stored gzip blocks."""
    import nibabel as nib

    slices = max(1, channel_bytes // (2 * 64 * 64))
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((64, 64, slices, CHANNELS))
    header.set_zooms((1.0, 1.0, 1.0, 1.0))
    header["vox_offset"] = 352
    voxels = np.random.default_rng(seed).bytes(2 * 64 * 64 * slices * CHANNELS)
    path.write_bytes(gzip.compress(header.binaryblock + bytes(4) + voxels, 0, mtime=0))
    return slices


def label(path: Path, slices: int, seed: int) -> None:
    """A uint8 label on the image's grid: a labelled block per value, gzipped as nnU-Net does."""
    import nibabel as nib

    data = np.zeros((64, 64, slices), np.uint8)
    for value in (1, 2, 3):
        start = 8 * value + seed % 8
        data[start : start + 12, 20:40, slices // 4 : slices // 2] = value
    image = nib.Nifti1Image(data, np.eye(4))
    path.write_bytes(gzip.compress(image.to_bytes(), 1, mtime=0))


def make_task(root: Path, cases: int) -> Path:
    """The task folder (made once, kept in ``--work``)."""
    if (root / "dataset.json").exists():
        return root
    print(f"generating an MSD task of {cases} cases in {root} ...", flush=True)
    fresh(root)
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    training, test = [], []
    for i in range(cases):
        case = f"BRATS_{i:03d}"
        is_test = i % 6 == 5
        image = root / ("imagesTs" if is_test else "imagesTr") / f"{case}.nii.gz"
        slices = nifti_4d(image, int(rng.integers(1_000_000, 2_000_000)), seed=i)
        (image.parent / f"._{image.name}").write_bytes(FORK)
        if is_test:
            test.append(f"./imagesTs/{case}.nii.gz")
            continue
        label(root / f"labelsTr/{case}.nii.gz", slices, seed=i)
        training.append(
            {"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"}
        )
    description = {
        "name": "BRATS",
        "description": "Gliomas segmentation tumour and oedema in on brain images",
        "licence": "CC-BY-SA 4.0",
        "release": "2.0 04/05/2018",
        "tensorImageSize": "4D",
        "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
        "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing"},
        "numTraining": len(training),
        "numTest": len(test),
        "training": training,
        "test": test,
    }
    (root / "dataset.json").write_text(json.dumps(description, indent=4))
    return root


def files_of(root: Path, names: list[str]) -> int:
    return sum((root / name).stat().st_size for name in names)


def same_files(task: Path, dest: Path) -> int:
    """Every file export wrote equals the task's at that path; how many."""
    written = [p for p in dest.rglob("*") if p.is_file()]
    for path in written:
        rel = path.relative_to(dest)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != hashlib.sha256((task / rel).read_bytes()).hexdigest():
            raise SystemExit(f"exported {rel} differs from the task's")
    return len(written)


def run(cases: int, rounds: int, work: Path) -> dict:
    """The task (made once), the interleaved rounds, one case back from the Hub; the report."""
    task = make_task(work / f"Task01_BrainTumour-{cases}", cases)
    task_bytes = sum(p.stat().st_size for p in task.rglob("*") if p.is_file())
    out = work / "out"

    def cp() -> object:
        target = fresh(work / "cp")
        return measure(CP, ["sh", "-c", f"cp -r '{task}' '{target}' && sync"])

    def hashes() -> object:
        return measure(HASHES, [PYTHON, str(HERE / "hash_floor.py"), str(task)])

    def build(name: str = BUILD, options: str = "") -> object:
        fresh(out)
        run = f"'{PYTHON}' -m nifti2parquet build '{task}' '{out}' --quiet {options}"
        return measure(name, ["sh", "-c", f"{run} && {run} --split test && sync"])

    def without_previews() -> object:
        return build(NO_PREVIEWS, "--no-previews")

    local = Comparison()
    steps = [("cp", cp), ("hashes", hashes), ("no previews", without_previews), ("build", build)]
    interleave(rounds, steps, local)
    fresh(work / "cp")
    report = export_one_case(task, out, work)
    report.update(
        machine=f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        cases=cases,
        task_bytes=task_bytes,
        rounds=rounds,
        local=local.results(),
        build_over_cp=local.seconds(BUILD) / local.seconds(CP),
        hashes_over_cp=local.seconds(HASHES) / local.seconds(CP),
        no_previews_over_cp=local.seconds(NO_PREVIEWS) / local.seconds(CP),
    )
    print(
        f"\nMSD-shaped task: {cases} cases x {CHANNELS} channels, {task_bytes / 1e9:.2f} GB, "
        f"{rounds} rounds, warm page cache\n"
    )
    print(local.table(task_bytes))
    print(f"\nbuild / cp -r          {report['build_over_cp']:.2f}x")
    print(f"without previews / cp  {report['no_previews_over_cp']:.2f}x")
    print(f"hashes alone / cp -r   {report['hashes_over_cp']:.2f}x   (the floor with hashes on)")
    print(f"build peak RSS         {local.rss(BUILD) / 1e6:.0f} MB")
    print(
        f"\none case ({report['case']}: {report['case_files']} files, "
        f"{report['case_bytes'] / 1e6:.1f} MB) from the local Hub server: served "
        f"{report['served'] / 1e6:.2f} MB from {report['shards_read']} of "
        f"{report['shards_indexed']} shards; bound {report['bound'] / 1e6:.2f} MB "
        f"(the case's files + 1 MB per shard read): {'met' if report['within'] else 'NOT met'}"
    )
    write_result(HERE / "results" / f"segmentation-{cases}.json", report)
    return report


def build_table(report: dict) -> Table:
    local = report["local"]
    seconds_of, cpu_of, rss_of = local["seconds"], local["cpu_seconds"], local["peak_rss"]
    cp = seconds_of[CP]
    rows = tuple(
        (
            name,
            seconds(value),
            ratio(value / cp),
            seconds(cpu_of[name]),
            f"{report['task_bytes'] / value / 1e6:,.0f}",
            megabytes(rss_of[name]),
        )
        for name, value in seconds_of.items()
    )
    notes = (
        f"an MSD-shaped task (`Task01_BrainTumour`): {report['cases']} cases, one 4D `.nii.gz` "
        f"of {CHANNELS} channels of 1–2 MB each (stored gzip), a label per training case, five "
        f"in six cases in `imagesTr/`, a `._` resource fork beside every image; "
        f"{report['task_bytes'] / 1e9:.2f} GB; warm page cache; {report['rounds']} interleaved "
        f"rounds, medians; CPU is user + system time of the whole process tree",
        f"build / `cp -r` + `sync`: **{report['build_over_cp']:.2f}x** "
        f"({report['no_previews_over_cp']:.2f}x `--no-previews`); the two sha256 alone: "
        f"{report['hashes_over_cp']:.2f}x, the floor of any build that records them; a build "
        f"of the task is two `build` runs (`train`, then `--split test`), each with its start, "
        f"privacy scan and final checks",
    )
    columns = ("", "median", "× cp + sync", "CPU", "MB/s", "peak memory")
    title = "Build of an MSD-shaped segmentation task, against cp + sync"
    return Table("segmentation-build", title, columns, rows, notes)


def export_table(report: dict) -> Table:
    command = f"`export {REPO} DST --split train --case {report['case']}`"
    rows = (
        (
            command,
            f"{report['case_files']} files, {megabytes(report['case_bytes'])}",
            f"{report['served'] / 1e6:,.2f} MB",
            f"{report['bound'] / 1e6:,.2f} MB",
            str(report["requests"]),
            seconds(report["export_seconds"]),
            megabytes(report["export_peak_rss"]),
        ),
    )
    notes = (
        f"the build pushed (Git LFS) to the local Hub server of the tests over loopback; bytes "
        f"counted on the server; the bound is the case's files (image, label, `dataset.json`) "
        f"+ 1 MB per shard whose index is read ({report['shards_indexed']} here): "
        f"{met(report['within'])}; {report['shards_read']} shard(s) read; the exported files "
        f"equal the task's (checked)",
    )
    columns = ("one case from the Hub", "case", "served", "bound", "requests", "time", "peak")
    title = "Export of one segmentation case from the Hub"
    return Table("segmentation-export", title, columns, rows, notes)


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: 480 cases (~2.9 GB; about three times that on disk while it runs), 3 rounds
    (48 cases, 2 rounds, quick)."""
    report = run(48 if quick else 480, 2 if quick else 3, work)
    tidy(work, ["Task01_*"])
    return [build_table(report), export_table(report)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="48 cases, 2 rounds")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-segmentation",
    )
    args = parser.parse_args()
    cases, rounds = (48, 2) if args.quick else (args.cases, args.rounds)
    report = run(cases, rounds, args.work)
    print("\n" + build_table(report).markdown() + "\n\n" + export_table(report).markdown())


def export_one_case(task: Path, out: Path, work: Path) -> dict:
    """Push the build, export one training case from the Hub; what the server sent."""
    with HubServer(work / "hub-storage", token=TOKEN) as server:
        env = client_env(server.url, work / "hf_home", "lfs")
        push = measure("push", [PYTHON, "-m", "nifti2parquet", "push", str(out), REPO,
                                "--quiet", "--no-xet"], env)  # fmt: skip
        if push.returncode:
            raise SystemExit("push failed")
        case = "BRATS_002"
        dest = fresh(work / "one-case")
        server.clear_log()
        command = [PYTHON, "-m", "nifti2parquet", "export", REPO, str(dest), "--split", "train",
                   "--case", case, "--json", "--quiet"]  # fmt: skip
        run = measure(EXPORT, command, env)
        if run.returncode:
            raise SystemExit("export failed")
        result = json.loads(run.output[run.output.index("{") :])
        served = sum(r.bytes_sent for r in server.requests)
    fresh(work / "hub-storage")
    files = [f"imagesTr/{case}.nii.gz", f"labelsTr/{case}.nii.gz", "dataset.json"]
    checked = same_files(task, dest)
    case_bytes = files_of(task, files)
    bound = case_bytes + MB * result["shards_indexed"]
    return {
        "case": case,
        "case_files": checked,
        "case_bytes": case_bytes,
        "served": served,
        "bytes_fetched": result["bytes_fetched"],
        "requests": result["requests"],
        "shards_read": result["shards_read"],
        "shards_indexed": result["shards_indexed"],
        "bound": bound,
        "within": served <= bound,
        "export_seconds": run.seconds,
        "export_peak_rss": run.peak_rss,
    }


if __name__ == "__main__":
    main()

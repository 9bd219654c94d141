"""Build and export of the whole public BIDS examples corpus, side by side with ``cp -r``.

    python benchmarks/bench_corpus.py                 # --rows session, 3 rounds
    python benchmarks/bench_corpus.py --rows file --rounds 1
    python benchmarks/bench_corpus.py --quick         # 8 datasets of every kind, 1 round

The corpus is ``../shared/corpora/bids-examples-*.tar.gz`` (``tests/corpus.py``: extracted once
into ``--work``, placeholder images filled with small valid ones); every dataset of it with NIfTI
images is built and exported. Many small files (18,000 in 82 datasets, 45 MB): this
measures what a build and an export cost per file, where the other benchmarks measure bytes.
Every file of each dataset folder is published (images in rows, the rest in the ``files`` config),
so the export is expected to give back every file: the report says how many came back.

Each round runs, each as its own process until the data is on disk: ``cp -r`` of the datasets +
``sync`` (the floor), the builds of every dataset one after the other in one process (Python API,
one worker, as ``nifti2parquet build DS OUT/DS``) + ``sync``, and the exports of every build
(``nifti2parquet export OUT/DS DEST/DS``) + ``sync``. Peak memory is that of the whole process
tree. A dataset whose build or export fails is counted and named, not timed apart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from harness import PYTHON, Comparison, fresh, interleave, measure, write_result

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the corpus fixture of the suite

import corpus as corpus_module  # noqa: E402

# one of each: MEG with stimuli and an empty room, iEEG, a pipeline's derivatives, ASL, PET, a
# template atlas, DWI with sessions, a dataset whose tables nifti2parquet cannot all read
QUICK = (
    "ds000117",
    "ieeg_visual",
    "synthetic",
    "asl002",
    "pet002",
    "atlas-AAL",
    "ds114",
    "eyetracking_fmri",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="*", help="default: every dataset with NIfTI images")
    parser.add_argument("--rows", default="session", help="nifti2parquet --rows")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (--quick: 1)")
    parser.add_argument("--quick", action="store_true", help=f"{len(QUICK)} datasets, 1 round")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-corpus"
    )
    parser.add_argument(
        "--worker", nargs=3, metavar=("STAGE", "FROM", "TO"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        stage, origin, target = args.worker
        print("RESULT " + json.dumps(run_stage(stage, Path(origin), Path(target), args.rows)))
        return

    archive = corpus_module.find_archive()
    if archive is None:
        sys.exit(corpus_module.missing_reason())
    corpus = corpus_module.prepare(archive, args.work / "corpus")
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.quick and not args.datasets:
        args.datasets = [name for name in QUICK if name in corpus.with_images]
    names = args.datasets or list(corpus.with_images)
    sources = args.work / ("sources-" + "-".join(args.datasets) if args.datasets else "sources")
    if not sources.is_dir():  # the datasets side by side, as the copy and the builds see them
        staging = fresh(sources.with_name(sources.name + ".partial"))
        staging.mkdir(parents=True)
        for name in names:
            corpus.copy(name, staging / name)
        staging.rename(sources)
    files, size = tree_size(sources)

    out, dest, copy = args.work / "out", args.work / "export", args.work / "cp"
    outputs: dict[str, dict] = {}

    def cp() -> object:
        return measure("cp -r + sync", ["sh", "-c", f"cp -r '{sources}' '{fresh(copy)}' && sync"])

    def stage(name: str, origin: Path, target: Path) -> object:
        command = (
            f"'{PYTHON}' '{__file__}' --rows {args.rows} --worker {name} '{origin}' "
            f"'{fresh(target)}' && sync"
        )
        run = measure(f"nifti2parquet {name}", ["sh", "-c", command])
        result = next(x for x in run.output.splitlines() if x.startswith("RESULT "))
        outputs[name] = json.loads(result.removeprefix("RESULT "))
        return run

    steps = [
        ("cp", cp),
        ("build", lambda: stage("build", sources, out)),
        ("export", lambda: stage("export", out, dest)),
    ]
    comparison = Comparison()
    interleave(args.rounds, steps, comparison)

    exported_files, exported_bytes = tree_size(dest)
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "corpus": archive.name,
        "rows_layout": args.rows,
        "datasets": len(names),
        "files": files,
        "bytes": size,
        "exported_files": exported_files,
        "exported_bytes": exported_bytes,
        "build": outputs.get("build"),
        "export": outputs.get("export"),
        **comparison.results(),
    }
    print(
        f"\n{archive.name}: {len(names)} datasets, {files:,} files, "
        f"{size / 1e6:.1f} MB; --rows {args.rows}; {args.rounds} rounds, warm page cache\n"
    )
    print(comparison.table(size))
    for name in ("build", "export"):
        done = outputs.get(name) or {}
        failed = done.get("failed", {})
        print(
            f"\n{name:6s} {done.get('done', 0)} datasets done, {len(failed)} failed"
            + "".join(f"\n  {ds}: {error}" for ds, error in sorted(failed.items()))
        )
    print(f"\nexported {exported_files:,} of {files:,} files, {exported_bytes / 1e6:.1f} MB")
    suffix = "-" + "-".join(args.datasets) if args.datasets else ""
    write_result(HERE / "results" / f"corpus-{args.rows}{suffix}.json", report)


def run_stage(stage: str, origin: Path, target: Path, rows: str) -> dict:
    """Build (or export) every dataset under ``origin`` into ``target``, one after the other."""
    from nifti2parquet import BuildOptions, N2PError, SourceOptions, build, export

    started = time.perf_counter()
    failed: dict[str, str] = {}
    done = 0
    target.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in origin.iterdir() if p.is_dir()):
        if stage == "export" and not (folder / ".nifti2parquet/train/manifest.json").is_file():
            continue  # its build failed (and was counted there)
        try:
            if stage == "build":
                build(
                    str(folder),
                    str(target / folder.name),
                    BuildOptions(source=SourceOptions(rows=rows), workers=1),
                )
            else:
                export(str(folder), str(target / folder.name))
            done += 1
        except N2PError as error:
            failed[folder.name] = error.message
        except Exception as error:  # a crash is counted, and named, as a failure
            failed[folder.name] = f"{type(error).__name__}: {error}"
    return {"done": done, "failed": failed, "seconds": time.perf_counter() - started}


def tree_size(root: Path) -> tuple[int, int]:
    files = size = 0
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_file():
                files += 1
                size += path.stat().st_size
    return files, size


if __name__ == "__main__":
    main()

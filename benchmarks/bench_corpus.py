"""Build and export of the whole public BIDS examples corpus, side by side with ``cp -r``.

    python benchmarks/bench_corpus.py                 # --rows session, 3 rounds
    python benchmarks/bench_corpus.py --rows file --rounds 1
    python benchmarks/bench_corpus.py --quick         # 8 datasets of every kind, 1 round
    python benchmarks/bench_corpus.py --no-privacy    # without the privacy review

``benchmarks/run_all`` runs it (``tables()``): every dataset with images, 3 rounds, and the
privacy review (the 8 datasets below, 1 round, quick).

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

Then the privacy review: ``inspect`` of each dataset (``--rows session``, in this process, not
timed), its identifying and review findings counted by kind. The corpus is published,
de-identified data: an identifying finding is either real (``REAL_IDENTIFYING`` names them, with
why) or a false alarm to fix.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

from harness import PYTHON, Comparison, fresh, interleave, measure, tidy, write_result
from tables import Table, megabytes, ratio, seconds

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
# the identifying findings that are real, by dataset: the reason they are kept
REAL_IDENTIFYING = {
    "ieeg_visual_multimodal": "the `PatientID` value that published sidecars of `sub-som682` carry"
}
CP = "cp -r + sync"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="*", help="default: every dataset with NIfTI images")
    parser.add_argument("--rows", default="session", help="nifti2parquet --rows")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (--quick: 1)")
    parser.add_argument("--quick", action="store_true", help=f"{len(QUICK)} datasets, 1 round")
    parser.add_argument("--no-privacy", action="store_true", help="without the privacy review")
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
    rounds = args.rounds or (1 if args.quick else 3)
    report = run(args.datasets, args.rows, rounds, args.quick, not args.no_privacy, args.work)
    print("\n" + corpus_table(report).markdown())
    if "privacy" in report:
        print("\n" + privacy_table(report).markdown())


def run(datasets: list[str], rows: str, rounds: int, quick: bool, review: bool, work: Path) -> dict:
    """The corpus prepared, the interleaved rounds, the privacy review; the results file's
    report."""
    archive = corpus_module.find_archive()
    if archive is None:
        sys.exit(corpus_module.missing_reason())
    corpus = corpus_module.prepare(archive, work / "corpus")
    if quick and not datasets:
        datasets = [name for name in QUICK if name in corpus.with_images]
    names = datasets or list(corpus.with_images)
    sources = work / ("sources-" + "-".join(datasets) if datasets else "sources")
    if not sources.is_dir():  # the datasets side by side, as the copy and the builds see them
        staging = fresh(sources.with_name(sources.name + ".partial"))
        staging.mkdir(parents=True)
        for name in names:
            corpus.copy(name, staging / name)
        staging.rename(sources)
    files, size = tree_size(sources)

    out, dest, copy = work / "out", work / "export", work / "cp"
    outputs: dict[str, dict] = {}

    def cp() -> object:
        return measure(CP, ["sh", "-c", f"cp -r '{sources}' '{fresh(copy)}' && sync"])

    def stage(name: str, origin: Path, target: Path) -> object:
        command = (
            f"'{PYTHON}' '{__file__}' --rows {rows} --worker {name} '{origin}' "
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
    interleave(rounds, steps, comparison)

    exported_files, exported_bytes = tree_size(dest)
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "corpus": archive.name,
        "rows_layout": rows,
        "rounds": rounds,
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
        f"{size / 1e6:.1f} MB; --rows {rows}; {rounds} rounds, warm page cache\n"
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
    if review:
        report["privacy"] = {name: privacy_review(sources / name) for name in names}
    suffix = "-" + "-".join(datasets) if datasets else ""
    write_result(HERE / "results" / f"corpus-{rows}{suffix}.json", report)
    return report


def privacy_review(source: Path) -> dict:
    """``inspect`` of one dataset: its identifying and review findings, counted by kind."""
    from nifti2parquet import BuildOptions, SourceOptions, inspect_source

    try:
        report = inspect_source(str(source), BuildOptions(source=SourceOptions(rows="session")))
    except Exception as error:  # a dataset the scan cannot read is a finding too
        return {"error": f"{type(error).__name__}: {error}".splitlines()[0]}
    record = report.privacy
    if record is None:
        return {"error": "no privacy scan"}
    review = Counter(
        {kind: n.get("review", 0) for kind, n in record.kinds.items() if n.get("review")}
    )
    return {
        "identifying": record.identifying,
        "review": record.review,
        "review_kinds": dict(review.most_common()),
        "identifying_kinds": {
            kind: n["identifying"] for kind, n in record.kinds.items() if n.get("identifying")
        },
    }


# tables for run_all -----------------------------------------------------------------------------
def corpus_table(report: dict) -> Table:
    seconds_of, cpu_of, rss_of = report["seconds"], report["cpu_seconds"], report["peak_rss"]
    cp = seconds_of[CP]
    sizes = {
        CP: (report["files"], report["bytes"]),
        "nifti2parquet build": (report["files"], report["bytes"]),
        "nifti2parquet export": (report["exported_files"], report["exported_bytes"]),
    }
    rows = tuple(
        (
            name,
            f"{sizes[name][0]:,}",
            f"{sizes[name][1] / 1e6:,.1f} MB",
            seconds(value),
            ratio(value / cp),
            seconds(cpu_of[name]),
            megabytes(rss_of[name]),
        )
        for name, value in seconds_of.items()
    )
    stages = []
    for name in ("build", "export"):
        done = report.get(name) or {}
        failed = done.get("failed", {})
        stages.append(
            f"{name}: {done.get('done', 0)} datasets done, {len(failed)} failed"
            + "".join(f" (`{ds}`: {error})" for ds, error in sorted(failed.items()))
        )
    notes = (
        f"the public BIDS examples (`{report['corpus']}`, placeholder images filled by "
        f"`tests/corpus.py`): {report['datasets']} datasets with NIfTI images, side by side in "
        f"one folder; each stage one process for every dataset, one after the other (Python API, "
        f"one worker, `--rows {report['rows_layout']}`), until the data is on disk; warm page "
        f"cache; {report['rounds']} interleaved rounds, medians",
        "; ".join(stages),
        f"export gave back {report['exported_files']:,} of {report['files']:,} files "
        f"({report['exported_bytes'] / 1e6:,.1f} of {report['bytes'] / 1e6:,.1f} MB); the suite "
        f"checks each dataset's round trip byte for byte",
    )
    columns = ("", "files", "bytes", "median", "× cp + sync", "CPU", "peak memory")
    title = "Build and export of the public BIDS examples"
    return Table("corpus", title, columns, rows, notes)


def privacy_table(report: dict) -> Table:
    """One row per dataset: what ``inspect`` finds identifying and to review."""
    rows, totals, unexpected = [], [0, 0], []
    for name, found in sorted(report["privacy"].items(), key=lambda kv: kv[0].lower()):
        if "error" in found:
            rows.append((name, "stopped", "stopped", found["error"]))
            unexpected.append(name)
            continue
        totals[0] += found["identifying"]
        totals[1] += found["review"]
        if found["identifying"] and name not in REAL_IDENTIFYING:
            unexpected.append(name)
        common = ", ".join(f"{k} {n}" for k, n in list(found["review_kinds"].items())[:3])
        rows.append((name, str(found["identifying"]), str(found["review"]), common))
    count = len(report["privacy"])
    rows.append((f"**all {count} datasets**", f"{totals[0]:,}", f"{totals[1]:,}", ""))
    real = [
        f"`{name}` {report['privacy'][name]['identifying']} ({why})"
        for name, why in REAL_IDENTIFYING.items()
        if report["privacy"].get(name, {}).get("identifying")
    ]
    notes = (
        "`inspect` of each dataset above (`--rows session`), its findings "
        "counted (values masked); the corpus is published, de-identified data",
        "identifying findings that are real: " + ("; ".join(real) or "none in these datasets"),
        "identifying findings elsewhere, or a scan that stopped (target: none): "
        + (", ".join(f"`{n}`" for n in unexpected) if unexpected else "none (met)"),
        "what there is to review: acquisition dates and times, institutions and their "
        "addresses, device serial numbers, staff names and UIDs that converters copied into "
        "sidecars, authors' names and contact e-mail addresses in READMEs",
    )
    columns = ("dataset", "identifying", "review", "most common to review")
    title = "The privacy review of the public BIDS examples"
    return Table("corpus-privacy", title, columns, tuple(rows), notes)


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: every dataset with images, 3 rounds, and the privacy review (8 datasets, one
    round, quick)."""
    report = run([], "session", 1 if quick else 3, quick, True, work)
    tidy(work, ["corpus", "sources*"])
    return [corpus_table(report), privacy_table(report)]


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

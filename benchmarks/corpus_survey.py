"""Where the tool stands on the public BIDS examples: round trips, the validator, the privacy scan.

    python benchmarks/corpus_survey.py                       # every dataset with NIfTI images
    python benchmarks/corpus_survey.py ds000117 synthetic    # some of them
    python benchmarks/corpus_survey.py --no-validator --no-privacy

For each dataset of the corpus (``tests/corpus.py``: ``../shared/corpora/bids-examples-*.tar.gz``,
placeholders filled) that has NIfTI images, through the Python API:

- ``build`` with ``--rows session`` and with ``--rows file``, then ``export`` of each local build,
  and the exported tree compared with the source folder file for file and byte for byte: files
  missing (sorted by why: ``.bidsignore``, ``sourcedata/``, ``stimuli/``, ``code/``, dot files,
  other), extra, different; a build or export that fails, with its one-line error;
- ``export --subject <first subject>`` of the session build, compared with that subject's files
  plus every file not under any subject's folder;
- the BIDS validator (``tests/validator.py``) on the source, the whole export and the subject
  export: the error codes each export has that the source has not;
- ``inspect``: the privacy scan's identifying and review findings (file, field or column, rule,
  masked value).

Everything goes to ``WORK/corpus-survey.json`` (written after each dataset, so an interrupted
survey keeps what it did) and a summary table is printed. Nothing is timed here: see
``bench_corpus.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the corpus and validator helpers of the suite

import corpus as corpus_module  # noqa: E402
import roundtrip  # noqa: E402
import validator  # noqa: E402

from nifti2parquet import (  # noqa: E402
    BuildOptions,
    ExportOptions,
    N2PError,
    Selection,
    SourceOptions,
    build,
    export,
    inspect_source,
)

LAYOUTS = ("session", "file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="*", help="default: every dataset with NIfTI images")
    parser.add_argument("--work", type=Path, default=Path("/tmp/n2p-corpus-survey"))
    parser.add_argument("--no-validator", action="store_true")
    parser.add_argument("--no-privacy", action="store_true")
    args = parser.parse_args()

    archive = corpus_module.find_archive()
    if archive is None:
        sys.exit(corpus_module.missing_reason())
    corpus = corpus_module.prepare(archive, args.work / "corpus")
    names = args.datasets or list(corpus.with_images)
    use_validator = not args.no_validator and validator.unavailable_reason() is None
    result_path = args.work / "corpus-survey.json"
    results: dict[str, Any] = {}
    for name in names:
        started = time.monotonic()
        work = args.work / "runs" / name
        results[name] = survey(corpus, name, work, use_validator, not args.no_privacy)
        results[name]["seconds"] = round(time.monotonic() - started, 1)
        result_path.write_text(json.dumps(results, indent=1))
        print(line(name, results[name]), flush=True)
    print(f"\n{len(results)} datasets; details in {result_path}")


def survey(
    corpus: corpus_module.Corpus, name: str, work: Path, use_validator: bool, use_privacy: bool
) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = corpus.path(name)
    files = roundtrip.tree_hashes(source)
    found: dict[str, Any] = {"files": len(files), "layouts": {}}
    for layout in LAYOUTS:
        found["layouts"][layout] = round_trip(source, files, work / layout, layout)
    label = corpus.first_subject(name)
    session = found["layouts"]["session"]
    if label is None:
        found["subject"] = {"label": None, "error": "no sub-* folder"}
    elif session.get("error") is None:
        said = session["left_out"]
        found["subject"] = subject_export(
            work / "session/out", files, work / "subject", label, said
        )
    if use_validator:
        found["validator"] = validation(source, work)
    if use_privacy:
        found["privacy"] = privacy(source)
    return found


def round_trip(source: Path, files: dict[str, str], work: Path, layout: str) -> dict:
    out, dest = work / "out", work / "export"
    options = BuildOptions(source=SourceOptions(rows=layout), workers=1)
    try:
        built = build(str(source), str(out), options)
    except Exception as error:  # a crash is a finding too, recorded as such
        return {"error": one_line(error), "stage": "build"}
    reasons = Counter(p.message for p in built.left_out)
    said = {p.path: p.message for p in built.left_out}
    try:
        export(str(out), str(dest))
    except Exception as error:
        return {"error": one_line(error), "stage": "export", "left_out": dict(reasons)}
    diff = roundtrip.compare(files, roundtrip.tree_hashes(dest))
    return {
        "error": None,
        "rows": built.num_rows,
        "images": built.num_images,
        "other_files": built.other_files,
        "missing": grouped(diff.missing, said),
        "extra": list(diff.extra),
        "mismatched": list(diff.mismatched),
        "compared": diff.compared,
        "left_out_reasons": dict(reasons),
        "left_out": said,
        "warnings": [str(p) for p in built.warnings],
    }


def subject_export(
    out: Path, files: dict[str, str], dest: Path, label: str, said: dict[str, str]
) -> dict:
    try:
        export(str(out), str(dest), ExportOptions(selection=Selection(subjects=(label,))))
    except Exception as error:
        return {"label": label, "error": one_line(error)}
    expected = {p: files[p] for p in roundtrip.subject_files(files, label)}
    diff = roundtrip.compare(expected, roundtrip.tree_hashes(dest))
    return {
        "label": label,
        "error": None,
        "expected": len(expected),
        "missing": grouped(diff.missing, said),
        "extra": list(diff.extra),
        "mismatched": list(diff.mismatched),
    }


def validation(source: Path, work: Path) -> dict:
    found: dict[str, Any] = {}
    try:
        reference = validator.validate(source)
    except validator.ValidatorError as error:
        return {"error": str(error)}
    found["source_errors"] = sorted(reference.error_codes)
    for key, folder in (("export", work / "session/export"), ("subject", work / "subject")):
        if folder.is_dir():
            try:
                new = validator.validate(folder).new_errors(reference)
                found[f"{key}_new"] = {code: sorted(paths) for code, paths in new.items()}
            except validator.ValidatorError as error:
                found[f"{key}_new"] = {"VALIDATOR FAILED": [str(error)]}
    return found


def privacy(source: Path) -> dict:
    try:
        report = inspect_source(str(source), BuildOptions(source=SourceOptions(rows="session")))
    except Exception as error:
        return {"error": one_line(error)}
    if report.privacy is None:
        return {"error": "the privacy scan did not run"}
    scan = report.privacy.to_dict()  # the typed record, as the manifest writes it
    findings = scan.get("findings", [])
    return {
        "identifying": [f for f in findings if f.get("severity") == "identifying"],
        "review": [f for f in findings if f.get("severity") == "review"],
        "kinds": scan.get("kinds", {}),
        "defacing": {k: v for k, v in scan.get("defacing", {}).items() if k != "images"},
    }


def grouped(paths: tuple[str, ...] | list[str], said: dict[str, str]) -> dict[str, list[str]]:
    """Missing files by why (``roundtrip.why_missing``); "other" is split by what the build said
    of the file, when it said anything."""
    groups: dict[str, list[str]] = {}
    bidsignored = {path for path, message in said.items() if ".bidsignore" in message}
    for path in paths:
        why = roundtrip.why_missing(path, bidsignored)
        if why == "other":
            why = f"other: {said.get(path, 'not reported by the build')}"
        groups.setdefault(why, []).append(path)
    return groups


def one_line(error: BaseException) -> str:
    if isinstance(error, N2PError):
        return error.lines()[0] + (f" (+{len(error.problems)} problems)" if error.problems else "")
    where = traceback.extract_tb(error.__traceback__)[-1]
    return f"CRASH {type(error).__name__}: {error} ({Path(where.filename).name}:{where.lineno})"


def line(name: str, found: dict) -> str:
    cells = []
    for layout, r in found["layouts"].items():
        if r.get("error"):
            cells.append(f"{layout}: FAILED ({r['stage']}) {r['error'][:80]}")
        else:
            missing = sum(len(v) for v in r["missing"].values())
            cells.append(f"{layout}: -{missing} +{len(r['extra'])} !{len(r['mismatched'])}")
    subject = found.get("subject")
    if subject and not subject.get("error"):
        missing = sum(len(v) for v in subject.get("missing", {}).values())
        cells.append(f"sub-{subject['label']}: -{missing} +{len(subject.get('extra', []))}")
    new = found.get("validator", {})
    codes = set(new.get("export_new", {})) | set(new.get("subject_new", {}))
    if codes:
        cells.append("validator new: " + ",".join(sorted(codes)))
    scan = found.get("privacy", {})
    if scan and "error" not in scan:
        cells.append(f"privacy {len(scan['identifying'])} id / {len(scan['review'])} review")
    return f"{name:32s} {found['files']:6d} files {found['seconds']:6.1f} s  " + "; ".join(cells)


if __name__ == "__main__":
    main()

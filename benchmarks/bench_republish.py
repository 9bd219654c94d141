"""Re-publishing over Xet: bytes sent to the CAS and commits made, against ``push_to_hub``.

    python benchmarks/bench_republish.py               # ARC-shaped tree, scale 0.004 (~1.1 GB)
    python benchmarks/bench_republish.py --scale 0.002

One ARC-shaped BIDS tree (``arc_tree.py``) is published three times to the local Hub + Xet CAS of
the tests (``tests/hubserver.py``, in this process, so its request log gives the bytes each push
sent), from one machine (one ``HF_HOME`` per contender, so hf_xet's local cache persists between
versions, as on a user's machine):

1. v1;
2. v1 again, unchanged;
3. v2: 1% of the images replaced by new scans, 2 subjects inserted in the middle (new scans),
   one subject removed, one participants.tsv value fixed.

Contenders: ``nifti2parquet push`` (of a fresh build folder per version, built beforehand; the
build is not measured), and ``datasets``: one row per session (participants.tsv columns, the
session's images as ``List(Nifti())``), ``push_to_hub(embed_external_files=True)``. For each
step: bytes the CAS received (xorbs + shards), commits made, seconds. Targets (issue 15): the
unchanged re-push sends 0 bytes and makes no commit; v2 sends at most the changed bytes plus 2% of
the dataset.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from arc_tree import make_arc_tree, nifti_gz
from bench_push import TOKEN, client_env
from harness import PYTHON, fresh, tidy, write_result
from tables import Table, met, seconds

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from hubserver import HubServer  # noqa: E402

N2P, HF = "nifti2parquet push", "datasets push_to_hub"  # builds run before, unmeasured


# the datasets route (run as its own process) --------------------------------------------------
def session_rows(tree: Path) -> list[dict[str, object]]:
    """One row per session: participants.tsv columns and the session's images, in BIDS order."""
    with open(tree / "participants.tsv") as f:
        people = {r["participant_id"]: r for r in csv.DictReader(f, delimiter="\t")}
    rows = []
    for sub in sorted(p for p in tree.glob("sub-*") if p.is_dir()):
        for ses in sorted(p for p in sub.glob("ses-*") if p.is_dir()):
            person = people.get(sub.name, {})
            rows.append(
                {
                    "subject_id": sub.name,
                    "session_id": ses.name,
                    "age": person.get("age"),
                    "sex": person.get("sex"),
                    "wab_aq": person.get("wab_aq"),
                    "images": [str(p) for p in sorted(ses.rglob("*.nii.gz"))],
                }
            )
    return rows


def run_push_to_hub(tree: str, repo_id: str) -> None:
    from datasets import Dataset, List, Nifti

    rows = session_rows(Path(tree))
    ds = Dataset.from_list(rows).cast_column("images", List(Nifti()))
    ds.push_to_hub(repo_id, embed_external_files=True)


# the versions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    images_replaced: int
    subjects_inserted: tuple[str, ...]
    subject_removed: str
    value_fixed: str
    changed_bytes: int  # new image bytes (replaced + inserted) and the rewritten table


def make_v2(v1: Path, v2: Path, seed: int = 1) -> Edit:
    """v2 next to v1 (hard links, so only what changes takes space; changed files are new)."""
    rng = np.random.default_rng(seed)
    fresh(v2)
    shutil.copytree(v1, v2, copy_function=os.link)
    subjects = sorted(p.name for p in v2.glob("sub-*") if p.is_dir())
    changed = 0
    images = sorted(v2.rglob("*.nii.gz"))
    replaced = [images[i] for i in rng.choice(len(images), max(1, len(images) // 100), False)]
    for path in replaced:
        size = path.stat().st_size
        path.unlink()  # a new file: the hard-linked v1 copy stays as it was
        changed += nifti_gz(path, size, "_bold" in path.name or "_dwi" in path.name, rng)
    middle = subjects[len(subjects) // 2]
    inserted = (f"{middle}a", f"{middle}b")  # sort right after the middle subject
    for label in inserted:
        changed += _copy_subject_with_new_scans(v2, middle, label, rng)
    removed = subjects[1]
    shutil.rmtree(v2 / removed)
    shutil.rmtree(v2 / "derivatives" / "lesion_masks" / removed, ignore_errors=True)
    table = v2 / "participants.tsv"
    lines = table.read_text().splitlines()
    kept = [ln for ln in lines if not ln.startswith(removed + "\t")]
    source = next(ln for ln in lines if ln.startswith(middle + "\t")).split("\t")
    kept += ["\t".join([label, *source[1:]]) for label in inserted]
    header, body = kept[0], sorted(kept[1:])
    fixed = body[-1].split("\t")
    fixed[3] = "55.5"  # wab_aq corrected for the last subject
    body[-1] = "\t".join(fixed)
    table.unlink()
    table.write_text("\n".join([header, *body]) + "\n")
    changed += table.stat().st_size
    return Edit(len(replaced), inserted, removed, f"{fixed[0]} wab_aq", changed)


def _copy_subject_with_new_scans(tree: Path, source: str, label: str, rng) -> int:
    """A new subject shaped like ``source`` (same sessions and kinds) with new random scans."""
    written = 0
    for path in sorted((tree / source).rglob("*")):
        if path.is_dir():
            continue
        target = tree / label / path.relative_to(tree / source)
        target = target.with_name(target.name.replace(source, label))
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith(".nii.gz"):
            four_d = "_bold" in path.name or "_dwi" in path.name
            written += nifti_gz(target, path.stat().st_size, four_d, rng)
        else:
            target.write_bytes(path.read_bytes())
    return written


# measuring ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    contender: str
    version: str
    pushed_bytes: int  # parquet + README bytes of the version (what a push without dedup sends)
    sent_bytes: int  # what the CAS received (xorb and shard bodies)
    commits: int
    seconds: float


def measured(hub: HubServer, repo: str, contender: str, version: str, command, env) -> Step:
    cas_before = len(hub.cas_requests)
    commits_before = len(hub.commits(repo)) if hub.repo_exists(repo) else 1
    started = time.perf_counter()
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{contender} {version} failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    sent = sum(r.bytes_received for r in hub.cas_requests[cas_before:] if r.method == "POST")
    files = hub.repo_files(repo)
    pushed = sum(size for p, (size, _) in files.items() if p.endswith((".parquet", ".md")))
    commits = len(hub.commits(repo)) - commits_before
    step = Step(contender, version, pushed, sent, commits, seconds)
    print(
        f"{contender:28s} {version:10s} sent {sent / 1e6:9.2f} MB of {pushed / 1e6:8.1f} MB "
        f"({100 * sent / max(pushed, 1):5.1f}%), {commits} commit(s), {seconds:6.1f} s",
        flush=True,
    )
    return step


def run(scale: float, work: Path) -> dict:
    """The three versions pushed by both contenders; the results file's report."""
    v1 = work / f"arc-{scale}-v1"
    if not (v1 / "participants.tsv").exists():
        print(f"generating an ARC-shaped tree at scale {scale} in {v1} ...", flush=True)
        fresh(v1)
        make_arc_tree(v1, scale)
    v2 = work / f"arc-{scale}-v2"
    edit = make_v2(v1, v2)
    image_bytes = sum(p.stat().st_size for p in v1.rglob("*.nii.gz"))
    print(f"v1: {image_bytes / 1e9:.2f} GB of images; v2: {edit}", flush=True)

    hub = HubServer(fresh(work / "hub"), token=TOKEN).start()
    steps: list[Step] = []
    try:
        n2p_env = {**os.environ, **client_env(hub.url, fresh(work / "home-n2p"))}
        hf_env = {**os.environ, **client_env(hub.url, fresh(work / "home-hf"))}
        outs = {"v1": work / "out-v1", "v2": work / "out-v2"}
        for version, tree in (("v1", v1), ("v2", v2)):
            fresh(outs[version])
            build = [PYTHON, "-m", "nifti2parquet", "build", str(tree), str(outs[version])]
            subprocess.run([*build, "--quiet"], check=True, env=n2p_env)
        for version, out in (("v1", outs["v1"]), ("unchanged", outs["v1"]), ("v2", outs["v2"])):
            push = [PYTHON, "-m", "nifti2parquet", "push", str(out), "user/n2p", "--quiet"]
            steps.append(measured(hub, "user/n2p", N2P, version, push, n2p_env))
        for version, tree in (("v1", v1), ("unchanged", v1), ("v2", v2)):
            route = [PYTHON, __file__, "--route", str(tree), "user/hf"]
            steps.append(measured(hub, "user/hf", HF, version, route, hf_env))
    finally:
        hub.stop()

    by = {(s.contender, s.version): s for s in steps}
    unchanged, v2_step = by[(N2P, "unchanged")], by[(N2P, "v2")]
    allowed = edit.changed_bytes + 0.02 * v2_step.pushed_bytes
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "scale": scale,
        "image_bytes": image_bytes,
        "edit": asdict(edit),
        "steps": [asdict(s) for s in steps],
        "targets": {
            "unchanged_sends_nothing": unchanged.sent_bytes == 0 and unchanged.commits == 0,
            "v2_sent": v2_step.sent_bytes,
            "v2_allowed": int(allowed),
            "v2_within": v2_step.sent_bytes <= allowed,
        },
    }
    write_result(HERE / "results" / f"republish-{scale}.json", report)
    return report


def republish_table(report: dict) -> Table:
    rows = tuple(
        (
            step["contender"],
            {"v1": "v1", "unchanged": "v1 again, unchanged", "v2": "v2"}[step["version"]],
            _size(step["sent_bytes"]),
            _size(step["pushed_bytes"]),
            str(step["commits"]),
            seconds(step["seconds"]),
        )
        for step in report["steps"]
    )
    edit, targets = report["edit"], report["targets"]
    unchanged = next(
        s for s in report["steps"] if s["contender"] == N2P and s["version"] == "unchanged"
    )
    notes = (
        f"an ARC-shaped BIDS tree (`arc_tree.py`, scale {report['scale']}, "
        f"{report['image_bytes'] / 1e9:.2f} GB of images) pushed to the local Hub and Xet CAS of "
        f"the tests from one machine (hf_xet's cache kept between versions); v2: "
        f"{edit['images_replaced']} images replaced by new scans, 2 subjects inserted, one "
        f"removed, one participants.tsv value fixed: {edit['changed_bytes'] / 1e6:.1f} MB of "
        f"new bytes",
        f"the unchanged re-push sends {unchanged['sent_bytes']} bytes and makes "
        f"{unchanged['commits']} commit(s) (target 0 and 0: "
        f"{met(targets['unchanged_sends_nothing'])}); v2 sends "
        f"{targets['v2_sent'] / 1e6:.1f} MB, at most the new bytes + 2% of the dataset = "
        f"{targets['v2_allowed'] / 1e6:.1f} MB allowed: {met(targets['v2_within'])}",
        "builds are made before and not timed; `datasets` rewrites and re-hashes every shard "
        "for every version",
    )
    columns = ("contender", "version", "sent to the CAS", "of the dataset", "commits", "seconds")
    title = "Re-publishing a new version over Xet"
    return Table("republish", title, columns, rows, notes)


def _size(value: int) -> str:
    return "0 B" if value == 0 else f"{value / 1e6:,.1f} MB"


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: scale 0.004, ~1.1 GB (0.001, ~0.3 GB, quick)."""
    report = run(0.001 if quick else 0.004, work)
    tidy(work, ["arc-*-v1"])
    return [republish_table(report)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.004, help="fraction of ARC's 273 GB")
    default_work = Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-republish"
    parser.add_argument("--work", type=Path, default=default_work)
    args = parser.parse_args()
    report = run(args.scale, args.work)
    targets, edit = report["targets"], report["edit"]
    steps = {(s["contender"], s["version"]): s for s in report["steps"]}
    unchanged, v2_step = steps[(N2P, "unchanged")], steps[(N2P, "v2")]
    print(
        f"\nunchanged re-push: {unchanged['sent_bytes']} bytes, {unchanged['commits']} commits "
        f"(target 0 and 0)\nv2: sent {v2_step['sent_bytes'] / 1e6:.1f} MB; changed "
        f"{edit['changed_bytes'] / 1e6:.1f} MB + 2% of {v2_step['pushed_bytes'] / 1e6:.0f} MB = "
        f"{targets['v2_allowed'] / 1e6:.1f} MB allowed: "
        f"{'met' if targets['v2_within'] else 'MISSED'}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--route":
        run_push_to_hub(sys.argv[2], sys.argv[3])
    else:
        main()

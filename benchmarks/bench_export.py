"""Export: an ARC-shaped build back to its BIDS tree, against ``cp -r``; one subject from the Hub,
against downloading the shards that hold it.

    python benchmarks/bench_export.py                 # scale 0.002: ~0.5 GB, 3 rounds
    python benchmarks/bench_export.py --scale 0.004   # ~1.1 GB

The ARC-shaped tree (``arc_tree.py``) is built once with ``--max-shard-size 100MB``. Each round,
each command as its own process:

- local: ``cp -r TREE DST && sync`` (the floor: copying the same files), then
  ``nifti2parquet export OUT DST --quiet && sync`` (every file read from its page, hashed,
  written to a temp name, renamed);
- Hub (the local Hub-protocol server of the tests, in this process, over loopback, LFS):
  ``nifti2parquet export REPO_ID DST --subject X`` against ``hf_hub_download`` of every shard that
  holds a file of subject X (what a user without range reads would fetch to get that subject),
  with the bytes the server sent for each.

After the rounds, the exported tree is checked against the source: same files, same sizes, and the
sha256 of every file equal.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
from pathlib import Path

from arc_tree import make_arc_tree
from bench_push import TOKEN, client_env
from harness import PYTHON, Comparison, fresh, interleave, measure, write_result

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from hubserver import HubServer  # noqa: E402

REPO = "bench/arc"
CP = "cp -r + sync"
EXPORT = "nifti2parquet export + sync"
HUB_EXPORT = "export --subject (range reads)"
DOWNLOAD = "hf_hub_download of its shards"

DOWNLOAD_SCRIPT = """
import sys
from huggingface_hub import hf_hub_download
for name in sys.argv[2:]:
    hf_hub_download(sys.argv[1], name, repo_type="dataset")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.002, help="fraction of ARC's 273 GB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-export"
    )
    args = parser.parse_args()
    tree, out = prepare(args.work, args.scale)
    tree_bytes = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())

    local = Comparison()

    def cp() -> object:
        target = fresh(args.work / "cp")
        return measure(CP, ["sh", "-c", f"cp -r '{tree}' '{target}' && sync"])

    def export() -> object:
        target = fresh(args.work / "export")
        command = f"'{PYTHON}' -m nifti2parquet export '{out}' '{target}' --quiet && sync"
        return measure(EXPORT, ["sh", "-c", command])

    interleave(args.rounds, [("cp", cp), ("export", export)], local)
    checked = same_tree(tree, args.work / "export")

    hub = Comparison()
    with HubServer(args.work / "hub-storage", token=TOKEN) as server:
        env = client_env(server.url, args.work / "hf_home", "lfs")  # the Hub over Git LFS
        push = measure(
            "push", [PYTHON, "-m", "nifti2parquet", "push", str(out), REPO, "--quiet"], env
        )
        if push.returncode:
            raise SystemExit("push failed")
        subject, shards, subject_bytes, files = one_subject(out)
        served: dict[str, list[int]] = {HUB_EXPORT: [], DOWNLOAD: []}

        def hub_export() -> object:
            target = fresh(args.work / "hub-export")
            server.clear_log()
            command = [PYTHON, "-m", "nifti2parquet", "export", REPO, str(target), "--quiet",
                       "--subject", subject]  # fmt: skip
            run = measure(HUB_EXPORT, command, env)
            served[HUB_EXPORT].append(sum(r.bytes_sent for r in server.requests))
            return run

        def download() -> object:
            fresh(Path(env["HF_HOME"]))
            server.clear_log()
            run = measure(DOWNLOAD, [PYTHON, "-c", DOWNLOAD_SCRIPT, REPO, *shards], env)
            served[DOWNLOAD].append(sum(r.bytes_sent for r in server.requests))
            return run

        interleave(args.rounds, [("export", hub_export), ("download", download)], hub)
        exported = sum(
            p.stat().st_size for p in (args.work / "hub-export").rglob("*") if p.is_file()
        )
        hub_files = sum(1 for p in (args.work / "hub-export").rglob("*") if p.is_file())

    ratio = local.seconds(EXPORT) / local.seconds(CP)
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "scale": args.scale,
        "tree_files": checked,
        "tree_bytes": tree_bytes,
        "local": local.results(),
        "export_over_cp": ratio,
        "hub": hub.results(),
        "subject": subject,
        "subject_files": files,
        "subject_file_bytes": subject_bytes,
        "hub_export_files": hub_files,
        "hub_export_bytes_written": exported,
        "shards_holding_subject": len(shards),
        "shards_total": len(list((out / "data").iterdir())) + len(list((out / "files").iterdir())),
        "bytes_served": {k: max(v) for k, v in served.items()},
    }
    print(f"\nARC-shaped tree, scale {args.scale}: {checked} files, {tree_bytes / 1e9:.2f} GB, "
          f"{args.rounds} rounds, warm page cache\n")  # fmt: skip
    print(local.table(tree_bytes))
    print(f"\nexport / cp -r         {ratio:.2f}x   (exported tree checked: {checked} files equal)")
    print(
        f"\none subject ({subject}: {files} files, {subject_bytes / 1e6:.1f} MB, in "
        f"{len(shards)} of {report['shards_total']} shards) from the local Hub server\n"
    )
    print(hub.table(subject_bytes))
    for name, sent in report["bytes_served"].items():
        print(f"{name:32s} served {sent / 1e6:9.1f} MB")
    write_result(HERE / "results" / f"export-arc-{args.scale}.json", report)


def prepare(work: Path, scale: float) -> tuple[Path, Path]:
    """The ARC-shaped tree and its build, made once and kept in ``work``."""
    tree, out = work / f"arc-{scale}", work / f"out-{scale}"
    if not (out / "README.md").exists():
        print(f"generating an ARC-shaped tree at scale {scale} and building it ...", flush=True)
        fresh(tree)
        fresh(out)
        make_arc_tree(tree, scale)
        build = measure("build", [PYTHON, "-m", "nifti2parquet", "build", str(tree), str(out),
                                  "--quiet", "--max-shard-size", "100MB"])  # fmt: skip
        if build.returncode:
            raise SystemExit("build failed")
    return tree, out


def one_subject(out: Path) -> tuple[str, list[str], int, int]:
    """The first subject, the shards holding its files, their bytes and count."""
    from nifti2parquet.retrieval.catalog import read_catalog
    from nifti2parquet.retrieval.ranges import Counter, LocalStore
    from nifti2parquet.sources.bids.tree import Filters

    store = LocalStore(str(out))
    everything = read_catalog(store, "train", Counter()).files
    subject = sorted({f.path.split("/")[0][4:] for f in everything if f.path.startswith("sub-")})[0]
    filters = Filters(subjects=(subject,))
    files = [f for f in everything if not filters.other_reason(f.path)]
    shards = sorted({f.location.shard for f in files})
    return subject, shards, sum(f.size for f in files), len(files)


def same_tree(source: Path, copy: Path) -> int:
    """Every file of ``source`` is in ``copy`` with the same sha256, and nothing else; how many."""

    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*")
            if p.is_file()
        }

    mine, theirs = digests(source), digests(copy)
    if mine != theirs:
        raise SystemExit(f"exported tree differs: {sorted(set(mine) ^ set(theirs))[:5]}")
    return len(mine)


if __name__ == "__main__":
    main()

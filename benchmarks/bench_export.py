"""Export: an ARC-shaped build back to its BIDS tree, against ``cp -r``; one subject from the Hub,
at 0 and 50 ms per request, over loopback and a 25 MB/s link, against downloading the shards
that hold it.

    python benchmarks/bench_export.py                 # scale 0.002 (~0.5 GB), 3 rounds (Hub: 7)
    python benchmarks/bench_export.py --quick         # scale 0.001, 1 round (a laptop)
    python benchmarks/bench_export.py --scale 0.004 --latency-ms 0 20 50 --bandwidth-mb 0 12.5 100

The ARC-shaped tree (``arc_tree.py``) is built once with ``--max-shard-size 100MB``. Each round,
each command as its own process:

- local: ``cp -r TREE DST && sync`` (the floor: copying the same files), then
  ``nifti2parquet export OUT DST --quiet && sync`` (every file read from its page, hashed,
  written to a temp name, renamed);
- Hub (the local Hub-protocol server of the tests, in this process, over loopback; Git LFS
  storage unless ``--transport xet``; downloads redirected to a "CDN" on another host name, as
  the Hub does, unless ``--no-cdn``), at each ``--latency-ms`` (the server waits that long
  before answering every request, and once more on every new connection, as a distant Hub
  does) and each ``--bandwidth-mb`` (0: loopback's own; else the server sends file data at
  most that fast, over all connections together, as a client's link):
  ``nifti2parquet export REPO_ID DST --subject X`` against ``hf_hub_download`` of every shard
  that holds a file of subject X (what a user without range reads fetches to get that subject).
  For each: the requests the server answered (all of them: metadata and reads), and the bytes
  it sent.

After the rounds, the exported trees are checked: the whole export against the source (same files,
same sha256), and the one-subject export against the subject's files. nifti2parquet's modules are
compiled to bytecode first, as an installed package's are (``huggingface_hub``'s always are): an
environment with ``PYTHONDONTWRITEBYTECODE`` would otherwise have each run of an editable install
compile them again, a cost no user pays.

``run_all`` calls :func:`tables`: scale 0.002 and 3 rounds, 7 at each Hub condition (0.001 and
2, ``--quick``), at 0 and 50 ms per request, over loopback and a 25 MB/s link.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_tree import make_arc_tree
from bench_push import TOKEN, client_env
from harness import (
    PYTHON,
    Comparison,
    Run,
    built_by_this_code,
    compile_package,
    fresh,
    interleave,
    mark_built,
    measure,
    tidy,
    write_result,
)
from tables import Table, megabytes, met, ratio, seconds

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from hubserver import HubServer  # noqa: E402

REPO = "bench/arc"
CP = "cp -r + sync"
EXPORT = "nifti2parquet export + sync"
HUB_EXPORT = "export --subject"
DOWNLOAD = "hf_hub_download of its shards"

DOWNLOAD_SCRIPT = """
import sys
from huggingface_hub import hf_hub_download
for name in sys.argv[2:]:
    hf_hub_download(sys.argv[1], name, repo_type="dataset")
"""


@dataclass
class Served:
    """What the server answered during each run of one contender, and the client's CPU time
    (user + system, its whole process tree: far less noisy than wall time on a shared machine)."""

    requests: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, server: HubServer, cpu: float) -> None:
        records = server.requests
        self.requests.append(len(records))
        self.bytes.append(sum(r.bytes_sent for r in records))
        self.cpu.append(cpu)


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the server runs in this process)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=None, help="fraction of ARC's 273 GB")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--hub-rounds", type=int, default=None, help="rounds at each Hub condition (default 7)"
    )
    parser.add_argument("--quick", action="store_true", help="scale 0.001, 1 round")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0])
    parser.add_argument("--bandwidth-mb", type=float, nargs="+", default=[0.0, 25.0])
    parser.add_argument("--transport", choices=("lfs", "xet"), default="lfs")
    parser.add_argument("--no-cdn", action="store_true", help="serve files without a redirect")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-export"
    )
    args = parser.parse_args(argv)
    args.scale = args.scale or (0.001 if args.quick else 0.002)
    args.rounds = args.rounds or (1 if args.quick else 3)
    # a Hub round is two processes of about a second each, where a few tens of ms decide: more
    # rounds than the local export's, so the medians are not one noisy run
    args.hub_rounds = args.hub_rounds or (1 if args.quick else 7)
    return args


LOCAL_TITLE = "Export of a whole tree from a build folder, against cp"
HUB_TITLE = "Export of one subject from the Hub, against hf_hub_download of its shards"


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: the ARC-shaped tree at scale 0.002, 3 rounds and 7 at each Hub condition (0.001
    and 2 rounds, quick)."""
    args = ["--scale", "0.001", "--rounds", "2", "--hub-rounds", "2"] if quick else []
    report = main([*args, "--work", str(work)])
    tidy(work, ["arc-*", "out-*"])  # the tree and its build are made once
    return [local_table(report), hub_table_of(report)]


def local_table(report: dict[str, Any]) -> Table:
    local = report["local"]
    cp = local["seconds"][CP]
    rows = tuple(
        (name, seconds(value), ratio(value / cp), megabytes(local["peak_rss"][name]))
        for name, value in local["seconds"].items()
    )
    notes = (
        f"an ARC-shaped tree (`arc_tree.py`, scale {report['scale']}: {report['tree_files']} "
        f"files, {report['tree_bytes'] / 1e6:,.0f} MB) built with `--max-shard-size 100MB`, "
        f"exported whole; {report['rounds']} interleaved rounds, medians; the exported tree is "
        f"checked against the source after the rounds (every sha256 equal)",
    )
    return Table("export-local", LOCAL_TITLE, ("", "median", "× cp", "peak memory"), rows, notes)


def hub_table_of(report: dict[str, Any]) -> Table:
    """Each condition: the export and the download, side by side, and their ratio."""
    columns = ("condition", "contender", "median", "× download", "CPU", "requests", "served")
    columns += ("peak memory",)
    rows, faster, within = [], [], []
    bound = 2 * report["shards_total"] + report["subject_files"]
    for condition, contenders in report["hub"].items():
        download = contenders[DOWNLOAD]
        for name, r in contenders.items():
            label = f"`export --subject {report['subject']}`" if name == HUB_EXPORT else (
                f"`hf_hub_download` of its {report['shards_holding_subject']} shards"
            )  # fmt: skip
            rows.append(
                (
                    condition if name == HUB_EXPORT else "",
                    label,
                    seconds(r["seconds"]),
                    ratio(r["seconds"] / download["seconds"]),
                    seconds(r["cpu_seconds"]),
                    f"{r['requests']:,}",
                    megabytes(r["bytes_served"]),
                    megabytes(r["peak_rss"]),
                )
            )
        export = contenders[HUB_EXPORT]
        faster.append((condition, export["seconds"] / download["seconds"]))
        within.append(export["requests"] <= bound + 1)
    slower = [f"{c} ({r:.2f}x)" for c, r in faster if r > 1]
    served = f"{report['transport']}, " + (
        "each download redirected to a CDN host, as the Hub does" if report["cdn_redirect"]
        else "no CDN redirect"
    )  # fmt: skip
    notes = (
        f"subject {report['subject']}: {report['subject_files']} files (with the dataset-level "
        f"files), {report['subject_file_bytes'] / 1e6:.1f} MB, in "
        f"{report['shards_holding_subject']} of the {report['shards_total']} shards of the "
        f"ARC-shaped build above; the local Hub server of the tests ({served}), each request "
        f"answered after the latency and once more on each new connection, the link's bandwidth "
        f"shared by all connections; {report['hub_rounds']} interleaved rounds, medians; every "
        f"export checked against the subject's files",
        "requests and bytes are counted on the server: every request (the repo's listing, the "
        "Hub's redirects, the range reads); CPU is user + system time of the client's process",
        f"export faster than the download at every latency and bandwidth (target): "
        f"{met(not slower)}" + (f" (slower at {', '.join(slower)})" if slower else ""),
        f"requests at most 2 per shard + 1 per file + the listing ({bound + 1:,}) at each "
        f"condition (target): {met(all(within))}",
    )
    return Table("export-hub", HUB_TITLE, columns, tuple(rows), notes)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its tables, write ``results/export-arc-SCALE.json``."""
    args = parse(argv)
    compile_package()
    tree, out = prepare(args.work, args.scale)
    tree_bytes = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    local, checked = local_export(args, tree, out)
    subject, shards, subject_bytes, files = one_subject(out)
    hub = hub_export(args, out, subject, shards)
    shards_total = len(list((out / "data").iterdir())) + len(list((out / "files").iterdir()))
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "scale": args.scale,
        "rounds": args.rounds,
        "hub_rounds": args.hub_rounds,
        "transport": args.transport,
        "cdn_redirect": not args.no_cdn,
        "tree_files": checked,
        "tree_bytes": tree_bytes,
        "local": local.results(),
        "export_over_cp": local.seconds(EXPORT) / local.seconds(CP),
        "subject": subject,
        "subject_files": files,
        "subject_file_bytes": subject_bytes,
        "shards_holding_subject": len(shards),
        "shards_total": shards_total,
        "hub": hub,
    }
    print(f"\nARC-shaped tree, scale {args.scale}: {checked} files, {tree_bytes / 1e9:.2f} GB, "
          f"{args.rounds} rounds, warm page cache\n")  # fmt: skip
    print(local.table(tree_bytes))
    print(f"\nexport / cp -r         {report['export_over_cp']:.2f}x   "
          f"(exported tree checked: {checked} files equal)")  # fmt: skip
    served_by = f"{args.transport}, {'no CDN' if args.no_cdn else 'redirected to a CDN'}"
    print(f"\none subject ({subject}: {files} files, {subject_bytes / 1e6:.1f} MB, in "
          f"{len(shards)} of {shards_total} shards) from the local Hub server "
          f"({served_by})\n")  # fmt: skip
    print(hub_table(hub))
    write_result(HERE / "results" / f"export-arc-{args.scale}.json", report)
    return report


def local_export(args: argparse.Namespace, tree: Path, out: Path) -> tuple[Comparison, int]:
    local = Comparison()

    def cp() -> Run:
        target = fresh(args.work / "cp")
        return measure(CP, ["sh", "-c", f"cp -r '{tree}' '{target}' && sync"])

    def export() -> Run:
        target = fresh(args.work / "export")
        command = f"'{PYTHON}' -m nifti2parquet export '{out}' '{target}' --quiet && sync"
        return measure(EXPORT, ["sh", "-c", command])

    interleave(args.rounds, [("cp", cp), ("export", export)], local)
    return local, same_tree(tree, args.work / "export")


def hub_export(
    args: argparse.Namespace, out: Path, subject: str, shards: list[str]
) -> dict[str, Any]:
    """Each condition: the two contenders' median seconds, requests and bytes served."""
    results: dict[str, Any] = {}
    storage = fresh(args.work / "hub-storage")
    with HubServer(storage, token=TOKEN, cdn_redirect=not args.no_cdn) as server:
        env = client_env(server.url, args.work / "hf_home", args.transport)
        command = [PYTHON, "-m", "nifti2parquet", "push", str(out), REPO, "--quiet"]
        if args.transport == "lfs":
            command.append("--no-xet")
        if measure("push", command, env).returncode:
            raise SystemExit("push failed")
        for latency, bandwidth in conditions(args):
            server.latency, server.bandwidth = latency / 1000, bandwidth * 1e6 or None
            name = condition_name(latency, bandwidth)
            results[name] = one_condition(server, env, args, out, subject, shards)
        server.latency, server.bandwidth = 0, None
    return results


def one_condition(
    server: HubServer,
    env: dict[str, str],
    args: argparse.Namespace,
    out: Path,
    subject: str,
    shards: list[str],
) -> dict[str, Any]:
    """Export against download, interleaved, at the server's current latency and bandwidth."""
    comparison = Comparison()
    served = {HUB_EXPORT: Served(), DOWNLOAD: Served()}
    target = args.work / "hub-export"

    def run(name: str, command: list[str]) -> Run:
        server.clear_log()
        before = children_cpu()
        result = measure(name, command, env)
        served[name].add(server, children_cpu() - before)
        return result

    def export() -> Run:
        fresh(target)
        command = ["export", REPO, str(target), "--quiet", "--subject", subject]
        return run(HUB_EXPORT, [PYTHON, "-m", "nifti2parquet", *command])

    def download() -> Run:
        fresh(Path(env["HF_HOME"]) / "hub")  # an empty download cache each time
        return run(DOWNLOAD, [PYTHON, "-c", DOWNLOAD_SCRIPT, REPO, *shards])

    interleave(args.hub_rounds, [("export", export), ("download", download)], comparison)
    check_subject(out, target, subject)
    return {
        name: {
            "seconds": comparison.seconds(name),
            "runs": [r.seconds for r in comparison.runs[name]],
            "cpu_seconds": statistics.median(s.cpu),
            "requests": max(s.requests),
            "bytes_served": max(s.bytes),
            "peak_rss": comparison.rss(name),
        }
        for name, s in served.items()
    }


def conditions(args: argparse.Namespace) -> list[tuple[float, float]]:
    """(latency ms, bandwidth MB/s) pairs, every latency at every bandwidth."""
    return [(latency, bandwidth) for bandwidth in args.bandwidth_mb for latency in args.latency_ms]


def condition_name(latency: float, bandwidth: float) -> str:
    return f"{latency:g} ms, " + (f"{bandwidth:g} MB/s" if bandwidth else "loopback")


def hub_table(hub: dict[str, Any]) -> str:
    lines = [
        f"{'':20s} {'':30s} {'median s':>9s} {'CPU s':>6s} {'requests':>9s} {'MB served':>10s}"
        "  runs"
    ]
    for condition, contenders in hub.items():
        for name, r in contenders.items():
            runs = ", ".join(f"{s:.2f}" for s in r["runs"])
            lines.append(
                f"{condition:20s} {name:30s} {r['seconds']:9.2f} {r['cpu_seconds']:6.2f} "
                f"{r['requests']:9d} {r['bytes_served'] / 1e6:10.1f}  {runs}"
            )
        export, download = contenders[HUB_EXPORT], contenders[DOWNLOAD]
        ratio = export["seconds"] / download["seconds"]
        cpu = export["cpu_seconds"] / download["cpu_seconds"]
        lines.append(f"{condition:20s} {'export / download':30s} {ratio:8.2f}x {cpu:5.2f}x")
    return "\n".join(lines)


def prepare(work: Path, scale: float) -> tuple[Path, Path]:
    """The ARC-shaped tree and its build, made once and kept in ``work``."""
    tree, out = work / f"arc-{scale}", work / f"out-{scale}"
    if not (tree / "dataset_description.json").exists():
        print(f"generating an ARC-shaped tree at scale {scale} ...", flush=True)
        fresh(tree)
        make_arc_tree(tree, scale)
    if not built_by_this_code(out):
        print(f"building the ARC-shaped tree at scale {scale} ...", flush=True)
        fresh(out)
        build = measure("build", [PYTHON, "-m", "nifti2parquet", "build", str(tree), str(out),
                                  "--quiet", "--max-shard-size", "100MB"])  # fmt: skip
        if build.returncode:
            raise SystemExit("build failed")
        mark_built(out)
    return tree, out


def subject_files(out: Path, subject: str | None = None) -> tuple[str, list[Any]]:
    """The first subject (or ``subject``) and the dataset's files an export of it selects."""
    from nifti2parquet.common.selection import Selection
    from nifti2parquet.retrieval.catalog import read_catalog
    from nifti2parquet.retrieval.ranges import LocalStore, RequestCounter
    from nifti2parquet.sources import path_selector

    everything = read_catalog(LocalStore(str(out)), "train", RequestCounter()).files
    labels = sorted({f.path.split("/")[0][4:] for f in everything if f.path.startswith("sub-")})
    subject = subject or labels[0]
    left_out = path_selector(Selection(subjects=(subject,)))  # why a path is left out, or ""
    return subject, [f for f in everything if not left_out(f.path)]


def one_subject(out: Path) -> tuple[str, list[str], int, int]:
    """The first subject, the shards holding its files, their bytes and count."""
    subject, files = subject_files(out)
    shards = sorted({f.location.shard for f in files})
    return subject, shards, sum(f.size for f in files), len(files)


def check_subject(out: Path, dest: Path, subject: str) -> None:
    """The one-subject export holds exactly the subject's files, each with its sha256."""
    _, files = subject_files(out, subject)
    expected = {f.path: f.sha256 for f in files}
    if digests(dest) != expected:
        raise SystemExit(f"the export of {subject} is not the subject's files")


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def same_tree(source: Path, copy: Path) -> int:
    """Every file of ``source`` is in ``copy`` with the same sha256, and nothing else; how many."""
    mine, theirs = digests(source), digests(copy)
    if mine != theirs:
        raise SystemExit(f"exported tree differs: {sorted(set(mine) ^ set(theirs))[:5]}")
    return len(mine)


if __name__ == "__main__":
    main()

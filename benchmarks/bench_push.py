"""Push: end to end against ``datasets.push_to_hub``, and alone against a bare ``upload_folder``.

    python benchmarks/bench_push.py                 # 1.1 GB of 10-150 MB images, 3 rounds, Xet
    python benchmarks/bench_push.py --transport lfs # the same over plain Git LFS (--no-xet)
    python benchmarks/bench_push.py --size-gb 2.2 --rounds 5
    python benchmarks/bench_push.py --build-workers 1

Everything goes to the local Hub-protocol server of the tests (``tests/hubserver.py`` with its Xet
CAS, ``tests/xetserver.py``, run as a subprocess; a fresh one with empty storage, and a fresh
``HF_HOME`` so an empty local Xet cache, for every measured run: nothing is ever already there).
Every client uses Xet, as on the Hub, unless ``--transport lfs`` (``HF_HUB_DISABLE_XET=1``, and
``push --no-xet``). Each round runs, each as its own process and in this order:

1. ``nifti2parquet build`` + ``nifti2parquet push`` of the image table (end to end);
2. ``datasets``: the table's paths cast to ``Nifti()``, ``push_to_hub(embed_external_files=True)``
   with the default ``max_shard_size``;
3. ``nifti2parquet push`` alone, of a build made once before the rounds;
4. ``HfApi().upload_folder`` of that same build (ignoring ``.nifti2parquet/**``): the protocol's
   floor, one ``create_commit`` of every file.

Wall time and the peak RSS of each client's process tree (the server is not in it) are recorded;
medians over interleaved rounds are reported, since only ratios measured in one run mean anything
on a shared 2-core machine. Targets (issue 4): end to end >= 3x faster than push_to_hub with
<= 1/5 of its peak memory and every shard under the threshold; push <= 1.2x the bare upload.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import (
    PYTHON,
    Comparison,
    fresh,
    image_dataset,
    interleave,
    measure,
    tidy,
    write_result,
)
from tables import Table, megabytes, met, seconds

HERE = Path(__file__).parent
HUBSERVER = HERE.parent / "tests" / "hubserver.py"
TOKEN = "hf_benchmarktoken"
MAX_SHARD = 500_000_000  # nifti2parquet's default --max-shard-size, and datasets' max_shard_size

E2E = "nifti2parquet build + push"
HF = "datasets push_to_hub"
PUSH = "nifti2parquet push"
BARE = "HfApi.upload_folder (floor)"
# the local CAS serves the v1 shard and reconstruction APIs only; no telemetry to send anywhere
XET_ENV = {
    "HF_XET_TELEMETRY_ENABLED": "false",
    "HF_XET_CLIENT_SHARD_API_VERSION": "1",
    "HF_XET_CLIENT_RECONSTRUCTION_API_VERSION": "1",
}


# the two library routes, each run as its own process by measure() -----------------------------
def run_push_to_hub(table: str, repo_id: str) -> None:
    """What people write today: the file table's paths cast to Nifti(), embedded on push."""
    import csv

    from datasets import Dataset, Nifti

    with open(table) as f:
        rows = list(csv.DictReader(f))
    folder = os.path.dirname(os.path.abspath(table))
    ds = Dataset.from_dict(
        {
            "subject_id": [r["subject_id"] for r in rows],
            "t1w": [os.path.join(folder, r["t1w"]) for r in rows],
            "age": [float(r["age"]) for r in rows],
        }
    ).cast_column("t1w", Nifti())
    ds.push_to_hub(repo_id, embed_external_files=True)


def run_upload_folder(folder: str, repo_id: str) -> None:
    """The floor: one create_commit of every built file, through the library's own path."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    api.upload_folder(
        folder_path=folder,
        repo_id=repo_id,
        repo_type="dataset",
        ignore_patterns=[".nifti2parquet/**"],
    )


# the local Hub --------------------------------------------------------------------------------
@contextmanager
def local_hub(storage: Path) -> Iterator[str]:
    """A fresh server (empty LFS storage) for one measured run; its URL."""
    fresh(storage)
    command = [PYTHON, str(HUBSERVER), "--storage", str(storage), "--token", TOKEN, "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    if not url.startswith("http"):
        server.kill()
        raise SystemExit(f"hubserver did not start: {url!r}")
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()
        shutil.rmtree(storage, ignore_errors=True)


def client_env(url: str, home: Path, transport: str = "xet") -> dict[str, str]:
    """A client of the local Hub whose ``HF_HOME`` (and so local Xet cache) is ``home``."""
    transport_env = {"HF_HUB_DISABLE_XET": "1"} if transport == "lfs" else XET_ENV
    return {
        **transport_env,
        "HF_ENDPOINT": url,
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(home),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def remote_parquet_sizes(url: str, repo_id: str) -> list[int]:
    """Sizes of the .parquet files on the server (what each contender produced)."""
    request = urllib.request.Request(
        f"{url}/api/datasets/{repo_id}/tree/main?recursive=true",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        entries = json.load(response)
    return [e["size"] for e in entries if e["path"].endswith(".parquet")]


# the benchmark --------------------------------------------------------------------------------
def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.1)
    parser.add_argument("--min-mb", type=float, default=10)
    parser.add_argument("--max-mb", type=float, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build-workers", default="0", help="nifti2parquet build --workers")
    parser.add_argument("--transport", choices=("xet", "lfs"), default="xet")
    parser.add_argument("--no-datasets", action="store_true", help="skip push_to_hub")
    default_work = Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench-push"
    parser.add_argument("--work", type=Path, default=default_work)
    return parser.parse_args(argv)


def compare(args: argparse.Namespace) -> tuple[dict, Comparison, dict[str, list[int]]]:
    """The interleaved rounds; the results file's report and what each contender pushed."""
    source = args.work / f"source-{args.size_gb}gb"
    table = image_dataset(source, args.size_gb, args.min_mb, args.max_mb)
    images = sorted((source / "images").iterdir())
    data_bytes = sum(p.stat().st_size for p in images)
    storage = args.work / "hub-storage"
    build_cmd = (
        f"'{PYTHON}' -m nifti2parquet build '{table}' {{out}} --quiet "
        f"--workers {args.build_workers}"
    )
    produced: dict[str, list[int]] = {}
    no_xet = " --no-xet" if args.transport == "lfs" else ""

    def env(url: str) -> dict[str, str]:
        return client_env(url, fresh(args.work / "hf_home"), args.transport)

    prebuilt = fresh(args.work / "prebuilt")
    subprocess.run(["sh", "-c", build_cmd.format(out=f"'{prebuilt}'")], check=True)

    def end_to_end() -> object:
        out = fresh(args.work / "e2e")
        with local_hub(storage) as url:
            push_cmd = f"'{PYTHON}' -m nifti2parquet push '{out}' user/e2e --quiet{no_xet}"
            command = f"{build_cmd.format(out=repr(str(out)))} && {push_cmd}"
            run = measure(E2E, ["sh", "-c", command], env(url))
            produced[E2E] = remote_parquet_sizes(url, "user/e2e")
        return run

    def push_to_hub() -> object:
        with local_hub(storage) as url:
            command = [PYTHON, __file__, "--route", "push_to_hub", str(table), "user/hf"]
            run = measure(HF, command, env(url))
            produced[HF] = remote_parquet_sizes(url, "user/hf")
        return run

    def push_alone() -> object:
        with local_hub(storage) as url:
            command = [PYTHON, "-m", "nifti2parquet", "push", str(prebuilt), "user/p", "--quiet"]
            command += [no_xet.strip()] if no_xet else []
            run = measure(PUSH, command, env(url))
            produced[PUSH] = remote_parquet_sizes(url, "user/p")
        return run

    def bare() -> object:
        with local_hub(storage) as url:
            command = [PYTHON, __file__, "--route", "upload_folder", str(prebuilt), "user/bare"]
            run = measure(BARE, command, env(url))
            produced[BARE] = remote_parquet_sizes(url, "user/bare")
        return run

    comparison = Comparison()
    steps = [(E2E, end_to_end), (HF, push_to_hub), (PUSH, push_alone), (BARE, bare)]
    if args.no_datasets:
        steps = [step for step in steps if step[0] != HF]
    interleave(args.rounds, steps, comparison)

    results = comparison.results()
    seconds_of, rss = results["seconds"], results["peak_rss"]
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "data_bytes": data_bytes,
        "files": len(images),
        "largest_file": max(p.stat().st_size for p in images),
        "rounds": args.rounds,
        "build_workers": args.build_workers,
        "transport": args.transport,
        **results,
        "runs": {n: [round(r.seconds, 3) for r in runs] for n, runs in comparison.runs.items()},
        "push_over_bare": seconds_of[PUSH] / seconds_of[BARE],
        "shards": {name: len(sizes) for name, sizes in produced.items()},
        "largest_shard": {name: max(sizes) for name, sizes in produced.items()},
        "threshold": MAX_SHARD,
    }
    if HF in seconds_of:
        report["hf_over_e2e"] = seconds_of[HF] / seconds_of[E2E]
        report["e2e_rss_over_hf"] = rss[E2E] / rss[HF]
    workers = "" if args.build_workers == "0" else f"-w{args.build_workers}"
    over = "" if args.transport == "xet" else "-lfs"
    write_result(HERE / "results" / f"push-{args.size_gb}gb{workers}{over}.json", report)
    return report, comparison, produced


def push_table(report: dict) -> Table:
    seconds_of, rss = report["seconds"], report["peak_rss"]
    rows = tuple(
        (
            name,
            seconds(value),
            megabytes(rss[name]),
            f"{report['shards'][name]}, largest {report['largest_shard'][name] / 1e6:,.1f} MB",
        )
        for name, value in seconds_of.items()
    )
    transport = "Xet" if report["transport"] == "xet" else "Git LFS (`--no-xet`)"
    notes = [
        f"{report['files']} images, {report['data_bytes'] / 1e9:.2f} GB, to the local Hub server "
        f"of the tests over {transport}, a fresh server and client cache for every run; "
        f"{report['rounds']} interleaved rounds, medians; memory of the client's process tree",
        f"push / `upload_folder`: **{report['push_over_bare']:.2f}x** (target <= 1.2x: "
        f"{met(report['push_over_bare'] <= 1.2)})",
    ]
    if "hf_over_e2e" in report:
        notes.append(
            f"build + push is {report['hf_over_e2e']:.2f}x faster than `push_to_hub` (target >= "
            f"3x: {met(report['hf_over_e2e'] >= 3)}) with {report['e2e_rss_over_hf']:.2f} of its "
            f"peak memory (target <= 0.20: {met(report['e2e_rss_over_hf'] <= 0.2)})"
        )
    else:
        notes.append("`push_to_hub` is measured in the full run only")
    title = "Push, against upload_folder and push_to_hub"
    columns = ("", "median", "peak memory", "parquet files pushed")
    return Table("push", title, columns, rows, tuple(notes))


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: 1.1 GB over Xet, 2 rounds (0.3 GB, 1 round, without push_to_hub, quick)."""
    argv = ["--size-gb", "0.3", "--rounds", "1", "--no-datasets"] if quick else ["--rounds", "2"]
    args = parse(argv)
    args.work = work
    report, _, _ = compare(args)
    tidy(work, ["source-*"])
    return [push_table(report)]


def main() -> None:
    args = parse()
    report, comparison, produced = compare(args)
    print(
        f"\n{report['files']} images, {report['data_bytes'] / 1e9:.2f} GB, largest "
        f"{report['largest_file'] / 1e6:.0f} MB, {args.rounds} interleaved rounds, "
        f"{'Xet' if args.transport == 'xet' else 'Git LFS (--no-xet)'}, local hub server\n"
    )
    print(comparison.table(report["data_bytes"]))
    print(
        f"\npush / upload_folder       {report['push_over_bare']:.2f}x           (target <= 1.2x)"
    )
    if "hf_over_e2e" in report:
        print(
            f"push_to_hub / build+push   {report['hf_over_e2e']:.2f}x faster   (target >= 3x)"
            f"\nbuild+push RSS / hf        {report['e2e_rss_over_hf']:.2f}            "
            f"(target <= 0.20)"
        )
    for name, sizes in produced.items():
        under = all(s <= MAX_SHARD for s in sizes)
        print(
            f"{name:26s} {len(sizes)} shard(s), largest {max(sizes) / 1e6:.1f} MB"
            f"{'' if under else '  (over the 500 MB threshold)'}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--route":
        route = {"push_to_hub": run_push_to_hub, "upload_folder": run_upload_folder}[sys.argv[2]]
        route(sys.argv[3], sys.argv[4])
    else:
        main()

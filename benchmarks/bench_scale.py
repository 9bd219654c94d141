"""How the build scales: 1 vs 2 workers on the same data, and S3 vs local disk.

    python benchmarks/bench_scale.py                 # 1.1 GB of 10-150 MB images, 3 rounds
    python benchmarks/bench_scale.py --s3-gb 0.5     # size of the S3 comparison

Workers: ``nifti2parquet build --workers 1`` and ``--workers 2`` on the same files, interleaved,
each followed by ``sync`` (``cp -r + sync`` runs alongside as the floor).

S3: the same images are uploaded to a real S3-compatible server on 127.0.0.1 (moto, the one the
tests use) and built from ``s3://...`` (anonymous access) next to the same build from local disk.
The local server is a single Python process, so this measures our request pattern and overlap, not
a real network: compare the two ratios, not absolute speeds.
"""

from __future__ import annotations

import argparse
import os
import sys
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
from tables import Table, megabytes, ratio, seconds

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))


def workers_case(args: argparse.Namespace) -> dict:
    source = args.work / f"source-{args.size_gb}gb"
    table = image_dataset(source, args.size_gb)
    data = sum(p.stat().st_size for p in (source / "images").iterdir())

    def cp() -> object:
        target = fresh(args.work / "cp")
        return measure("cp -r + sync", ["sh", "-c", f"cp -r '{source}' '{target}' && sync"])

    def build(workers: int):
        def step() -> object:
            target = fresh(args.work / f"w{workers}")
            command = (
                f"'{PYTHON}' -m nifti2parquet build '{table}' '{target}' --quiet "
                f"--workers {workers} --no-previews && sync"
            )
            return measure(f"build --workers {workers}", ["sh", "-c", command])

        return step

    comparison = Comparison()
    interleave(args.rounds, [("cp", cp), ("w1", build(1)), ("w2", build(2))], comparison)
    print(f"\nworkers: {data / 1e9:.2f} GB\n" + comparison.table(data))
    speedup = comparison.seconds("build --workers 1") / comparison.seconds("build --workers 2")
    print(f"speed-up 2 workers vs 1: {speedup:.2f}x")
    return {
        "data_bytes": data,
        **comparison.results(),
        "speedup_2_vs_1": speedup,
    }


def s3_case(args: argparse.Namespace) -> dict:
    from s3server import S3Server

    source = args.work / f"s3source-{args.s3_gb}gb"
    image_dataset(source, args.s3_gb, seed=1)
    data = sum(p.stat().st_size for p in (source / "images").iterdir())
    server = S3Server().start()
    client = server.client()
    client.create_bucket(Bucket="bench", ACL="public-read")
    for path in sorted(source.rglob("*")):
        if path.is_file():
            client.upload_file(
                str(path),
                "bench",
                f"ds/{path.relative_to(source)}",
                ExtraArgs={"ACL": "public-read"},
            )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    def build(where: str):
        def step() -> object:
            target = fresh(args.work / f"s3-{where}")
            src = (
                f"s3://bench/ds/participants.csv --storage-option endpoint_url={server.url}"
                if where == "s3"
                else f"'{source / 'participants.csv'}'"
            )
            command = (
                f"'{PYTHON}' -m nifti2parquet build {src} '{target}' --quiet --no-previews && sync"
            )
            return measure(
                f"build from {where}", ["env", "-i", *_env_pairs(env), "sh", "-c", command]
            )

        return step

    comparison = Comparison()
    try:
        interleave(args.rounds, [("local", build("local")), ("s3", build("s3"))], comparison)
    finally:
        server.stop()
    print(f"\nS3 vs local disk: {data / 1e9:.2f} GB\n" + comparison.table(data))
    ratio = comparison.seconds("build from s3") / comparison.seconds("build from local")
    print(f"S3 / local: {ratio:.2f}x")
    return {
        "data_bytes": data,
        **comparison.results(),
        "s3_over_local": ratio,
    }


def _env_pairs(env: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in env.items()]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.1)
    parser.add_argument("--s3-gb", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-bench"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    report = {"rounds": args.rounds, "workers": workers_case(args)}
    if not args.skip_s3:
        report["s3"] = s3_case(args)
    write_result(HERE / "results" / "scale.json", report)
    return report


def scale_tables(report: dict) -> list[Table]:
    made = []
    for key, title, reference, note in (
        (
            "workers",
            "Build workers: 1 against 2 on 2 cores",
            "cp -r + sync",
            "`--workers 1` and `--workers 2` on the build table's data, `--no-previews`",
        ),
        (
            "s3",
            "Building from S3 (a local moto server) against local disk",
            "build from local",
            "the same images served by moto's S3 server on 127.0.0.1 (one Python process "
            "serving every request: this measures the request pattern, not a network), "
            "`--no-previews`",
        ),
    ):
        if key not in report:
            continue
        case = report[key]
        base = case["seconds"][reference]
        rows = tuple(
            (
                name,
                seconds(value),
                ratio(value / base),
                seconds(case["cpu_seconds"][name]),
                megabytes(case["peak_rss"][name]),
            )
            for name, value in case["seconds"].items()
        )
        notes = (
            f"{note}; {case['data_bytes'] / 1e9:.2f} GB; {report['rounds']} interleaved rounds, "
            f"medians",
        )
        columns = ("", "median", f"× {reference}", "CPU", "peak memory")
        made.append(Table(f"scale-{key}", title, columns, rows, notes))
    return made


def tables(quick: bool, work: Path) -> list[Table]:
    """run_all: workers on 1.1 GB and S3 on 0.5 GB, 3 rounds (0.5 GB, 2 rounds, no S3, quick)."""
    args = parse(["--size-gb", "0.5", "--rounds", "2", "--skip-s3"] if quick else [])
    args.work = work
    report = run(args)
    tidy(work, ["source-*", "s3source-*"])
    return scale_tables(report)


def main() -> None:
    run(parse())


if __name__ == "__main__":
    main()

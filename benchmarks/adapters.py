"""``run_all`` for benchmarks that do not define ``tables()`` yet: run them as their own command
line does, then read the results file they write.

An adapter is a stopgap: once ``bench_NAME.py`` defines ``tables(quick, work)``, ``run_all``
calls that instead and the adapter is no longer used. A results file whose fields changed gives
the adapter's tables a "not measured yet" row saying so, never a wrong number.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness import PYTHON, tidy
from tables import NOT_MEASURED, Table, megabytes, placeholder, ratio, seconds

HERE = Path(__file__).parent
LOCAL_TITLE = "Export of a whole tree from a build folder, against cp"
HUB_TITLE = "Export of one subject from the Hub, against hf_hub_download"


def export_tables(quick: bool, work: Path) -> list[Table]:
    """``bench_export.py``: an ARC-shaped tree exported from its build folder and from the local
    Hub server, at scale 0.002 (0.001 quick)."""
    scale, rounds = ("0.001", "2") if quick else ("0.002", "3")
    command = [PYTHON, str(HERE / "bench_export.py"), "--scale", scale, "--rounds", rounds]
    code = subprocess.run([*command, "--work", str(work)], cwd=HERE).returncode
    results = HERE / "results" / f"export-arc-{scale}.json"
    if code != 0 or not results.exists():
        raise SystemExit(f"bench_export.py failed (exit {code})")
    report = json.loads(results.read_text())
    tidy(work, ["arc-*", "out-*"])  # bench_export.py reuses its tree and its build
    try:
        return [_local(report, rounds), _hub(report, rounds)]
    except (KeyError, TypeError, ValueError) as exc:
        why = f"bench_export.py's results file changed ({exc!r}): define tables() in it"
        return [
            placeholder("export-local", LOCAL_TITLE, why),
            placeholder("export-hub", HUB_TITLE, why),
        ]


def _local(report: dict, rounds: str) -> Table:
    from bench_export import CP

    local = report["local"]
    cp = local["seconds"][CP]
    rows = tuple(
        (name, seconds(value), ratio(value / cp), megabytes(local["peak_rss"][name]))
        for name, value in local["seconds"].items()
    )
    notes = (
        f"an ARC-shaped tree (`arc_tree.py`, scale {report['scale']}: {report['tree_files']} "
        f"files, {report['tree_bytes'] / 1e6:,.0f} MB) built with `--max-shard-size 100MB`, "
        f"exported whole; {rounds} interleaved rounds, medians; the exported tree is checked "
        f"against the source after the rounds (every sha256 equal)",
    )
    return Table("export-local", LOCAL_TITLE, ("", "median", "× cp", "peak memory"), rows, notes)


def _hub(report: dict, rounds: str) -> Table:
    from bench_export import DOWNLOAD, HUB_EXPORT

    hub, served = report["hub"], report["bytes_served"]
    rows = [
        (
            f"{name}, 0 ms per request",
            seconds(hub["seconds"][name]),
            NOT_MEASURED,
            megabytes(served[name]),
            megabytes(hub["peak_rss"][name]),
        )
        for name in (HUB_EXPORT, DOWNLOAD)
    ]
    rows += [
        (f"{name}, 50 ms per request", NOT_MEASURED, NOT_MEASURED, NOT_MEASURED, NOT_MEASURED)
        for name in (HUB_EXPORT, DOWNLOAD)
    ]
    notes = (
        f"subject {report['subject']}: {report['subject_files']} files, "
        f"{report['subject_file_bytes'] / 1e6:.1f} MB with the dataset-level files, in "
        f"{report['shards_holding_subject']} of {report['shards_total']} shards; the local "
        f"Hub server of the tests over loopback (Git LFS); {rounds} interleaved rounds, medians",
        "requests and the 50 ms rows: `bench_export.py` does not count requests nor add latency "
        "yet (it is being reworked; it will define `tables()` for `run_all`)",
    )
    columns = ("", "median", "requests", "bytes served", "peak memory")
    return Table("export-hub", HUB_TITLE, columns, tuple(rows), notes)

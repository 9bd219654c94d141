"""Result tables: what a benchmark hands to ``run_all``, and how they land in the README.

A benchmark module ``bench_NAME.py`` joins ``benchmarks/run_all`` by defining

    def tables(quick: bool, work: Path) -> list[Table]: ...

``quick`` asks for the laptop-size run (less data, fewer rounds); ``work`` is a folder of its own
for generated data and outputs (kept between runs, so data is generated once). ``run_all`` calls
it in a process of its own and writes each table between the README's markers
``<!-- table:ID -->`` and ``<!-- /table:ID -->``, under a line naming the commit, the date and
the size of the run. A table whose markers are not in the README yet is added at its end.

Cells are plain strings (formatted by the benchmark, which knows its units); ``notes`` are
markdown lines printed under the table (targets met or not, what the data was).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

NOT_MEASURED = "not measured yet"


@dataclass(frozen=True)
class Table:
    id: str  # the README marker name: lowercase words and dashes
    title: str  # one line saying what was measured, on what
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = field(default=())

    def markdown(self) -> str:
        right = [i > 0 and _numeric(self.rows, i) for i in range(len(self.columns))]
        lines = [
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join("---:" if r else "---" for r in right) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def placeholder(table_id: str, title: str, reason: str) -> Table:
    """The row a table shows until its benchmark measures it."""
    return Table(table_id, title, ("", "result"), ((NOT_MEASURED, reason),))


def _numeric(rows: Sequence[Sequence[str]], column: int) -> bool:
    cells = [row[column] for row in rows if column < len(row) and row[column]]
    return bool(cells) and all(c[:1].isdigit() or c[:1] in "-+~<>" for c in cells)


def save(tables: Sequence[Table], path: Path) -> None:
    path.write_text(json.dumps([asdict(t) for t in tables], indent=1) + "\n")


def load(path: Path) -> list[Table]:
    return [
        Table(
            t["id"],
            t["title"],
            tuple(t["columns"]),
            tuple(tuple(r) for r in t["rows"]),
            tuple(t.get("notes", ())),
        )
        for t in json.loads(path.read_text())
    ]


# formatting helpers the benchmarks share --------------------------------------------------------
def seconds(value: float) -> str:
    return f"{value:.2f} s"


def megabytes(value: float) -> str:
    return f"{value / 1e6:,.0f} MB"


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def percent(value: float) -> str:
    return f"{value * 100:+.1f}%"


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def against_cp(
    report: dict, data_bytes: int, cp: str = "cp -r + sync"
) -> tuple[tuple[str, ...], ...]:
    """One row per contender timed against ``cp``: median, ratio, CPU, MB/s of ``data_bytes``,
    peak memory (the API builds that only time the privacy scan have a table of their own)."""
    seconds_of, rss_of, cpu_of = report["seconds"], report["peak_rss"], report["cpu_seconds"]
    return tuple(
        (
            name,
            seconds(seconds_of[name]),
            ratio(seconds_of[name] / seconds_of[cp]),
            seconds(cpu_of[name]),
            f"{data_bytes / seconds_of[name] / 1e6:,.0f}",
            megabytes(rss_of[name]),
        )
        for name in seconds_of
        if not name.startswith("build (API)")
    )


def previews_cost(report: dict) -> str:
    """What previews add to a build's time and peak memory. The time is the difference of two
    medians of a few rounds, which the machine's noise moves by more than the previews cost: its
    target is judged in the previews table, on paired rounds and CPU."""
    added = report["previews_rss_over_build"]
    return (
        f"previews add {percent(report['previews_over_build'] - 1)} to the build time here (the "
        f"difference of two medians; the target of <= 10% is judged in the previews table, on "
        f"paired rounds and CPU) and {added / 1e6:+,.0f} MB to its peak memory (target <= 50 MB: "
        f"{met(added <= 50e6)})"
    )


def privacy_scan_table(report: dict, table_id: str, title: str, data: str) -> Table:
    """The build with its privacy scan on and off, and the scan's own share of the build;
    ``data``: the note on what was built."""
    overhead = report["privacy_scan"]
    rows = tuple(
        (name, seconds(report["seconds"][name]), megabytes(report["peak_rss"][name]))
        for name in report["seconds"]
        if name.startswith("build (API)")
    )
    notes = (
        f"the scan, timed inside each build: **{overhead['scan_share'] * 100:.2f}%** of the build "
        f"(target <= 5%: {met(overhead['scan_share'] <= 0.05)}); the medians of the builds with "
        f"the scan on and off differ by {percent(overhead['on_over_off'])}, which is noise when "
        f"it is larger than the scan's own share",
        f"{data}, through the Python API (`--no-previews`), the scan off with "
        f"`BuildOptions(privacy_scan=False)`, which exists only for this measurement; the two "
        f"take turns going first",
    )
    return Table(table_id, title, ("", "median", "peak memory"), rows, notes)

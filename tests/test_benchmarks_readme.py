"""``benchmarks/run_all`` writes the benchmark tables into ``benchmarks/README.md`` between their
markers, and finds every benchmark that follows the convention.

The benchmarks themselves are not run here (they take minutes and measure time, which tests do
not assert); this checks the plumbing that keeps their README true.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run_all  # noqa: E402
from tables import NOT_MEASURED, Table, placeholder  # noqa: E402

README = """# Benchmarks

Words before.

<!-- table:alpha -->
old alpha
<!-- /table:alpha -->

Words between.

<!-- table:beta -->
old beta
<!-- /table:beta -->
"""


def _table(table_id: str) -> Table:
    return Table(table_id, f"Title {table_id}", ("", "median"), (("cp", "1.00 s"),), ("a note",))


def test_a_table_is_rewritten_between_its_markers_and_nothing_else_changes() -> None:
    table = _table("alpha")
    text = run_all.rewrite(README, {"alpha": (table.title, run_all.block(table, "stamp"))})
    assert "old alpha" not in text
    assert "stamp\n\n|  | median |" in text
    assert "| cp | 1.00 s |" in text
    assert "old beta" in text  # a table not measured in this run keeps its block
    before, after = (
        README.split("<!-- table:alpha -->")[0],
        README.split("<!-- /table:alpha -->")[1],
    )
    assert text.startswith(before) and text.endswith(after)


def test_a_table_the_readme_does_not_have_yet_is_added_at_its_end() -> None:
    table = _table("gamma")
    body = run_all.block(table, "stamp")
    text = run_all.rewrite(README, {"gamma": (table.title, body)})
    assert text.startswith(README.rstrip("\n"))
    assert text.endswith(f"### Title gamma\n\n<!-- table:gamma -->\n{body}<!-- /table:gamma -->\n")
    assert text.count(run_all.OTHERS) == 1
    again = run_all.rewrite(text, {"gamma": (table.title, "new\n")})  # now it has markers
    assert again.count("<!-- table:gamma -->") == 1 and "new\n<!-- /table:gamma -->" in again


def test_every_expected_table_has_its_place_in_the_readme() -> None:
    text = run_all.README.read_text()
    for table_id in [t for t, _, _ in run_all.EXPECTED] + ["machine"]:
        assert f"<!-- table:{table_id} -->" in text
        assert f"<!-- /table:{table_id} -->" in text


def test_every_expected_benchmark_is_found_by_the_convention() -> None:
    found = run_all.benchmarks()
    for _, _, name in run_all.EXPECTED:
        assert name in found, f"bench_{name}.py defines no tables()"
    assert found["build"] == "bench_build:tables"
    assert list(found)[: len(run_all.ORDER)] == [n for n in run_all.ORDER if n in found]


def test_an_unmeasured_table_is_stale() -> None:
    table = placeholder("alpha", "Title", "bench_alpha.py does not exist yet")
    text = README.replace("old alpha\n", table.markdown() + "\n")
    assert NOT_MEASURED in table.markdown()
    assert "alpha: not measured" in run_all.stale_tables(text)


def test_every_table_of_the_readme_is_written_by_run_all() -> None:
    """No number typed by hand: every markdown table line lies between a table's markers."""
    text = run_all.README.read_text()
    inside = "".join(match.group(0) for match in run_all.MARK.finditer(text))
    outside = run_all.MARK.sub("", text)
    table_lines = [line for line in outside.splitlines() if line.startswith("|")]
    assert table_lines == []
    assert inside.count("\n|") > 0


def test_a_failing_benchmark_is_named_and_the_run_exits_non_zero(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README)
    monkeypatch.setattr(run_all, "README", readme)
    monkeypatch.setattr(run_all, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(run_all, "machine_table", lambda: _table("machine"))
    # a real child process whose benchmark cannot even be imported
    monkeypatch.setattr(run_all, "benchmarks", lambda: {"broken": "no_such_bench_module:tables"})
    code = run_all.main(["broken", "--quick", "--work", str(tmp_path / "work")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "[1/1] bench_broken.py (`--quick` size): running" in out
    assert "bench_broken.py: FAILED" in out
    assert "0 of 1 benchmark(s) done" in out
    assert "FAILED broken: bench_broken.py failed (exit 1)" in err

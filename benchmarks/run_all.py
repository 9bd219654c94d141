"""Run every benchmark on the current commit and rewrite the tables of ``benchmarks/README.md``.

    benchmarks/run_all                 # the full run (tens of minutes on 2 cores)
    benchmarks/run_all --quick         # laptop size: less data, fewer rounds (a few minutes)
    benchmarks/run_all --quick build   # only some benchmarks (bench_build.py here)
    benchmarks/run_all --check         # which README tables are older than what they measure

Every ``benchmarks/bench_*.py`` that defines ``tables(quick: bool, work: Path) -> list[Table]``
(see ``tables.py``) is run, one after the other, each in a process of its own. Each table it
returns is written between its markers in the README under a line naming the benchmark, the
commit (``+ uncommitted changes`` when the working tree differs from it), the date, the size of
the run and the load average of the machine when it started. A table the README expects that
nothing produced says "not measured yet", with why.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness import compile_package
from tables import NOT_MEASURED, Table, load, placeholder, save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
RESULTS = HERE / "results"
ORDER = (
    "build",
    "bids",
    "previews",
    "plan",
    "verify",
    "scale",
    "export",
    "push",
    "republish",
    "segmentation",
    "corpus",
)
# tables the README must show, whoever makes them: (id, title, benchmark)
EXPECTED = (
    ("build-table", "Build of a table source, against cp + sync", "build"),
    ("build-phases", "Where a build's time goes", "build"),
    ("build-arc", "Build of an ARC-shaped BIDS tree, against cp + sync", "bids"),
    ("previews", "What the card's previews cost a build", "previews"),
    ("privacy-scan", "The privacy preflight's cost in a build", "build"),
    ("privacy-scan-arc", "The privacy preflight's cost in a build of an ARC-shaped tree", "bids"),
    ("planning", "Planning: inspect and build of many small files", "plan"),
    ("export-local", "Export of a whole tree from a build folder, against cp", "export"),
    ("export-hub", "Export of one subject from the Hub, against hf_hub_download", "export"),
    ("push", "Push, against upload_folder and push_to_hub", "push"),
    ("republish", "Re-publishing a new version over Xet", "republish"),
    ("segmentation-build", "Build of an MSD-shaped segmentation task", "segmentation"),
    ("segmentation-export", "Export of one segmentation case from the Hub", "segmentation"),
    ("corpus", "Build and export of the public BIDS examples", "corpus"),
    ("corpus-privacy", "The privacy review of the public BIDS examples", "corpus"),
)
MARK = re.compile(r"<!-- table:([a-z0-9-]+) -->\n(.*?)<!-- /table:\1 -->\n", re.S)
STAMP = re.compile(r"^`(bench_\w+\.py|run_all)` · commit `([0-9a-f]+)`( \+ uncommitted changes)?")
OTHERS = "## More benchmarks"


# the runs -----------------------------------------------------------------------------------------
def benchmarks() -> dict[str, str]:
    """name → ``module:function`` for every benchmark run_all can run."""
    found = {}
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.FunctionDef) and n.name == "tables" for n in tree.body):
            found[name] = f"{path.stem}:tables"
    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(ORDER)), kv[0])))


def run_one(
    name: str, target: str, quick: bool, work: Path, place: str = ""
) -> tuple[list[Table], str]:
    """Run one benchmark in its own process; its tables, or none and why."""
    out = RESULTS / f"run_all-{name}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(HERE / "run_all.py"), "--child", target, "--work", str(work)]
    command += ["--out", str(out)] + (["--quick"] if quick else [])
    size = "`--quick` size" if quick else "full size"
    print(f"\n=== {place}bench_{name}.py ({size}): running ===", flush=True)
    started = time.monotonic()
    code = subprocess.run(command, cwd=HERE).returncode
    took = time.monotonic() - started
    made = load(out) if code == 0 and out.exists() else []
    done = f"{len(made)} table(s)" if code == 0 and out.exists() else "FAILED"
    print(f"=== {place}bench_{name}.py: {done}, {took:.0f} s, exit {code} ===", flush=True)
    if code != 0 or not out.exists():
        return [], f"bench_{name}.py failed (exit {code})"
    return made, ""


def child(target: str, quick: bool, work: Path, out: Path) -> None:
    """In the benchmark's own process: call its ``tables`` and save what it returns."""
    module, function = target.split(":")
    tables = getattr(__import__(module), function)(quick=quick, work=work)
    save(tables, out)


# the README ---------------------------------------------------------------------------------------
def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def commit_label() -> str:
    """The short commit, and whether the tree differs from it (the README itself aside)."""
    changed = [
        line
        for line in git("status", "--porcelain", "--untracked-files=normal").splitlines()
        if not line.endswith("benchmarks/README.md")
    ]
    return f"commit `{git('rev-parse', '--short', 'HEAD')}`" + (
        " + uncommitted changes" if changed else ""
    )


def stamp(source: str, quick: bool, load_average: float | None = None) -> str:
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    size = "`--quick` size" if quick else "full size"
    load = "" if load_average is None else f" · load average {load_average:.1f} at the start"
    return f"`{source}` · {commit_label()} · {today} · {size}{load}"


def block(table: Table, stamp_line: str) -> str:
    return f"{stamp_line}\n\n{table.markdown()}\n"


def rewrite(text: str, blocks: dict[str, tuple[str, str]]) -> str:
    """Each table's block between its markers; tables the README does not have yet at its end."""
    done = set()

    def replace(match: re.Match) -> str:
        table_id = match.group(1)
        if table_id not in blocks:
            return match.group(0)
        done.add(table_id)
        return f"<!-- table:{table_id} -->\n{blocks[table_id][1]}<!-- /table:{table_id} -->\n"

    text = MARK.sub(replace, text)
    new = [table_id for table_id in blocks if table_id not in done]
    if new and OTHERS not in text:
        text = text.rstrip("\n") + f"\n\n{OTHERS}\n"
    for table_id in new:
        title, body = blocks[table_id]
        text = text.rstrip("\n") + (
            f"\n\n### {title}\n\n<!-- table:{table_id} -->\n{body}<!-- /table:{table_id} -->\n"
        )
    return text


def machine_table() -> Table:
    def version(package: str) -> str:
        try:
            from importlib.metadata import version as installed

            return installed(package)
        except Exception:
            return "not installed"

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    one, two = _sha256_speed()
    rows = (
        ("CPU", f"{cpu}, {os.cpu_count()} cores"),
        (
            "sha256 of data in cache",
            f"{one / 1e9:.2f} GB/s on one thread; {two / 1e9:.2f} GB/s in total on two threads "
            f"at once ({two / one:.2f}x)",
        ),
        ("memory", f"{memory / 2**30:.0f} GiB"),
        ("system", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        *((p, version(p)) for p in ("pyarrow", "huggingface_hub", "hf_xet", "datasets")),
    )
    return Table("machine", "The machine", ("", ""), rows)


def _sha256_speed() -> tuple[float, float]:
    """Bytes per second of sha256 over an in-cache buffer: one thread, then two at once."""
    import hashlib
    import threading

    block, rounds = os.urandom(1 << 20), 512

    def work() -> None:
        digest = hashlib.sha256()
        for _ in range(rounds):
            digest.update(block)

    started = time.perf_counter()
    work()
    one = rounds * len(block) / (time.perf_counter() - started)
    threads = [threading.Thread(target=work) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return one, 2 * rounds * len(block) / (time.perf_counter() - started)


# stale tables ----------------------------------------------------------------------------------
def stale_tables(text: str) -> list[str]:
    """Tables measured on code or benchmarks (their scripts, harness, data generators) other than
    the current commit's, or with uncommitted changes, or not at all. Content is compared, not
    commits: a commit that leaves what is measured as it was (docs, a revert) stales nothing."""
    measured = ["src", "pyproject.toml", "benchmarks", ":(exclude)benchmarks/README.md"]
    problems = []
    for match in MARK.finditer(text):
        table_id, body = match.group(1), match.group(2)
        found = STAMP.match(body.strip())
        if not found:
            problems.append(f"{table_id}: not measured")
            continue
        _, commit, dirty = found.groups()
        changed = git("diff", "--name-only", commit, "HEAD", "--", *measured)
        if changed:
            problems.append(
                f"{table_id}: measured at {commit}, changed since: {len(changed.split())} file(s)"
            )
        elif dirty:
            problems.append(f"{table_id}: measured at {commit} with uncommitted changes")
        elif NOT_MEASURED in body:
            problems.append(f"{table_id}: has rows not measured yet")
    return problems


# main -------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these benchmarks (bench_NAME.py)")
    parser.add_argument("--quick", action="store_true", help="laptop size: less data and rounds")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "n2p-run-all",
        help="generated data and outputs (kept, so data is generated once)",
    )
    parser.add_argument("--check", action="store_true", help="list stale tables; exit 1 if any")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.quick, args.work / args.child.split(":")[0], args.out)
        return 0
    if args.check:
        problems = stale_tables(README.read_text())
        print("\n".join(problems) or "every table is up to date")
        return 1 if problems else 0

    available = benchmarks()
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {', '.join(available)}")
    chosen = args.names or list(available)
    compile_package()  # start-up as an installed package has it, even with PYTHONDONTWRITEBYTECODE
    RESULTS.mkdir(exist_ok=True)
    machine = machine_table()
    write_blocks({"machine": (machine.title, block(machine, stamp("run_all", args.quick)))})
    failures, started = {}, time.monotonic()
    print(f"benchmarks to run: {', '.join(chosen)}", flush=True)
    for i, name in enumerate(chosen, 1):
        load_average = os.getloadavg()[0]
        place = f"[{i}/{len(chosen)}] "
        tables, failure = run_one(name, available[name], args.quick, args.work, place)
        line = stamp(f"bench_{name}.py", args.quick, load_average)
        write_blocks({t.id: (t.title, block(t, line)) for t in tables})
        write_blocks(unmeasured(name, failure, tables))
        if failure:
            failures[name] = failure
    for table_id, title, name in () if args.names else EXPECTED:  # what nothing here makes yet
        if name not in available:
            why = (
                f"bench_{name}.py does not define tables() yet"
                if (HERE / f"bench_{name}.py").exists()
                else f"bench_{name}.py does not exist yet"
            )
            write_blocks({table_id: (title, placeholder_block(table_id, title, why))})
    minutes = (time.monotonic() - started) / 60
    print(
        f"\n{len(chosen) - len(failures)} of {len(chosen)} benchmark(s) done in {minutes:.1f} min"
        + (f"; {len(failures)} failed" if failures else ""),
        flush=True,
    )
    for name, failure in failures.items():
        print(f"FAILED {name}: {failure}", file=sys.stderr)
    return 1 if failures else 0


def write_blocks(blocks: dict[str, tuple[str, str]]) -> None:
    """Rewrite these tables in the README now, so an interrupted run keeps what it measured."""
    if blocks:
        README.write_text(rewrite(README.read_text(), blocks))
        where = README.relative_to(ROOT) if README.is_relative_to(ROOT) else README
        print(f"{where}: {', '.join(blocks)} written", flush=True)


def placeholder_block(table_id: str, title: str, why: str) -> str:
    return f"{placeholder(table_id, title, f'{why} ({commit_label()})').markdown()}\n"


def unmeasured(name: str, failure: str, made: Sequence[Table]) -> dict[str, tuple[str, str]]:
    """What this benchmark should have made and did not: the tables the README expects from it
    and, when it failed, those it made in an earlier run (which must not look current)."""
    done = {t.id for t in made}
    why = failure or f"bench_{name}.py did not make it"
    wanted = {table_id: title for table_id, title, n in EXPECTED if n == name}
    for match in MARK.finditer(README.read_text()) if failure else ():
        found = STAMP.match(match.group(2).strip())
        if found and found.group(1) == f"bench_{name}.py":
            wanted.setdefault(match.group(1), "")
    return {
        table_id: (title, placeholder_block(table_id, title, why))
        for table_id, title in wanted.items()
        if table_id not in done
    }


if __name__ == "__main__":
    sys.exit(main())

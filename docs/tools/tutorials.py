"""Run the tutorials and write what the commands print into the pages, so the pages stay true.

    python docs/tools/tutorials.py           # run every tutorial, rewrite its outputs in place
    python docs/tools/tutorials.py --check   # run them, and fail if a page is not what they print

Each page in ``docs/tutorials/`` runs in a fresh folder of its own, top to bottom, with this
interpreter's ``nifti2parquet`` first on ``PATH``. HTML comments in the page say what to do; they
do not show on a rendered page:

``<!-- setup: COMMAND -->``
    run COMMAND (a shell line) and show nothing: making a dataset, breaking a file on purpose.
``<!-- run -->``
    run the fenced block just above (shell lines) and put what it prints (stdout and stderr, as a
    terminal shows them) into the fenced block just below; ``<!-- run: quiet -->`` runs it and
    shows nothing; ``<!-- run: fails -->`` expects it to fail (exit code not 0).
``<!-- output: COMMAND -->``
    run COMMAND (not shown on the page) and put what it prints into the fenced block just below.
``<!-- sql -->``
    run the ``sql`` block just above with DuckDB and put its result table into the block below.
``<!-- python -->``
    run the ``python`` block just above (it must succeed; its output is not shown).
``<!-- listing: FOLDER -->``
    put FOLDER's layout into the block below: each top-level entry (the first file of a folder,
    and ``...`` when it has more), with what it is.
``<!-- file: PATH -->``
    put the text of PATH into the block below.

The folder the page runs in is written ``/home/you`` in the outputs, and holds ``.venv`` (this
interpreter's environment) and ``benchmarks`` (this checkout's), as a clone would. Durations
(``in 0.4 s``) differ on every run: ``--check`` compares pages with them masked.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
SHOWN_HOME = "/home/you"
MARKER = re.compile(r"^<!-- (setup|run|output|sql|python|listing|file)(?:: (.*?))? -->$")
VENV_BIN = Path(sys.executable).parent
DURATION = re.compile(r"\b\d+(?:\.\d+)? s\b")

# What each entry of an output folder is, for ``listing``.
ENTRIES = {
    "README.md": "the dataset card",
    "data": "the shards: rows with the images' bytes inside, each under --max-shard-size",
    "files": "the `files` config: every other file of the dataset, byte for byte",
    "previews": "the card's pictures (middle slices of a few images per column)",
    ".nifti2parquet": "the tool's own records (never uploaded)",
    "CARD.md": "your own words for the card",
}
ORDER = ["README.md", "CARD.md", "data", "files", "previews", ".nifti2parquet"]


@dataclass
class Block:
    """A fenced block of a page: its fence line numbers (start, end) and its text."""

    start: int
    end: int
    info: str
    text: str


def blocks(lines: list[str]) -> list[Block]:
    found, start = [], None
    for i, line in enumerate(lines):
        if line.startswith("```"):
            if start is None:
                start = i
            else:
                found.append(
                    Block(start, i, lines[start][3:].strip(), "\n".join(lines[start + 1 : i]))
                )
                start = None
    return found


class Page:
    """One tutorial, run in ``folder``."""

    def __init__(self, path: Path, folder: Path) -> None:
        self.path, self.folder = path, folder
        (folder / ".venv").symlink_to(sys.prefix)
        (folder / "benchmarks").symlink_to(ROOT / "benchmarks")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
        self.env = {
            **env,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HF_HOME": str(folder / ".hf-home"),  # no saved token, no cache of the user's
            "COLUMNS": "100",
        }

    def render(self) -> str:
        lines = self.path.read_text().splitlines()
        replacements: dict[int, str] = {}  # block start -> new text
        fenced = blocks(lines)
        for i, line in enumerate(lines):
            match = MARKER.match(line.strip())
            if not match or any(b.start < i < b.end for b in fenced):
                continue
            kind, argument = match.group(1), (match.group(2) or "").strip()
            above = next((b for b in reversed(fenced) if b.end < i), None)
            below = next((b for b in fenced if b.start > i), None)
            text = self.perform(kind, argument, above)
            if text is not None:
                if below is None:
                    raise SystemExit(f"{self.path}:{i + 1}: no block below the marker")
                replacements[below.start] = text
        out: list[str] = []
        skip_to = -1
        for i, line in enumerate(lines):
            if i <= skip_to:
                continue
            out.append(line)
            if i in replacements:
                block = next(b for b in fenced if b.start == i)
                out += replacements[i].splitlines()
                out.append(lines[block.end])
                skip_to = block.end
        return "\n".join(out) + "\n"

    def perform(self, kind: str, argument: str, above: Block | None) -> str | None:
        if kind == "setup":
            self.shell(argument)
            return None
        if kind == "output":
            return self.shell(argument)
        if kind in ("run", "sql", "python") and above is None:
            raise SystemExit(f"{self.path}: <!-- {kind} --> with no block above it")
        assert above is not None or kind in ("listing", "file")
        if kind == "run":
            printed = self.shell(above.text, fails=argument == "fails")  # type: ignore[union-attr]
            return None if argument == "quiet" else printed
        if kind == "sql":
            return self.sql(above.text)  # type: ignore[union-attr]
        if kind == "python":
            self.python(above.text)  # type: ignore[union-attr]
            return None
        if kind == "listing":
            return listing(self.folder / argument)
        return (self.folder / argument).read_text().rstrip("\n")

    def shell(self, commands: str, fails: bool = False) -> str:
        result = subprocess.run(
            ["bash", "-c", commands],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        printed = self.shown(result.stdout)
        if (result.returncode != 0) != fails:
            said = "failed" if result.returncode else "did not fail"
            raise SystemExit(f"{self.path}: {said} ({result.returncode}):\n{commands}\n{printed}")
        return printed

    def sql(self, query: str) -> str:
        code = f"import duckdb\nprint(duckdb.sql({query!r}))"
        return self.shown(self.run_python(code)).rstrip("\n")

    def python(self, code: str) -> None:
        self.run_python(code)

    def run_python(self, code: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.folder,
            env={**self.env, "HF_HUB_OFFLINE": "1"},  # a local folder: no request to the Hub
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise SystemExit(f"{self.path}: failed:\n{code}\n{result.stderr[-3000:]}")
        return result.stdout

    def shown(self, text: str) -> str:
        """As the page shows it: the run's folder written as /home/you (and this interpreter's
        programs as the venv's of a clone there), no trailing blanks."""
        text = text.replace(str(VENV_BIN), f"{SHOWN_HOME}/.venv/bin")
        # The venv's interpreter is python, python3 or python3.X depending on how this ran.
        text = re.sub(r"/\.venv/bin/python3(\.\d+)?(?=[\s'\"])", "/.venv/bin/python", text)
        for folder in {str(self.folder), os.path.realpath(self.folder)}:
            text = text.replace(folder, SHOWN_HOME)
        return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


def listing(folder: Path) -> str:
    """``folder/`` and each top-level entry with what it is (see ENTRIES)."""
    names = sorted(os.listdir(folder), key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
    rows = []
    for name in names:
        path = folder / name
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            shown = f"{name}/"
            if files and name != ".nifti2parquet":
                shown = files[0].relative_to(folder).as_posix() + (" ..." if len(files) > 1 else "")
        else:
            shown = name
        rows.append((shown, ENTRIES.get(name, "")))
    width = max(len(shown) for shown, _ in rows) + 2
    return "\n".join([f"{folder.name}/"] + [f"  {s:<{width}}{what}".rstrip() for s, what in rows])


def masked(text: str) -> str:
    return DURATION.sub("N s", text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a page is out of date")
    parser.add_argument("pages", nargs="*", type=Path, help="default: every tutorial")
    args = parser.parse_args()
    stale = []
    for path in [p.resolve() for p in args.pages] or PAGES:
        folder = Path(tempfile.mkdtemp(prefix="n2p-tutorial-"))
        try:
            new = Page(path, folder).render()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        old = path.read_text()
        if args.check:
            if masked(new) != masked(old):
                stale.append(path)
                diff = difflib.unified_diff(
                    masked(old).splitlines(),
                    masked(new).splitlines(),
                    str(path),
                    "as run",
                    lineterm="",
                )
                print("\n".join(diff))
        elif new != old:
            path.write_text(new)
            print(f"rewrote {path.relative_to(ROOT)}")
    if stale:
        names = ", ".join(str(p) for p in stale)
        print(f"out of date: {names}; run python docs/tools/tutorials.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

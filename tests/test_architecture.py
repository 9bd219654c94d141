"""The package's folders are stages, and imports only run down the stage order.

The order is the one ``docs/explanation/design.md`` draws: the vocabulary (common), sources, the
preflight, shards, card, hub, the way back (retrieval), proof, commands. A module may import its
own stage and any stage before it, never a later one. Only the sources stage knows which kinds of
source exist, and no module is too big to hold in one's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nifti2parquet

PACKAGE = Path(nifti2parquet.__file__).parent
STAGES = [
    "common",
    "sources",
    "preflight",
    "shards",
    "card",
    "hub",
    "retrieval",
    "proof",
    "commands",
]
FRONT_DOOR = {"__init__.py", "__main__.py"}  # the API and `python -m`: may reach every stage


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every nifti2parquet module ``path`` imports, at module level or inside functions."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            found |= {target, *names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {name for name in found if name.split(".")[0] == "nifti2parquet"}


def _stage(module: str) -> int:
    first = module.split(".")[1]
    return STAGES.index(first) if first in STAGES else 0


def _modules() -> list[Path]:
    return [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.relative_to(PACKAGE).as_posix() not in FRONT_DOOR
    ]


def test_every_folder_is_a_stage() -> None:
    folders = {p.relative_to(PACKAGE).parts[0] for p in _modules() if p.parent != PACKAGE}
    assert folders == set(STAGES) - {""}


def test_imports_never_run_up_the_stage_order() -> None:
    upward = []
    checked = 0
    for path in _modules():
        importer = _module_name(path)
        for imported in _imports(path):
            if imported == "nifti2parquet":
                continue
            checked += 1
            if _stage(imported) > _stage(importer):
                upward.append(f"{importer} imports {imported}")
    assert upward == []
    assert checked > 150  # the walk really saw the package's imports


def test_the_preflight_runs_before_anything_is_published_or_proved() -> None:
    """The privacy scan and the input checks never lean on writing, pushing or verifying."""
    later = ("shards", "card", "hub", "retrieval", "proof", "commands")
    for path in _modules():
        importer = _module_name(path)
        if importer.startswith("nifti2parquet.preflight"):
            imported = {i.split(".")[1] for i in _imports(path) if i.count(".")}
            assert not imported & set(later), importer


# The modules outside ``sources/`` may use: the reader of any source, its options, its registry.
SOURCES_API = {"nifti2parquet.sources", "nifti2parquet.sources.options"}
SOURCES_API |= {"nifti2parquet.sources.registry"}


def test_no_stage_but_the_sources_registry_names_a_source_kind() -> None:
    """A new kind of source touches its own module and the registry: no other module imports a
    kind's module, and none compares anything with a kind's name."""
    from nifti2parquet.sources.registry import KINDS

    names = {kind.name for kind in KINDS}
    found, checked = [], 0
    for path in _modules():
        importer = _module_name(path)
        if importer.startswith("nifti2parquet.sources"):
            continue
        checked += 1
        for imported in _imports(path):
            module = imported if imported in SOURCES_API else imported.rpartition(".")[0]
            if imported.startswith("nifti2parquet.sources") and module not in SOURCES_API:
                found.append(f"{importer} imports {imported}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                constants = [getattr(n, "value", None) for n in [node.left, *node.comparators]]
                if names & {c for c in constants if isinstance(c, str)}:
                    found.append(f"{importer} line {node.lineno} compares with a kind's name")
    assert found == []
    assert checked > 60


MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    sizes = {_module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(sizes) > 80
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}

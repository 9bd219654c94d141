"""The package's folders are stages, and imports only run down the stage order.

The order is the one ``docs/explanation/design.md`` draws: plumbing, sources, shards, card, hub,
checking, commands. A module may import its own stage and any stage before it, never a later one
(so a stage never imports the command layer, and checking never imports push).
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


def test_checking_never_imports_push_and_no_stage_imports_commands() -> None:
    for path in _modules():
        importer = _module_name(path)
        imported = _imports(path)
        if importer.startswith("nifti2parquet.checking"):
            assert not any(i.startswith("nifti2parquet.hub.push") for i in imported), importer
        if not importer.startswith("nifti2parquet.commands"):
            assert not any(i.startswith("nifti2parquet.commands") for i in imported), importer

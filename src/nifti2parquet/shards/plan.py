"""The plan: which row goes to which row group and which shard, decided before any byte is read.

The plan is the contract between build, resume, parallel workers, array-job parts and push: it is a
pure function of the rows (file sizes and values) and the options, so every process that computes it
gets the same shards with the same final ``-of-N`` names.

Shards are cut at a TRUE byte threshold. Each row's cost is an upper bound of what it adds to the
Parquet file: its image bytes exactly, plus a proven ceiling on Parquet's own framing (page headers,
levels, page index entries, footer metadata). A shard's bound is its fixed footer (measured by
writing an empty file with the real schema and options) plus its row groups' bounds, so the file on
disk can never exceed the threshold; the writer checks this on every shard it writes. The slack is
about a kilobyte per image, nothing next to the images themselves.
"""

from __future__ import annotations

import io
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..common.defaults import DEFAULT_MAX_SHARD_SIZE, DEFAULT_ROW_GROUP_SIZE, DEFAULT_SPLIT
from ..common.errors import OptionError, Problem
from ..common.rows import Column, FileRef, SourceRows, StructCell, images_in_row
from ..common.schema import (
    arrow_schema,
    file_key_value_metadata,
    parquet_writer_options,
    value_leaves,
)
from ..common.units import format_size

MAX_ROW_GROUP_SIZE = 1 << 30  # far below the 2 GiB per column chunk that readers cannot read back
VIEWER_ROW_GROUP_LIMIT = 300_000_000  # the Hub viewer scans at most ~286 MiB per row group
HUB_FILES_PER_FOLDER = 10_000  # a hard limit of the Hub
MAX_ROWS_PER_ROW_GROUP = 1_000_000  # below pyarrow's default cap of 1 Mi rows per row group

# Ceilings of Parquet's framing, in bytes (see docs/explanation/sizes.md for the derivation):
PAGE = 256  # one data page: header, level runs, offset-index entry, column-index entry, histograms
VALUE = 8  # one value: 4-byte length prefix and its definition/repetition levels
CHUNK = 1024  # one column chunk's metadata in the footer, besides its path and statistics
STATS_CAP = 4096  # parquet-cpp drops chunk statistics larger than this
CDC_MIN_CHUNK = 262144  # content-defined pages are at least this big (unless a value ends them)
ROWS_PER_PAGE = 20_000  # parquet-cpp's default max rows per page


@dataclass(frozen=True)
class PlanOptions:
    """The options that decide the layout of the output."""

    split: str = DEFAULT_SPLIT
    max_shard_size: int = DEFAULT_MAX_SHARD_SIZE
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE
    folder: str = "data"  # of the shards: data/ (the image rows) or files/ (the files config)

    def check(self) -> None:
        if not re.fullmatch(r"\w+(\.\w+)*", self.split):
            raise OptionError(f"--split {self.split!r}: use letters, digits, '_' and '.' only")
        if self.max_shard_size <= 0:
            raise OptionError(f"--max-shard-size {self.max_shard_size}: must be more than 0 bytes")
        if self.row_group_size <= 0:
            raise OptionError(f"--row-group-size {self.row_group_size}: must be more than 0 bytes")
        if self.row_group_size > MAX_ROW_GROUP_SIZE:
            raise OptionError(
                f"--row-group-size {self.row_group_size} is too large: a row group must stay well "
                f"under 2 GiB per column or nobody can read the file back (at most 1GiB)"
            )


@dataclass(frozen=True)
class RowGroupPlan:
    start: int
    stop: int
    bound: int

    @property
    def num_rows(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ShardPlan:
    index: int
    count: int
    split: str
    row_groups: tuple[RowGroupPlan, ...]
    bound: int
    folder: str = "data"

    @property
    def start(self) -> int:
        return self.row_groups[0].start

    @property
    def stop(self) -> int:
        return self.row_groups[-1].stop

    @property
    def num_rows(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.count:05d}.parquet"

    @property
    def path(self) -> str:
        """Path inside the output folder and the Hub repo."""
        return f"{self.folder}/{self.name}"


@dataclass(frozen=True)
class Plan:
    options: PlanOptions
    shards: tuple[ShardPlan, ...]
    num_rows: int

    @property
    def oversized(self) -> tuple[ShardPlan, ...]:
        """Shards over the threshold: each holds one row that alone exceeds it."""
        return tuple(s for s in self.shards if s.bound > self.options.max_shard_size)

    def warnings(self) -> tuple[Problem, ...]:
        """What the plan makes that a reader or the Hub will not like: a shard over the
        threshold (one row alone is larger), row groups the viewer cannot show, more shards in
        one folder than the Hub accepts (said at build time, not at push)."""
        limit = format_size(self.options.max_shard_size)
        alone = f"holds one row that alone is larger than --max-shard-size {limit}"
        found = [Problem(s.path, alone, "warning") for s in self.oversized]
        if self.options.row_group_size > VIEWER_ROW_GROUP_LIMIT:
            message = "row groups over ~286 MiB cannot be shown by the Hub's dataset viewer"
            found.append(Problem("--row-group-size", message, "warning"))
        if len(self.shards) > HUB_FILES_PER_FOLDER:
            message = (
                f"{len(self.shards):,} shards in {self.options.folder}/: the Hub accepts at most "
                f"{HUB_FILES_PER_FOLDER:,} files per folder; use a larger --max-shard-size or "
                f"split the dataset (see docs/explanation/scaling.md)"
            )
            found.append(Problem(f"{self.options.folder}/", message, "warning"))
        return tuple(found)


class SizeModel:
    """Upper bounds of the bytes each row, row group and shard take in a Parquet file."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[tuple[Any, ...]]) -> None:
        schema = arrow_schema(columns)
        self.fixed = _empty_file_size(columns, schema) + CHUNK
        self._image_columns = [i for i, c in enumerate(columns) if c.is_image]
        self._value_columns = [i for i, c in enumerate(columns) if not c.is_image]
        leaves = value_leaves(schema, columns)
        largest, self._value_bytes = _sized_rows(columns, rows)
        leaf_largest = [largest.get(leaf, 0) for leaf in leaves]
        image_columns = tuple(self._image_columns)
        longest_name = max(
            (
                len(img.name.encode())
                for row in rows
                for _, img in images_in_row(row, image_columns)
            ),
            default=0,
        )
        self.row_group_fixed = (
            len(self._image_columns) * (2 * CHUNK + 2 * longest_name)
            + sum(CHUNK + 2 * min(size, STATS_CAP) for size in leaf_largest)
            + sum(3 * len(leaf) for leaf in leaves)
        )
        self._page = sum(PAGE + 2 * size for size in leaf_largest)

    def row_costs(self, r: int, row: tuple[Any, ...]) -> tuple[int, int]:
        """(the bytes row ``r`` of the model's rows can add to a file apart from per-row-group
        costs, its value bytes): its value bytes are the ones sized when the model was made."""
        values = self._value_bytes[r]
        images = sum(_image_cell_cost(row[i]) for i in self._image_columns)
        return images + values + VALUE * len(self._value_columns), values

    def group_bound(self, cost: int, value_bytes: int, num_rows: int) -> int:
        """A row group's bound: its rows, its chunks' metadata, and its value columns' pages."""
        pages = 2 + value_bytes // CDC_MIN_CHUNK + num_rows // ROWS_PER_PAGE
        return cost + self.row_group_fixed + pages * self._page


def _sized_rows(
    columns: Sequence[Column], rows: Sequence[tuple[Any, ...]]
) -> tuple[dict[str, int], array[int]]:
    """In one walk over the rows: the largest value of every Parquet leaf of the value columns
    (its statistics' size), and each row's value bytes: its plain values, plus a dictionary
    page copy, plus snappy's worst-case growth (three times :func:`_value_size`)."""
    value_columns = [
        (i, None if c.arrow_type is None else _shape(c.arrow_type, c.name))
        for i, c in enumerate(columns)
        if not c.is_image
    ]
    largest: dict[str, int] = {}
    value_bytes = array("q")
    for row in rows:
        total = 0
        for i, shape in value_columns:
            total += _value_size(row[i]) if shape is None else _sized(row[i], shape, largest)
        value_bytes.append(3 * total)
    return largest, value_bytes


# A type's shape, made once per column so the walk over every row asks Arrow nothing:
# (kind, inner, leaves): kind "struct" (inner: ((name, shape), ...)), "list" (inner: the items'
# shape) or "leaf"; leaves: the leaf paths a value is charged to when it is not walked into.
_Shape = tuple[str, Any, tuple[str, ...]]


def _shape(t: pa.DataType, path: str) -> _Shape:
    if pa.types.is_struct(t):
        fields = [t.field(k) for k in range(t.num_fields)]
        inner = tuple((f.name, _shape(f.type, f"{path}.{f.name}")) for f in fields)
        return ("struct", inner, (path,))
    if _is_list_type(t):
        return ("list", _shape(t.value_type, f"{path}.list.element"), (path,))
    if pa.types.is_map(t):  # charged whole to each of its leaves: rare, and safe
        return ("leaf", None, (f"{path}.key_value.key", f"{path}.key_value.value"))
    return ("leaf", None, (path,))


def _sized(value: Any, shape: _Shape, largest: dict[str, int]) -> int:
    """:func:`_walk_leaves` and :func:`_value_size` of a value at once (each value sized once):
    the walk's sizes summed as ``_value_size`` sums them where the value matches its type."""
    if value is None:
        return 1
    kind, inner, leaves = shape
    if kind == "struct" and type(value) is StructCell and len(value) == len(inner):
        return 1 + sum(_sized(item, f, largest) for item, (_, f) in zip(value, inner))
    if kind == "list" and type(value) in (list, tuple):
        return 4 + sum(_sized(item, inner, largest) for item in value)
    if kind != "leaf":  # a dict, or a value that does not match its type: walked, then sized
        _walk_leaves(value, shape, largest)
        return _value_size(value)
    size = _value_size(value)
    for leaf in leaves:
        largest[leaf] = max(largest.get(leaf, 0), size)
    return size


def _walk_leaves(value: Any, shape: _Shape, largest: dict[str, int]) -> None:
    if value is None:
        return
    kind, inner, leaves = shape
    if kind == "struct" and isinstance(value, dict):
        for name, field_shape in inner:
            _walk_leaves(value.get(name), field_shape, largest)
    elif kind == "struct" and isinstance(value, StructCell):
        for item, (_, field_shape) in zip(value, inner):
            _walk_leaves(item, field_shape, largest)
    elif kind == "list" and isinstance(value, (list, tuple)):
        for item in value:
            _walk_leaves(item, inner, largest)
    else:  # a primitive, or a value that does not match its type: charged whole
        size = _value_size(value)
        for leaf in leaves:
            largest[leaf] = max(largest.get(leaf, 0), size)


def _is_list_type(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _image_cell_cost(cell: Any) -> int:
    """A cell's images; a cell without any (missing, or an empty list) still has its own page."""
    if isinstance(cell, FileRef):
        return _image_cost(cell)
    if not cell:
        return 2 * VALUE + PAGE
    return 2 * VALUE + sum(_image_cost(img) for img in cell)


def _image_cost(img: FileRef) -> int:
    """The image's bytes, its name, and a page on each of the two leaves (bytes, path)."""
    name = len(img.name.encode())
    return img.size + VALUE + (3 * name + VALUE) + 2 * PAGE


def _value_size(value: Any) -> int:
    """Bytes of a value in Arrow: enough for a bound, exact for strings and numbers."""
    kind = type(value)  # the common kinds first, by exact type: called for every value of a row
    if kind is str:
        return 4 + (len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass")))
    if kind is float or kind is int:
        return 8
    if value is None:
        return 1
    if isinstance(value, bool):
        return 1
    if isinstance(value, (int, float)):
        return 8
    if isinstance(value, str):
        return 4 + len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (bytes, bytearray)):
        return 4 + len(value)
    if isinstance(value, dict):
        return 1 + sum(_value_size(v) for v in value.values())
    if isinstance(value, StructCell):  # a struct, as a dict of the same values
        return 1 + sum(_value_size(v) for v in value)
    if isinstance(value, (list, tuple)):
        return 4 + sum(_value_size(v) for v in value)
    return 16 + len(str(value))


def _empty_file_size(columns: Sequence[Column], schema: pa.Schema) -> int:
    """Size of a file with this schema and no rows: the schema and metadata part of every footer."""
    sink = io.BytesIO()
    options = parquet_writer_options(columns, schema)
    writer = pq.ParquetWriter(sink, schema, **options)
    writer.add_key_value_metadata(file_key_value_metadata(options))
    writer.close()
    return len(sink.getvalue())


def plan_shards(rows: SourceRows, options: PlanOptions) -> Plan:
    """Pack rows, in order, into row groups and shards by their byte bounds."""
    options.check()
    model = SizeModel(rows.columns, rows.rows)
    # A row group never outgrows a shard, so only a single row can make a shard oversized.
    target = min(options.row_group_size, options.max_shard_size - model.fixed)
    groups = _pack_row_groups(model, rows.rows, target)
    shards = _pack_shards(model, groups, options)
    return Plan(options=options, shards=shards, num_rows=len(rows.rows))


def _pack_row_groups(
    model: SizeModel, rows: Sequence[tuple[Any, ...]], target: int
) -> list[RowGroupPlan]:
    groups: list[RowGroupPlan] = []
    start, cost, value_bytes = 0, 0, 0
    for r, row in enumerate(rows):
        row_cost, row_values = model.row_costs(r, row)
        n = r - start
        grown = model.group_bound(cost + row_cost, value_bytes + row_values, n + 1)
        if n and (grown > target or n >= MAX_ROWS_PER_ROW_GROUP):
            groups.append(RowGroupPlan(start, r, model.group_bound(cost, value_bytes, n)))
            start, cost, value_bytes = r, 0, 0
        cost += row_cost
        value_bytes += row_values
    if len(rows) > start:
        n = len(rows) - start
        groups.append(RowGroupPlan(start, len(rows), model.group_bound(cost, value_bytes, n)))
    return groups


def _pack_shards(
    model: SizeModel, groups: list[RowGroupPlan], options: PlanOptions
) -> tuple[ShardPlan, ...]:
    """Greedy packing: a shard takes row groups while its bound stays under the threshold."""
    packed: list[list[RowGroupPlan]] = []
    total = 0
    for group in groups:
        if packed and total + group.bound <= options.max_shard_size:
            packed[-1].append(group)
            total += group.bound
        else:
            packed.append([group])
            total = model.fixed + group.bound
    count = len(packed)
    return tuple(
        ShardPlan(
            i,
            count,
            options.split,
            tuple(gs),
            model.fixed + sum(g.bound for g in gs),
            options.folder,
        )
        for i, gs in enumerate(packed)
    )

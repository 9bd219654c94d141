"""Arrow types and `datasets` features for the output columns.

This is the exact format `datasets` (>= 4.4) reads as ``Nifti()`` / ``List(Nifti())``: see
``docs/explanation/format.md``. A NIfTI cell is ``struct<bytes: binary, path: string>`` with every
field nullable, ``bytes`` first, 32-bit ``binary`` and ``pa.list_`` (never the large variants); the
schema carries a ``huggingface`` metadata key whose JSON ``datasets`` checks field by field against
the Arrow types. One wrong detail and ``datasets`` silently loads raw dicts instead of images.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from .rows import Column
from .units import count

NIFTI_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
NIFTI_LIST_TYPE = pa.list_(NIFTI_TYPE)
NIFTI_FEATURE: dict[str, Any] = {"_type": "Nifti"}


FILE_FEATURE: dict[str, Any] = {
    "bytes": {"dtype": "binary", "_type": "Value"},
    "path": {"dtype": "string", "_type": "Value"},
}


def column_arrow_type(column: Column) -> pa.DataType:
    if column.content in ("image", "file"):  # a file's cell is laid out like a NIfTI cell
        return NIFTI_TYPE
    if column.content == "image_list":
        return NIFTI_LIST_TYPE
    assert column.arrow_type is not None, f"value column {column.name} has no type"
    return column.arrow_type


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """The Arrow schema of every shard, with the ``huggingface`` features metadata (and a
    column's own field metadata: a label map, the channels of an image)."""
    fields = [
        pa.field(c.name, column_arrow_type(c), metadata=dict(c.metadata) or None) for c in columns
    ]
    metadata = {"huggingface": json.dumps({"info": {"features": features_dict(columns)}})}
    return pa.schema(fields).with_metadata(metadata)


def features_dict(columns: Sequence[Column]) -> dict[str, Any]:
    """The ``datasets`` features as JSON-able dict, in column order (``Features.to_dict()``)."""
    return {c.name: column_feature(c) for c in columns}


def column_feature(column: Column) -> dict[str, Any]:
    if column.content == "image":
        return dict(NIFTI_FEATURE)
    if column.content == "image_list":
        return {"feature": dict(NIFTI_FEATURE), "_type": "List"}
    if column.content == "file":
        return {k: dict(v) for k, v in FILE_FEATURE.items()}
    return arrow_type_feature(column_arrow_type(column))


def arrow_type_feature(t: pa.DataType) -> Any:
    """The ``datasets`` feature of a plain Arrow type (as ``generate_from_arrow_type`` makes it)."""
    if pa.types.is_struct(t):
        return {t.field(i).name: arrow_type_feature(t.field(i).type) for i in range(t.num_fields)}
    if pa.types.is_fixed_size_list(t):
        return {"feature": arrow_type_feature(t.value_type), "length": t.list_size, "_type": "List"}
    if pa.types.is_list(t):
        return {"feature": arrow_type_feature(t.value_type), "_type": "List"}
    if pa.types.is_large_list(t):
        return {"feature": arrow_type_feature(t.value_type), "_type": "LargeList"}
    return {"dtype": value_dtype(t), "_type": "Value"}


def value_dtype(t: pa.DataType) -> str:
    """The ``Value`` dtype string of a primitive Arrow type (``float64``, ``timestamp[us]``...)."""
    if pa.types.is_floating(t) and t.bit_width == 16:
        return "float16"
    if pa.types.is_decimal(t):
        return f"decimal{t.bit_width}({t.precision}, {t.scale})"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}]" if t.tz is None else f"timestamp[{t.unit}, tz={t.tz}]"
    if pa.types.is_date32(t) or pa.types.is_date64(t):
        return str(t).split("[")[0]
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return f"{str(t).split('[')[0]}[{t.unit}]"
    text = str(t)
    return {"double": "float64", "float": "float32", "halffloat": "float16"}.get(text, text)


def features_yaml(features: dict[str, Any]) -> list[dict[str, Any]]:
    """``dataset_info.features`` as the README YAML writes it (``Features._to_yaml_list()``)."""
    return [{"name": name, **_yaml_of_feature(feature)} for name, feature in features.items()]


def _yaml_of_feature(feature: Any) -> dict[str, Any]:
    """One feature in the README's compact form: ``dtype: nifti``, ``list: nifti``, ``struct``."""
    kind = feature.get("_type")
    rest = {k: v for k, v in feature.items() if k != "_type"}
    if kind in ("List", "LargeList"):
        key = "list" if kind == "List" else "large_list"
        inner = _yaml_of_feature(rest.pop("feature"))
        return {key: _compact(inner), **rest}
    if kind == "Value":
        return rest
    if kind:
        return {"dtype": _snake(kind)} if not rest else {"dtype": {_snake(kind): rest}}
    return {"struct": [{"name": name, **_yaml_of_feature(sub)} for name, sub in feature.items()]}


def _compact(inner: dict[str, Any]) -> Any:
    """A list's element is written bare when it is only a dtype or only a struct."""
    if list(inner) == ["dtype"]:
        return inner["dtype"]
    if list(inner) == ["struct"]:
        return inner["struct"]
    return inner


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def nifti_leaves(columns: Sequence[Column]) -> list[str]:
    """Parquet leaf paths of the NIfTI columns: uncompressed, PLAIN, as `datasets` writes them."""
    leaves: list[str] = []
    for c in columns:
        prefix = f"{c.name}.list.element" if c.content == "image_list" else c.name
        if c.is_image:
            leaves += [f"{prefix}.bytes", f"{prefix}.path"]
    return leaves


def value_leaves(schema: pa.Schema, columns: Sequence[Column]) -> list[str]:
    """Parquet leaf paths of the non-NIfTI columns (snappy + dictionary)."""
    leaves: list[str] = []
    for c in columns:
        if not c.is_image:
            leaves += _leaf_paths(c.name, schema.field(c.name).type)
    return leaves


def _leaf_paths(prefix: str, t: pa.DataType) -> list[str]:
    if pa.types.is_struct(t):
        return [
            p
            for i in range(t.num_fields)
            for p in _leaf_paths(f"{prefix}.{t.field(i).name}", t.field(i).type)
        ]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _leaf_paths(f"{prefix}.list.element", t.value_type)
    if pa.types.is_map(t):
        return _leaf_paths(f"{prefix}.key_value.key", t.key_type) + _leaf_paths(
            f"{prefix}.key_value.value", t.item_type
        )
    return [prefix]


# Content-defined chunking as `datasets` writes it: pages cut where the content says, so a re-upload
# of a rebuilt shard deduplicates on the Hub's Xet storage.
CDC_OPTIONS = {"min_chunk_size": 262144, "max_chunk_size": 1048576, "norm_level": 0}


def supports_cdc() -> bool:
    import pyarrow.parquet as pq

    return "use_content_defined_chunking" in pq.ParquetWriter.__init__.__code__.co_varnames


def parquet_writer_options(columns: Sequence[Column], schema: pa.Schema) -> dict[str, Any]:
    """``pq.ParquetWriter`` options that reproduce the `datasets` >= 4.6 shard writer's layout.

    NIfTI leaves: uncompressed, PLAIN, no dictionary (the bytes are already compressed or
    incompressible, and `datasets` writes them so). Other leaves: snappy + dictionary. Page index
    on.
    One deliberate difference: no min/max statistics on the NIfTI ``bytes`` leaves. They cost about
    4 s per GB to compute and cannot help any query; readers do not need them.
    """
    image = nifti_leaves(columns)
    values = value_leaves(schema, columns)
    options: dict[str, Any] = {
        "compression": {**{leaf: "none" for leaf in image}, **{leaf: "snappy" for leaf in values}},
        "use_dictionary": values,
        "column_encoding": {leaf: "PLAIN" for leaf in image},
        "write_page_index": True,
        "write_statistics": [leaf for leaf in image if leaf.endswith(".path")] + values,
        "store_schema": True,
    }
    if supports_cdc():
        options["use_content_defined_chunking"] = dict(CDC_OPTIONS)
    return options


def file_key_value_metadata(options: dict[str, Any]) -> dict[str, str]:
    """Key-value pairs added to the footer after writing (`datasets` records the CDC options)."""
    cdc = options.get("use_content_defined_chunking")
    return {"content_defined_chunking": json.dumps(cdc)} if cdc else {}


def type_label(feature: Any) -> str:
    """A short name of a `datasets` feature: ``Nifti()``, ``List(int64)``, ``struct(22 fields)``."""
    kind = feature.get("_type") if isinstance(feature, dict) else None
    if kind == "Nifti":
        return "Nifti()"
    if kind in ("List", "LargeList"):
        return f"{kind}({type_label(feature['feature'])})"
    if kind == "Value":
        return str(feature["dtype"])
    if isinstance(feature, dict):
        return f"struct({count(len(feature), 'field')})"
    return str(feature)

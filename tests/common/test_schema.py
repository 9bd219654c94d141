"""The schema is exactly what `datasets` derives and writes: Arrow types, features, README YAML."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from datasets import Features, List, Nifti, Value

from nifti2parquet.common.rows import Column
from nifti2parquet.common.schema import (
    NIFTI_TYPE,
    arrow_schema,
    features_dict,
    features_yaml,
    nifti_leaves,
    parquet_writer_options,
    value_leaves,
)

VALUE_TYPES = {
    "s": pa.string(),
    "ls": pa.large_string(),
    "i8": pa.int8(),
    "i64": pa.int64(),
    "u32": pa.uint32(),
    "f16": pa.float16(),
    "f32": pa.float32(),
    "f64": pa.float64(),
    "b": pa.bool_(),
    "bin": pa.binary(),
    "d32": pa.date32(),
    "ts": pa.timestamp("us"),
    "tz": pa.timestamp("ms", tz="UTC"),
    "t64": pa.time64("us"),
    "dur": pa.duration("s"),
    "dec": pa.decimal128(10, 2),
    "list": pa.list_(pa.string()),
    "fixed": pa.list_(pa.int16(), 3),
    "large": pa.large_list(pa.float64()),
    "struct": pa.struct([("a", pa.int32()), ("b", pa.list_(pa.float32()))]),
    "nested": pa.list_(pa.struct([("x", pa.string()), ("y", pa.list_(pa.int64()))])),
}


def mixed_columns() -> list[Column]:
    images = [Column("t1w", "image"), Column("bold", "image_list")]
    return images + [Column(name, "value", t) for name, t in VALUE_TYPES.items()]


def test_features_json_and_yaml_equal_what_datasets_derives() -> None:
    columns = mixed_columns()
    schema = arrow_schema(columns)
    derived = Features.from_arrow_schema(schema)
    assert derived.to_dict() == features_dict(columns)
    assert derived._to_yaml_list() == features_yaml(features_dict(columns))
    assert derived.arrow_schema == schema
    assert derived["t1w"] == Nifti()
    assert derived["bold"] == List(Nifti())
    assert len(derived) == len(VALUE_TYPES) + 2


def test_nifti_schema_is_the_documented_one() -> None:
    """struct<bytes: binary, path: string>, all nullable, bytes first; lists are pa.list_."""
    schema = arrow_schema(
        [
            Column("subject_id", "value", pa.string()),
            Column("t1w", "image"),
            Column("bold", "image_list"),
            Column("age", "value", pa.float64()),
        ]
    )
    assert schema.field("t1w").type == NIFTI_TYPE
    assert [f.name for f in NIFTI_TYPE] == ["bytes", "path"]
    assert NIFTI_TYPE.field("bytes").type == pa.binary()
    assert all(f.nullable for f in schema) and all(f.nullable for f in NIFTI_TYPE)
    assert pa.types.is_list(schema.field("bold").type)
    metadata = json.loads(schema.metadata[b"huggingface"])
    assert metadata == {
        "info": {
            "features": {
                "subject_id": {"dtype": "string", "_type": "Value"},
                "t1w": {"_type": "Nifti"},
                "bold": {"feature": {"_type": "Nifti"}, "_type": "List"},
                "age": {"dtype": "float64", "_type": "Value"},
            }
        }
    }
    assert Features.from_arrow_schema(schema) == Features(
        {
            "subject_id": Value("string"),
            "t1w": Nifti(),
            "bold": List(Nifti()),
            "age": Value("float64"),
        }
    )


def test_yaml_of_nifti_columns_reads_like_datasets_card() -> None:
    yaml_list = features_yaml(features_dict([Column("t1w", "image"), Column("bold", "image_list")]))
    assert yaml_list == [{"name": "t1w", "dtype": "nifti"}, {"name": "bold", "list": "nifti"}]


def test_writer_options_match_datasets_leaf_rules() -> None:
    """NIfTI leaves: uncompressed PLAIN, no dictionary; value leaves: snappy with dictionary."""
    columns = [
        Column("t1w", "image"),
        Column("bold", "image_list"),
        Column("meta", "value", VALUE_TYPES["nested"]),
        Column("age", "value", pa.float64()),
    ]
    schema = arrow_schema(columns)
    options = parquet_writer_options(columns, schema)
    image = nifti_leaves(columns)
    values = value_leaves(schema, columns)
    assert image == ["t1w.bytes", "t1w.path", "bold.list.element.bytes", "bold.list.element.path"]
    assert values == ["meta.list.element.x", "meta.list.element.y.list.element", "age"]
    assert all(options["compression"][leaf] == "none" for leaf in image)
    assert all(options["compression"][leaf] == "snappy" for leaf in values)
    assert options["use_dictionary"] == values
    assert options["column_encoding"] == {leaf: "PLAIN" for leaf in image}
    assert options["write_page_index"] is True
    assert "t1w.bytes" not in options["write_statistics"]
    assert "t1w.path" in options["write_statistics"]


@pytest.mark.parametrize("name", ["t1w", "bold"])
def test_nifti_leaf_names_exist_in_written_files(tmp_path, name: str) -> None:
    """The leaf paths we configure are the ones pyarrow writes (else options do nothing)."""
    import pyarrow.parquet as pq

    columns = [Column("t1w", "image"), Column("bold", "image_list")]
    schema = arrow_schema(columns)
    table = pa.Table.from_pylist(
        [{"t1w": {"bytes": b"x", "path": "a.nii"}, "bold": [{"bytes": b"y", "path": "b.nii"}]}],
        schema=schema,
    )
    path = tmp_path / "x.parquet"
    pq.write_table(table, path, **parquet_writer_options(columns, schema))
    metadata = pq.ParquetFile(path).metadata.row_group(0)
    leaves = {
        metadata.column(i).path_in_schema: metadata.column(i) for i in range(metadata.num_columns)
    }
    for leaf in nifti_leaves(columns):
        assert leaf in leaves
        assert leaves[leaf].compression == "UNCOMPRESSED"
        assert "PLAIN" in leaves[leaf].encodings
    assert not leaves[f"{'t1w' if name == 't1w' else 'bold.list.element'}.bytes"].is_stats_set

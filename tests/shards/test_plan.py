"""The planner: rows in order, each in exactly one shard, every shard under the threshold on disk.

Property tests check the plan's arithmetic for random sizes and thresholds; real writes check that
the plan's bound really holds for the file pyarrow writes.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import COLUMNS, fake_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nifti2parquet.common.errors import OptionError
from nifti2parquet.shards.output import OutputFolder
from nifti2parquet.shards.plan import Plan, PlanOptions, SizeModel, plan_shards
from nifti2parquet.shards.writer import ShardTask, write_shard
from nifti2parquet.common.storage import Storage
from nifti2parquet.common.rows import Column, FileRef, SourceRows


def assert_plan_is_sound(plan: Plan, num_rows: int, options: PlanOptions) -> None:
    covered = [r for shard in plan.shards for g in shard.row_groups for r in range(g.start, g.stop)]
    assert covered == list(range(num_rows)), "every row exactly once, in order"
    names = [s.name for s in plan.shards]
    assert names == [
        f"{options.split}-{i:05d}-of-{len(plan.shards):05d}.parquet"
        for i in range(len(plan.shards))
    ]
    for shard in plan.shards:
        if shard.bound > options.max_shard_size:
            assert shard.num_rows == 1, "only a single oversized row may exceed the threshold"
        for group in shard.row_groups:
            if group.bound > options.row_group_size:
                assert group.num_rows == 1


sizes_strategy = st.lists(
    st.lists(st.integers(0, 5_000_000), min_size=0, max_size=4), min_size=1, max_size=60
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=sizes_strategy,
    threshold=st.integers(20_000, 30_000_000),
    row_group=st.integers(10_000, 20_000_000),
)
def test_every_row_in_exactly_one_shard_in_order_and_under_threshold(
    sizes: list[list[int]], threshold: int, row_group: int
) -> None:
    options = PlanOptions(max_shard_size=threshold, row_group_size=row_group)
    plan = plan_shards(fake_rows(sizes), options)
    assert_plan_is_sound(plan, len(sizes), options)


@settings(max_examples=50, deadline=None)
@given(sizes=sizes_strategy)
def test_plan_is_deterministic(sizes: list[list[int]]) -> None:
    options = PlanOptions(max_shard_size=3_000_000, row_group_size=1_000_000)
    assert plan_shards(fake_rows(sizes), options) == plan_shards(fake_rows(sizes), options)


def test_shards_are_filled_not_split_evenly() -> None:
    """Greedy by bytes: 10 rows of 1 MB under a 3.5 MB threshold make 3+3+3+1, not 4 x 2.5."""
    plan = plan_shards(fake_rows([[1_000_000]] * 10), PlanOptions(max_shard_size=3_500_000))
    assert [s.num_rows for s in plan.shards] == [3, 3, 3, 1]


def test_oversized_row_gets_a_shard_of_its_own() -> None:
    plan = plan_shards(
        fake_rows([[100], [50_000_000], [100]]), PlanOptions(max_shard_size=10_000_000)
    )
    assert [s.num_rows for s in plan.shards] == [1, 1, 1]
    assert [s.index for s in plan.oversized] == [1]


def test_row_groups_pack_by_bytes() -> None:
    plan = plan_shards(
        fake_rows([[30_000_000]] * 7 + [[150_000_000]]),
        PlanOptions(max_shard_size=500_000_000, row_group_size=100_000_000),
    )
    groups = [g.num_rows for s in plan.shards for g in s.row_groups]
    assert groups == [3, 3, 1, 1]


@pytest.mark.parametrize(
    "options,message",
    [
        (PlanOptions(split="train/x"), "--split"),
        (PlanOptions(row_group_size=3 << 30), "--row-group-size"),
        (PlanOptions(max_shard_size=0), "positive"),
    ],
)
def test_bad_options_are_refused(options: PlanOptions, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        plan_shards(fake_rows([[10]]), options)


# real writes: the bound holds for the bytes pyarrow puts on disk -------------------------------
def real_rows(root: Path, seed: int, n: int) -> SourceRows:
    """Rows with real files of random sizes, long text, nulls and lists of varied length."""
    rnd = random.Random(seed)
    info = pa.struct(
        [
            ("path", pa.string()),
            ("shape", pa.list_(pa.int64())),
            ("entities", pa.struct([("run", pa.string()), ("acq", pa.string())])),
            ("sidecar", pa.string()),
        ]
    )
    columns = (
        *COLUMNS,
        Column("notes", "value", pa.string()),
        Column("scores", "value", pa.list_(pa.float64())),
        Column("bold_info", "value", pa.list_(info)),
    )
    rows = []
    for r in range(n):

        def image(name: str, size: int) -> FileRef:
            path = root / name
            path.write_bytes(os.urandom(size))
            return FileRef(str(path), size, name, name)

        t1w = (
            image(f"{seed}_{r}_T1w.nii.gz", rnd.randint(0, 400_000)) if rnd.random() < 0.8 else None
        )
        bold = tuple(
            image(f"{seed}_{r}_run-{k}_bold.nii.gz", rnd.randint(1, 300_000))
            for k in range(rnd.randint(0, 3))
        )
        notes = "é" * rnd.randint(0, 6000) if rnd.random() < 0.7 else None
        scores = [rnd.random() for _ in range(rnd.randint(0, 50))]
        bold_info = [
            {
                "path": img.name,
                "shape": [64, 64, rnd.randint(1, 300)],
                "entities": {"run": f"{k:02d}", "acq": None if k % 2 else "mb3"},
                "sidecar": "{" + '"x": 1,' * rnd.randint(0, 2000) + "}",
            }
            for k, img in enumerate(bold)
        ]
        rows.append(
            (
                f"sub-{r:04d}",
                t1w,
                bold if rnd.random() < 0.9 else None,
                rnd.random(),
                notes,
                scores,
                bold_info,
            )
        )
    return SourceRows("test", "table", columns, tuple(rows))


@pytest.mark.parametrize(
    "seed,threshold,row_group",
    [
        (1, 300_000, 100_000),
        (2, 1_000_000, 250_000),
        (3, 2_000_000, 2_000_000),
        (4, 150_000, 1_000_000),
        (5, 5_000_000, 600_000),
    ],
)
def test_written_shards_never_exceed_their_bound(
    tmp_path: Path, seed: int, threshold: int, row_group: int
) -> None:
    rows = real_rows(tmp_path, seed, 40)
    options = PlanOptions(max_shard_size=threshold, row_group_size=row_group)
    plan = plan_shards(rows, options)
    assert_plan_is_sound(plan, len(rows.rows), options)
    output = OutputFolder(str(tmp_path / "out"))
    output.makedirs(".nifti2parquet/tmp")
    checked = 0
    for shard in plan.shards:
        task = ShardTask(
            shard,
            rows.columns,
            rows.rows[shard.start : shard.stop],
            output.local_tmp(shard.path),
            Storage(),
            prefetch_bytes=500_000,
        )
        result = write_shard(task)
        size = os.path.getsize(task.tmp_file)
        assert size == result.size <= shard.bound
        if shard.num_rows > 1:
            assert size <= threshold
        metadata = pq.ParquetFile(task.tmp_file).metadata
        assert metadata.num_row_groups == len(shard.row_groups)
        assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
            g.num_rows for g in shard.row_groups
        ]
        checked += 1
    assert checked == len(plan.shards) > 1


def test_fixed_overhead_is_small() -> None:
    """The per-shard footer reserve is kilobytes, not megabytes: shards come out near full."""
    model = SizeModel(COLUMNS, fake_rows([[1000, 1000]]).rows)
    assert 1_000 < model.fixed < 20_000

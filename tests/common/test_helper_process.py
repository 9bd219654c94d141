"""The helper process: a pass shared with a real second interpreter gives what one process gives,
in order; chunks the helper has not begun are taken back; a helper that dies costs no result."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor

import pytest

from nifti2parquet.common.helper_process import SplitPass, helper_process


def squares(items: Sequence[int]) -> list[int]:
    return [i * i for i in items]


def pids(items: Sequence[int]) -> list[int]:
    time.sleep(0.05)  # slow enough that the caller takes some chunks back
    return [os.getpid() for _ in items]


def dies_in_the_helper(items: Sequence[int], caller: int) -> list[int]:
    if os.getpid() != caller:
        os._exit(3)  # killed: out of memory, a signal
    return [i * i for i in items]


def test_a_pass_on_the_helper_gives_what_one_process_gives() -> None:
    items = list(range(1000))
    with helper_process(len(items), start_from=0) as helper:
        assert helper is not None
        assert SplitPass(helper, squares, items, chunk=7).results() == squares(items)
    assert SplitPass(None, squares, items).results() == squares(items)


def test_both_processes_share_the_chunks_and_the_order_holds() -> None:
    items = list(range(40))
    with helper_process(len(items), start_from=0) as helper:
        split = SplitPass(helper, pids, items, chunk=1)  # 40 chunks of 0.05 s: 2 s in all
        time.sleep(0.8)  # the helper starts (~0.3 s) and runs a few chunks
        ran = split.results()
    mine = os.getpid()
    helpers = {p for p in ran if p != mine}
    assert len(ran) == 40 and len(helpers) == 1, ran
    # the helper ran chunks from the front, this process took the rest back from the end
    switch = next(i for i, p in enumerate(ran) if p == mine)
    assert 0 < switch < 40 and all(p == mine for p in ran[switch:]), ran


def pids_and_pools(items: Sequence[int], pool: Executor | None = None) -> list[tuple[int, bool]]:
    time.sleep(0.05)
    return [(os.getpid(), pool is not None) for _ in items]


def test_the_callers_pool_serves_only_the_chunks_run_here() -> None:
    """A pool cannot be sent to the helper: its chunks run without one, the caller's with it."""
    items = list(range(40))
    with ThreadPoolExecutor(1) as pool:
        assert (
            SplitPass(None, pids_and_pools, items, pool=pool).results()
            == [(os.getpid(), True)] * 40
        )
        with helper_process(len(items), start_from=0) as helper:
            split = SplitPass(helper, pids_and_pools, items, chunk=1, pool=pool)
            time.sleep(0.8)  # the helper starts and runs a few chunks
            ran = split.results()
    mine = os.getpid()
    assert {with_pool for pid, with_pool in ran if pid != mine} == {False}, ran
    assert {with_pool for pid, with_pool in ran if pid == mine} == {True}, ran


def test_a_helper_that_dies_costs_no_result() -> None:
    from functools import partial

    items = list(range(100))
    work = partial(dies_in_the_helper, caller=os.getpid())
    with helper_process(len(items), start_from=0) as helper:
        split = SplitPass(helper, work, items, chunk=10)
        time.sleep(1.0)
        assert split.results() == squares(items)


def test_a_ctrl_c_at_the_terminal_reaches_the_caller_only() -> None:
    """A terminal's Ctrl-C goes to its foreground process group: the helper is not in it, so it
    can print nothing of its own (a traceback, while it imports), and the caller ends it."""
    driver = (
        "import sys, time\n"
        "from nifti2parquet.common.helper_process import helper_process\n"
        "try:\n"
        "    with helper_process(10**6, start_from=0) as h:\n"
        "        print(h._process.pid if h else 'none', flush=True)\n"
        "        time.sleep(30)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', file=sys.stderr)\n"
    )
    caller = subprocess.Popen(
        [sys.executable, "-c", driver],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )
    line = caller.stdout.readline().strip()  # type: ignore[union-attr]
    if line == "none":
        caller.kill()
        caller.wait()
        pytest.skip("one core: no helper is started")
    helper = int(line)
    assert os.getpgid(helper) != caller.pid  # not in the caller's (foreground) group
    os.killpg(caller.pid, 2)  # SIGINT to the group, as Ctrl-C sends it
    _, err = caller.communicate(timeout=30)
    assert err.strip() == "interrupted"  # the caller's line only: nothing of the helper's
    deadline = time.monotonic() + 10
    while not _zombie_or_gone(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _zombie_or_gone(helper)  # the caller ended it


def _zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_no_helper_below_the_threshold_or_on_one_core() -> None:
    with helper_process(10, start_from=11) as helper:
        assert helper is None
    one_core = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from nifti2parquet.common.helper_process import helper_process\n"
        "with helper_process(10**6, start_from=0) as h: print(h is None)"
    )
    if hasattr(os, "sched_setaffinity"):
        out = subprocess.run([sys.executable, "-c", one_core], capture_output=True, text=True)
        assert out.stdout.strip() == "True", out.stderr


def test_a_script_without_a_main_guard_runs_once(tmp_path) -> None:
    """The helper is started like the shard workers (``python -c``): nothing of the caller's
    ``__main__`` is imported again, so a script calling the API at its top level runs once."""
    script = tmp_path / "script.py"
    script.write_text(
        "from nifti2parquet.common.helper_process import SplitPass, helper_process\n"
        "print('ran', flush=True)\n"
        "with helper_process(100, start_from=0) as helper:\n"
        "    print(SplitPass(helper, sorted, list(range(100)), chunk=10).results() == "
        "list(range(100)))\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert out.stdout.split() == ["ran", "True"], out.stderr


def fails_on_seven(items: Sequence[int]) -> list[int]:
    if 7 in items:
        raise ValueError("item 7 is bad")
    return list(items)


def test_an_error_in_the_helper_is_raised_where_the_results_are_asked_for() -> None:
    with helper_process(100, start_from=0) as helper:
        split = SplitPass(helper, fails_on_seven, list(range(100)), chunk=5)
        time.sleep(1.0)  # the helper runs the first chunks, the one holding 7 among them
        with pytest.raises(ValueError, match="item 7 is bad"):
            split.results()


def test_work_that_cannot_be_sent_is_an_error_not_a_hang() -> None:
    with helper_process(100, start_from=0) as helper:
        split = SplitPass(helper, lambda items: list(items), list(range(100)), chunk=5)
        time.sleep(1.0)
        with pytest.raises((pickle.PicklingError, AttributeError)):
            split.results()


def test_a_helper_still_starting_gets_no_chunk_and_is_not_waited_for(tmp_path, monkeypatch) -> None:
    """No chunk is sent before the helper has imported the work's modules: a pass that ends
    first runs every chunk here, and the helper still starting is stopped, not waited for."""
    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(30)\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the helper is given this process's sys.path
    items = list(range(100))
    with helper_process(len(items), start_from=0, preload=["slow_to_import"]) as helper:
        assert helper is not None
        ran = SplitPass(helper, pids, items, chunk=10).results()
    assert ran == [os.getpid()] * 100  # all ten chunks here, none sent
    assert helper._process.returncode == -9  # killed at the end of the pass, not waited for

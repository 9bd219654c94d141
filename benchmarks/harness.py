"""Shared benchmark tools: synthetic NIfTI data, running commands side by side, peak memory.

Every measured thing runs as its own process; wall time and the peak resident memory of its whole
process tree (sampled every 10 ms from /proc, so worker and helper processes count, each from its
exec) are recorded. Runs of the
compared commands are interleaved and repeated, and medians are reported: these machines are noisy,
so only ratios measured in one run mean anything.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PYTHON = sys.executable
PAGE = os.sysconf("SC_PAGE_SIZE")


# data --------------------------------------------------------------------------------------------
def nifti_file(path: Path, size: int, seed: int) -> int:
    """A real .nii.gz of about ``size`` bytes: a NIfTI-1 header and incompressible int16 voxels.

    The gzip stream uses stored blocks (level 0): a valid .nii.gz written at disk speed, with the
    size of real compressed scans (which are close to incompressible too).
    """
    import nibabel as nib

    slices = max(1, (size - 352) // (2 * 64 * 64))
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((64, 64, slices))
    header["vox_offset"] = 352
    voxels = np.random.default_rng(seed).bytes(2 * 64 * 64 * slices)
    raw = header.binaryblock + b"\0\0\0\0" + voxels
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, compresslevel=0, mtime=0))
    return path.stat().st_size


def size_plan(total: int, smallest: int, largest: int, seed: int = 0) -> list[int]:
    """File sizes drawn between ``smallest`` and ``largest`` until they add up to ``total``."""
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(int(rng.integers(smallest, largest)))
    return sizes


def image_table(root: Path, sizes: Sequence[int]) -> Path:
    """One row per image (subject_id, t1w, age): the simplest table people build by hand."""
    rows = ["subject_id,t1w,age"]
    for i, size in enumerate(sizes):
        name = f"images/sub-{i:04d}_T1w.nii.gz"
        nifti_file(root / name, size, seed=i)
        rows.append(f"sub-{i:04d},{name},{20 + i % 50}")
    table = root / "participants.csv"
    table.write_text("\n".join(rows) + "\n")
    return table


def session_table(root: Path, total: int, seed: int = 0) -> Path:
    """One row per session, as real studies are: a T1w (10-30 MB) and 1-3 BOLD runs (50-150 MB)
    in a ``List(Nifti())`` column, until ``total`` bytes."""
    rng = np.random.default_rng(seed)
    rows, written, i = ["subject_id,t1w,bold,age"], 0, 0
    while written < total:
        t1w = f"images/sub-{i:04d}_T1w.nii.gz"
        written += nifti_file(root / t1w, int(rng.integers(10_000_000, 30_000_000)), seed=10 * i)
        runs = []
        for k in range(int(rng.integers(1, 4))):
            name = f"images/sub-{i:04d}_task-rest_run-{k + 1:02d}_bold.nii.gz"
            written += nifti_file(
                root / name, int(rng.integers(50_000_000, 150_000_000)), seed=10 * i + k + 1
            )
            runs.append(name)
        rows.append(
            f'sub-{i:04d},{t1w},"{json.dumps(runs).replace(chr(34), chr(34) * 2)}",{30 + i}'
        )
        i += 1
    table = root / "participants.csv"
    table.write_text("\n".join(rows) + "\n")
    return table


def image_dataset(
    folder: Path, size_gb: float, min_mb: float = 10, max_mb: float = 150, seed: int = 0
) -> Path:
    """The one-image-per-row table of ``size_gb`` GB under ``folder``, made once and reused."""
    table = folder / "participants.csv"
    if not table.exists():
        sizes = size_plan(int(size_gb * 1e9), int(min_mb * 1e6), int(max_mb * 1e6), seed)
        print(f"generating {len(sizes)} images, {sum(sizes) / 1e9:.2f} GB in {folder} ...")
        fresh(folder)
        image_table(folder, sizes)
    return table


# measuring ---------------------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    seconds: float
    peak_rss: int  # bytes, whole process tree
    returncode: int
    output: str = ""
    cpu: float = 0.0  # user + system seconds of the whole process tree


PF_FORKNOEXEC = 0x40  # a task's flag (/proc/PID/stat, field 9): forked, not yet exec'd


def _tree_rss(pid: int) -> int:
    """The RSS of ``pid`` and its descendants. A child between its (v)fork and its exec is not
    counted: under vfork it is the parent's very memory, which ``statm`` shows again for it (a
    process spawning a helper or a worker would otherwise show twice its size for a moment).
    Every child of nifti2parquet execs a new interpreter at once."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            if current == pid or not _forked_not_exec(current):
                with open(f"/proc/{current}/statm") as f:
                    total += int(f.read().split()[1]) * PAGE
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def _forked_not_exec(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
    return bool(int(fields[6]) & PF_FORKNOEXEC)  # field 9 of the line: the task's flags


TIMED_OUT = -999  # a Run's returncode when it was stopped at its time limit


def measure(
    name: str,
    command: Sequence[str],
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Run:
    """Run a command; its wall time, CPU time and the peak RSS of its process tree.

    With ``timeout``, a command still running after that many seconds is stopped with its whole
    process group, and its Run says ``TIMED_OUT``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=timeout is not None,  # a group of its own, to stop it whole
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        output, _ = process.communicate(timeout=timeout)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        returncode = TIMED_OUT
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if returncode not in (0, TIMED_OUT):
        print(output, file=sys.stderr)
    return Run(name, seconds, peak, returncode, output, cpu)


def privacy_name(scan: bool) -> str:
    return f"build (API), privacy scan {'on' if scan else 'off'}"


def api_build(
    source: Path, target: Path, workers: str, scan: bool, rows: str = "auto", **options: str
) -> Run:
    """The build through the Python API, with its privacy scan on (as always) or off
    (``BuildOptions(privacy_scan=False)``, which exists only for this measurement)."""
    extra = "".join(f", {k}={v!r}" for k, v in options.items())
    code = (
        "import sys; from nifti2parquet import BuildOptions, SourceOptions, build; "
        f"r = build(sys.argv[1], sys.argv[2], BuildOptions(workers={int(workers)}, "
        f"source=SourceOptions(rows={rows!r}), privacy_scan={scan}{extra})); "
        "print('SCAN', r.privacy.seconds if r.privacy else 0, r.seconds)"
    )
    command = f"{PYTHON} -c \"{code}\" '{source}' '{fresh(target)}' && sync"
    return measure(privacy_name(scan), ["sh", "-c", command])


def privacy_steps(run: Callable[[bool], Run]) -> list[tuple[str, Callable[[], Run]]]:
    """The builds with the scan on and off, in turn first every other round: of two large writes
    in a row on a busy disk, the second is often the slower one."""
    rounds = [0]

    def first() -> Run:
        return run(rounds[0] % 2 == 0)

    def second() -> Run:
        scan = rounds[0] % 2 == 1
        rounds[0] += 1
        return run(scan)

    return [("privacy, first", first), ("privacy, second", second)]


def privacy_overhead(comparison: Comparison) -> dict[str, float]:
    """What the scan adds to the build (0.05: 5%), two ways: the medians of the builds with the
    scan on and off (noisy: the build's I/O varies more than the scan costs), and the scan's own
    time as the build measured it, over that build's time (the median of the runs)."""
    on, off = (comparison.seconds(privacy_name(scan)) for scan in (True, False))
    shares = []
    for run in comparison.runs[privacy_name(True)]:
        line = next(x for x in run.output.splitlines() if x.startswith("SCAN "))
        scan_seconds, build_seconds = (float(v) for v in line.split()[1:])
        shares.append(scan_seconds / build_seconds)
    return {"on_over_off": on / off - 1, "scan_share": statistics.median(shares)}


def print_privacy(overhead: dict[str, float]) -> None:
    print(
        f"privacy scan           {overhead['scan_share'] * 100:.2f}% of the build, timed inside "
        f"it; scan on / off {overhead['on_over_off'] * 100:+.1f}% (target <= 5%)"
    )


def drop_caches() -> bool:
    """Empty the page cache (root only) so the next run reads from disk."""
    subprocess.run(["sync"], check=True)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


@dataclass
class Comparison:
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def add(self, run: Run) -> None:
        if run.returncode != 0:
            raise SystemExit(f"{run.name} failed")
        self.runs.setdefault(run.name, []).append(run)

    def seconds(self, name: str) -> float:
        return statistics.median(r.seconds for r in self.runs[name])

    def rss(self, name: str) -> int:
        return max(r.peak_rss for r in self.runs[name])

    def cpu(self, name: str) -> float:
        return statistics.median(r.cpu for r in self.runs[name])

    def results(self) -> dict[str, dict[str, float]]:
        """Every contender's median seconds and peak memory, as the results files record them."""
        return {
            "seconds": {name: self.seconds(name) for name in self.runs},
            "cpu_seconds": {name: self.cpu(name) for name in self.runs},
            "peak_rss": {name: self.rss(name) for name in self.runs},
        }

    def table(self, data_bytes: int) -> str:
        lines = [f"{'':32s} {'median s':>9s} {'CPU s':>6s} {'MB/s':>8s} {'peak RSS MB':>12s}  runs"]
        for name, runs in self.runs.items():
            s = self.seconds(name)
            lines.append(
                f"{name:32s} {s:9.2f} {self.cpu(name):6.2f} {data_bytes / s / 1e6:8.0f} "
                f"{self.rss(name) / 1e6:12.0f}  {', '.join(f'{r.seconds:.2f}' for r in runs)}"
            )
        return "\n".join(lines)


def interleave(
    rounds: int, steps: Sequence[tuple[str, Callable[[], Run]]], comparison: Comparison
) -> None:
    """Run each step once per round, in order, so slow periods hit every contender alike."""
    for _ in range(rounds):
        for _, step in steps:
            comparison.add(step())


def tidy(work: Path, keep: Sequence[str]) -> None:
    """Remove what a benchmark wrote in ``work`` except the generated data matching ``keep``
    (glob patterns): outputs take as much space as the data, and are made anew every run."""
    kept = {p for pattern in keep for p in work.glob(pattern)}
    for path in work.iterdir():
        if path not in kept:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def built_by_this_code(out: Path) -> bool:
    """Whether the build kept in ``out`` (a benchmark's input made once) was made by the code
    measured now: a build made by an earlier version would have another format."""
    stamp = out.with_name(out.name + ".code")
    return (out / "README.md").exists() and stamp.exists() and stamp.read_text() == _code()


def mark_built(out: Path) -> None:
    """Record that ``out`` was just built by the code measured now."""
    out.with_name(out.name + ".code").write_text(_code())


def _code() -> str:
    """A digest of nifti2parquet's source files."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("nifti2parquet")
    digest = hashlib.sha256()
    for folder in spec.submodule_search_locations or [] if spec else []:
        for source in sorted(Path(folder).rglob("*.py")):
            digest.update(str(source.relative_to(folder)).encode() + source.read_bytes())
    return digest.hexdigest()


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def write_result(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def compile_package() -> None:
    """nifti2parquet's modules as bytecode, as an installed package has them."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("nifti2parquet")
    for folder in spec.submodule_search_locations or [] if spec else []:
        compileall.compile_dir(folder, quiet=1)

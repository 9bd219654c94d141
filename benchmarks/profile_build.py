"""Where a build's time goes, phase by phase: one build, sampled from inside its own process.

    python benchmarks/profile_build.py [--json FILE] SOURCE OUTPUT_DIR [BUILD OPTIONS...]

The ``nifti2parquet build`` command runs in this process, as the console script runs it (its
module is imported first, timed on its own). A sampling thread looks at every thread's Python
stack every 2 ms (``sys._current_frames``) and gives the time since its last look to the phase
each thread is in, found by the names of the functions on its stack: for the main thread, the
stage of the build (listing and reading the source, header checks, privacy scan, planning,
writing shards, the files config, previews, manifest, card, the final checks) and, while a shard
is written, what it is doing or waiting on (reading images into the write blocks, waiting for a
block to be hashed and written, the last blocks and ``fsync``); for each of the three block threads
(the shard's sha256, the images' sha256, the disk writes), busy or idle. The process's CPU time
(all threads, user + system) is given to the main thread's phase at each look. Then ``sync``, as
the other contenders do.

Overhead: one look costs ~20 µs of Python with the GIL held; the build is ~1% slower sampled. Names
that no longer exist after a refactoring only move their time to "other".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import threading
import time
from collections import defaultdict
from types import FrameType

INTERVAL = 0.002

# stages of a build: the outermost matching frame wins (so the files config's shard writing counts
# as "files config", not as the copy of the images)
STAGES = {
    "read_source": "listing and reading the source",
    "described_columns": "listing and reading the source",
    "check_images": "header checks",
    "blank_headers": "header checks",
    "exclude_in_other_files": "privacy scan",
    "scan_privacy": "privacy scan",
    "plan_shards": "planning",
    "shard_keys": "planning",
    "_Job._hash_other_files": "files config (hash, write)",
    "_Job._files_job": "files config (hash, write)",
    "_Job.finish_files": "files config (hash, write)",
    "make_previews": "previews",
    "write_images": "manifest and image list",
    "_Job._manifest": "manifest and image list",
    "Manifest.to_json": "manifest and image list",
    "_all_manifests": "card",
    "render_card": "card",
    "read_prose": "card",
    "write_card": "card",
    "verify_footers": "final checks (footers, card)",
    "_Job._commit": "shard renamed into place, marker",
    "write_shard": "writing shards: page framing, footer",
}
# while writing an image shard: the innermost matching frame wins
WRITING = {
    "ShardFile._read": "writing shards: reading images into the blocks (preadv)",
    "Blocks._wait_oldest": "writing shards: waiting for a block's hashes and write",
    "Blocks.finish": "writing shards: the last blocks, fsync",
    "_skeleton": "writing shards: small columns and footer (pyarrow)",
}
# the three threads a shard's blocks go to (thread name prefix: what it does)
BLOCK_THREADS = {
    "n2p-hash2": "sha256 of the images",
    "n2p-hash_": "sha256 of the shard",
    "n2p-disk": "disk writes (O_DIRECT)",
}


def _names(frame: FrameType | None) -> list[str]:
    """Function names on the stack, outermost first (qualified names where Python has them)."""
    names = []
    while frame is not None:
        code = frame.f_code
        names.append(getattr(code, "co_qualname", code.co_name))
        frame = frame.f_back
    return names[::-1]


def _match(name: str, rules: dict[str, str]) -> str | None:
    return rules.get(name) or rules.get(name.rsplit(".", 1)[-1])


def main_phase(names: list[str]) -> str:
    if "_find_and_load" in names:
        return "importing modules (lazily, during the command)"
    stage = next((s for n in names if (s := _match(n, STAGES))), None)
    if stage == STAGES["write_shard"]:
        inner = [s for n in names if (s := _match(n, WRITING))]
        return inner[-1] if inner else stage
    return stage or "other (options, output folder, locks)"


class Sampler:
    def __init__(self) -> None:
        self.main: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.threads: dict[str, float] = defaultdict(float)  # busy time of each block thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._main_id = threading.get_ident()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last, last_cpu = time.perf_counter(), _cpu()
        while not self._stop.wait(INTERVAL):
            now, cpu = time.perf_counter(), _cpu()
            elapsed = now - last
            frames = sys._current_frames()
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in frames.items():
                stack = _names(frame)
                thread = names.get(ident, "")
                if ident == self._main_id:
                    phase = main_phase(stack)
                    self.main[phase] += elapsed
                    self.cpu[phase] += cpu - last_cpu
                else:
                    work = next((w for p, w in BLOCK_THREADS.items() if thread.startswith(p)), None)
                    if work and any(n.endswith("_WorkItem.run") for n in stack):
                        self.threads[work] += elapsed
            last, last_cpu = now, cpu


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _seconds(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in sorted(values.items(), key=lambda kv: -kv[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the phases to this file")
    parser.add_argument("build", nargs=argparse.REMAINDER, help="SOURCE OUTPUT_DIR [OPTIONS]")
    args = parser.parse_args()

    started, cpu_started = time.perf_counter(), _cpu()
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="nifti2parquet")
    command = script.load()  # the console script's function: what it imports, it imports here
    imported, cpu_imported = time.perf_counter(), _cpu()
    sys.argv = ["nifti2parquet", "build", *args.build, "--quiet"]
    with Sampler() as sampler, contextlib.redirect_stdout(io.StringIO()):
        try:
            command()
        except SystemExit as exc:
            if exc.code:
                raise
    built, cpu_built = time.perf_counter(), _cpu()
    os.sync()
    synced = time.perf_counter()
    report = {
        "import": imported - started,
        "import_cpu": cpu_imported - cpu_started,
        "build": built - imported,
        "build_cpu": cpu_built - cpu_imported,
        "sync": synced - built,
        "inside": synced - started,
        "main": _seconds(sampler.main),
        "cpu": _seconds(sampler.cpu),
        "threads": _seconds(sampler.threads),
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    else:
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""The hashing a build must do, and nothing else: the floor under any build with hashes on.

    python benchmarks/hash_floor.py FOLDER

Reads every file under FOLDER once, in name order, and feeds each block to two sha256s at once,
on two threads, as the build does: the file's own (the manifest's record of the input) and a
running one over everything (standing in for the shard's). Nothing is written.
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BLOCK = 8 << 20


def main() -> None:
    files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.is_file())
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    everything = hashlib.sha256()
    with ThreadPoolExecutor(1) as helper:
        for path in files:
            own = hashlib.sha256()
            with open(path, "rb", buffering=0) as f:
                while n := f.readinto(buffer):
                    done = helper.submit(own.update, view[:n])
                    everything.update(view[:n])
                    done.result()
    print(f"{len(files)} files hashed twice: {everything.hexdigest()}")


if __name__ == "__main__":
    main()

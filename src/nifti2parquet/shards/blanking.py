"""``--blank-nifti-headers``: store images with their header text blanked and extensions dropped.

Without it every image is stored exactly as on disk. With it, each image that has header text or
extensions is rewritten once, before planning, into the build's state folder
(``.nifti2parquet/blanked/``): the header block with its text fields zeroed and its extensions
dropped (the extension flag cleared, their bytes zeroed, so ``vox_offset`` and the voxels stay
where they are), then the original voxel bytes. A ``.nii`` differs from its source only in those
bytes; a ``.nii.gz`` is recompressed in one streaming pass (zlib level 6, gzip header with no
name and time 0: the same input always gives the same bytes). The rewritten file's size is known
before the plan is made, and the shard writer copies it by the kernel like any other image.

Each rewritten image is recorded with both sha256s (source and stored) and what changed, so the
manifest, the card and ``verify --source`` know it was changed on purpose.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..common.errors import InputError, OptionError, Problem, cannot_read
from ..common.nifti import HeaderBlock, inflate, is_nifti_name, read_header_block
from ..common.nifti.header_text import blanked_block
from ..common.rows import FileRef, SourceRows, cell_images
from ..common.storage import CHECK_BLOCK, READ_BLOCK, Storage
from .image_index import ImageRecord
from .output import STATE, OutputFolder

BLANKED = f"{STATE}/blanked"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ChangedOnPurpose:
    """One image stored changed on purpose: its source's identity and what was changed."""

    path: str  # as the user knows it
    source_url: str
    source_size: int
    source_sha256: str
    changed: tuple[str, ...]  # "descrip", "aux_file", ..., "2 extensions"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"changed": list(self.changed)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangedOnPurpose:
        values = {f.name: data[f.name] for f in dataclasses.fields(cls)}
        return cls(**values | {"changed": tuple(data["changed"])})


def blank_headers(
    rows: SourceRows,
    output: OutputFolder,
    storage: Storage,
    threads: int = 4,
    progress: Callable[[int], None] | None = None,
) -> tuple[SourceRows, tuple[ChangedOnPurpose, ...]]:
    """The rows with every image that carries header text or extensions replaced by its blanked
    copy; images with nothing to blank stay as they are (and are stored byte for byte). A NIfTI
    file only the ``files`` config publishes (a raw image under ``sourcedata/``) is blanked too:
    its header is published as much as a row's image's is."""
    check_blanking(output, True)
    output.makedirs(BLANKED)
    images = {img.display: img for _, _, img in rows.images()}
    for other in rows.other_files:
        if is_nifti_name(other.display):
            images.setdefault(other.display, other)
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-blank") as pool:
        done = list(
            pool.map(lambda img: _blank_one(img, output, storage, progress), images.values())
        )
    problems = [p for _, _, p in done if p is not None]
    if problems:
        raise InputError("cannot blank the headers of some images; no shard was written:", problems)
    replaced = {old.display: new for old, (new, _, _) in zip(images.values(), done) if new}
    records = tuple(b for _, b, _ in done if b is not None)
    if not replaced:
        return rows, ()
    swapped = tuple(_swap(r, replaced) for r in rows.rows)
    others = tuple(replaced.get(f.display, f) for f in rows.other_files)
    return dataclasses.replace(rows, rows=swapped, other_files=others), records


def check_blanking(output: OutputFolder, blank: bool) -> None:
    """Before anything is read: the rewritten images are staged next to the shards, locally."""
    if blank and output.remote:
        raise OptionError(
            "--blank-nifti-headers needs a local OUTPUT_DIR (the rewritten images are staged "
            "next to the shards)"
        )


def clear_blanked(output: OutputFolder) -> None:
    """Drop the staged copies once the shards hold them (a rebuild writes them again)."""
    for name in output.listdir(BLANKED):
        output.remove(f"{BLANKED}/{name}")


def _swap(row: tuple[Any, ...], replaced: dict[str, FileRef]) -> tuple[Any, ...]:
    def cell(value: Any) -> Any:
        if isinstance(value, FileRef):
            return replaced.get(value.display, value)
        if isinstance(value, tuple) and value and all(isinstance(v, FileRef) for v in value):
            return tuple(replaced.get(v.display, v) for v in cell_images(value))
        return value

    return tuple(cell(v) for v in row)


def _blank_one(
    img: FileRef, output: OutputFolder, storage: Storage, progress: Callable[[int], None] | None
) -> tuple[FileRef | None, ChangedOnPurpose | None, Problem | None]:
    try:
        with storage.open(img.url, CHECK_BLOCK) as f:
            block = read_header_block(f)
        data, changed = blanked_block(block)
        if not changed:
            return None, None, None
        if not block.complete:
            return None, None, Problem(img.display, "header extensions over 16 MiB: not blanked")
        result = _cached(img, output) or _rewrite(img, block, data, changed, output, storage)
    except OSError as exc:
        return None, None, Problem(img.display, cannot_read(exc))
    except ValueError as exc:
        return None, None, Problem(img.display, str(exc))
    finally:
        if progress:
            progress(1)
    new, record = result
    return new, record, None


def _key(img: FileRef) -> str:
    return hashlib.sha256(json.dumps([img.url, img.size, img.version]).encode()).hexdigest()[:32]


def _paths(img: FileRef, output: OutputFolder) -> tuple[str, str]:
    suffix = ".nii.gz" if img.name.lower().endswith(".gz") else ".nii"
    base = output.full(f"{BLANKED}/{_key(img)}")
    return base + suffix, base + ".json"


def _cached(img: FileRef, output: OutputFolder) -> tuple[FileRef, ChangedOnPurpose] | None:
    """A copy made by an earlier run from the same source file (same url, size and version)."""
    path, record_path = _paths(img, output)
    try:
        with open(record_path, encoding="utf-8") as f:
            saved = json.load(f)
        size = os.path.getsize(path)
    except (OSError, ValueError):
        return None
    if size != saved.get("stored_size"):
        return None
    saved.pop("stored_size")
    record = ChangedOnPurpose(**saved | {"changed": tuple(saved["changed"])})
    return _ref(img, path, size), record


def _ref(img: FileRef, path: str, size: int) -> FileRef:
    return FileRef(path, size, img.name, img.display, f"{img.version}|blanked:{size}")


def _rewrite(
    img: FileRef,
    block: HeaderBlock,
    data: bytes,
    changed: tuple[str, ...],
    output: OutputFolder,
    storage: Storage,
) -> tuple[FileRef, ChangedOnPurpose]:
    path, record_path = _paths(img, output)
    tmp = f"{path}.partial"
    source_hash = hashlib.sha256()
    with storage.open(img.url, READ_BLOCK) as src, open(tmp, "wb") as dst:
        chunks = _hashed(src, source_hash)
        if block.header.gzipped:
            _write_gzip(chunks, data, dst)
        else:
            _write_plain(chunks, data, dst)
        dst.flush()
        os.fsync(dst.fileno())
    size = os.path.getsize(tmp)
    record = ChangedOnPurpose(img.display, img.url, img.size, source_hash.hexdigest(), changed)
    os.replace(tmp, path)
    with open(record_path, "w", encoding="utf-8") as f:
        json.dump(record.to_dict() | {"stored_size": size}, f)
    return _ref(img, path, size), record


def _hashed(f: BinaryIO, digest: Any) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        digest.update(chunk)
        yield chunk


def _replace_head(chunks: Iterator[bytes], head: bytes) -> Iterator[bytes]:
    """The stream with its first ``len(head)`` bytes replaced by ``head``."""
    skip = len(head)
    yield head
    for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:]
        skip = 0


def _write_plain(chunks: Iterator[bytes], head: bytes, dst: BinaryIO) -> None:
    for piece in _replace_head(chunks, head):
        dst.write(piece)


def _write_gzip(chunks: Iterator[bytes], head: bytes, dst: BinaryIO) -> None:
    """Inflate (every member), replace the header block, deflate as one member: deterministic."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip wrapper, mtime 0, no name
    for piece in _replace_head(inflate(chunks), head):
        dst.write(compressor.compress(piece))
    dst.write(compressor.flush())


def on_purpose(
    records: Iterable[ImageRecord], blanked: Sequence[ChangedOnPurpose]
) -> Iterator[ImageRecord]:
    """The image records, those stored changed on purpose with their source's url, size, sha256."""
    by_path = {b.path: b for b in blanked}
    for record in records:
        b = by_path.get(record.path)
        if b is None:
            yield record
        else:
            yield dataclasses.replace(
                record,
                url=b.source_url,
                source_size=b.source_size,
                source_sha256=b.source_sha256,
                changed=b.changed,
            )

"""The test Xet CAS (``xetserver.py``): formats and refusals that the real client never shows.

The push tests drive it with the real ``hf_xet``; here xorbs and shards are written by hand (the
layouts ``hf_xet`` writes) to check what it does with each compression
scheme, byte ranges, and bad input, and — through the Hub — that a commit is refused when the
stored xorbs do not rebuild the file it names.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hubserver import Fault, HubServer, RequestInfo
from xetserver import CasError, XetCas, hash_text


def raw_hash(text: str) -> bytes:
    """Inverse of ``hash_text``: four u64 written little-endian."""
    return b"".join(int(text[i : i + 16], 16).to_bytes(8, "little") for i in range(0, 64, 16))


def chunk(data: bytes, scheme: int) -> bytes:
    if scheme == 0:
        body = data
    else:
        grouped = b"".join(data[g::4] for g in range(4)) if scheme == 2 else data
        body = pa.compress(grouped, codec="lz4", asbytes=True)
    header = bytes([0]) + len(body).to_bytes(3, "little") + bytes([scheme])
    return header + len(data).to_bytes(3, "little") + body


def shard(file_hash: str, segments: list[tuple[str, int, int, int]], sha256: str | None) -> bytes:
    out = b"\0" * 32 + struct.pack("<QQ", 2, 0)
    flags = (1 << 30) if sha256 else 0
    out += raw_hash(file_hash) + struct.pack("<II", flags, len(segments)) + b"\0" * 8
    for xorb, size, first, end in segments:
        out += raw_hash(xorb) + struct.pack("<IIII", 0, size, first, end)
    if sha256:
        out += raw_hash(sha256) + b"\0" * 16
    return out + b"\xff" * 32 + b"\0" * 16


PARTS = [bytes(range(256)) * 40, b"abc" * 3001, bytes(range(7, 250)) * 33]  # schemes 0, 1, 2
XORB = "11" * 32
FILE = "22" * 32


@pytest.fixture
def cas(tmp_path: Path) -> XetCas:
    store = XetCas(tmp_path / "cas", url="http://127.0.0.1:1/cas")
    body = b"".join(chunk(p, s) for s, p in enumerate(PARTS)) + b"XETBLOB\0footer"
    assert store.put_xorb(XORB, [body[:1000], body[1000:]], len(body)) is True
    assert store.put_xorb(XORB, [body], len(body)) is False  # already there
    return store


def test_hash_text_is_four_little_endian_words() -> None:
    raw = bytes(range(32))
    assert hash_text(raw) == "0706050403020100" + "0f0e0d0c0b0a0908" + "1716151413121110" + (
        "1f1e1d1c1b1a1918"
    )
    assert raw_hash(hash_text(raw)) == raw


def test_every_compression_scheme_rebuilds_the_file(cas: XetCas) -> None:
    content = b"".join(PARTS)
    sha = hashlib.sha256(content).hexdigest()
    [registered] = cas.put_shard(shard(FILE, [(XORB, len(content), 0, 3)], sha))

    assert registered.sha256 == sha and registered.size == len(content)
    assert cas.file_for_sha256(sha) == registered
    assert b"".join(cas.file_bytes(registered)) == content


@pytest.mark.parametrize(("first", "last"), [(0, 10239), (10240, 10240), (5000, 25000)])
def test_reconstruction_covers_exactly_the_range(cas: XetCas, first: int, last: int) -> None:
    content = b"".join(PARTS)
    cas.put_shard(shard(FILE, [(XORB, len(content), 0, 3)], None))

    answer: dict[str, Any] = cas.reconstruction(FILE, f"bytes={first}-{last}")

    terms, fetch = answer["terms"], answer["fetch_info"][XORB]
    start = terms[0]["range"]["start"]
    rebuilt = b"".join(PARTS[start : terms[-1]["range"]["end"]])
    offset = answer["offset_into_first_range"]
    assert rebuilt[offset : offset + last - first + 1] == content[first : last + 1]
    url = fetch[0]["url"]
    sig = url.split("sig=")[1]
    path, at, length = cas.xorb_range(
        XORB, sig, "bytes={start}-{end}".format(**fetch[0]["url_range"])
    )
    assert path == cas.xorb_path(XORB) and (at, length) == (
        fetch[0]["url_range"]["start"],
        fetch[0]["url_range"]["end"] - fetch[0]["url_range"]["start"] + 1,
    )
    with pytest.raises(CasError) as refused:
        cas.xorb_range(XORB, "0" * 32, None)
    assert refused.value.status == 403


def test_bad_uploads_are_refused_and_never_stored(cas: XetCas) -> None:
    with pytest.raises(CasError) as unknown:
        cas.put_shard(shard(FILE, [("33" * 32, 10, 0, 1)], None))
    assert unknown.value.status == 400 and "unknown xorb" in unknown.value.message
    with pytest.raises(CasError) as past_end:
        cas.put_shard(shard(FILE, [(XORB, 10, 0, 9)], None))
    assert "past the end" in past_end.value.message
    body = chunk(PARTS[0], 0)
    with pytest.raises(CasError):
        cas.put_xorb("44" * 32, [body[:-5]], len(body) - 5)  # a chunk cut short
    with pytest.raises(CasError):
        cas.put_xorb("55" * 32, [body], len(body) + 3)  # fewer bytes than announced
    assert cas.xorb_hashes() == {XORB} and cas.files() == {}


COMMIT = """
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("user/x", repo_type="dataset", exist_ok=True)
emit(attempt(api.upload_file, path_or_fileobj=ARGS["file"], path_in_repo="data/a.parquet",
             repo_id="user/x", repo_type="dataset"))
"""


def test_a_commit_is_refused_when_the_xorbs_do_not_rebuild_the_file(
    hub_server: HubServer, hub_python: Any, tmp_path: Path
) -> None:
    data = tmp_path / "a.parquet"
    data.write_bytes(os.urandom(300_000))  # incompressible: stored as it is

    def corrupt(info: RequestInfo) -> None:  # after the upload, before the commit is handled
        for xorb in hub_server.cas.xorb_hashes():
            stored = hub_server.cas.xorb_path(xorb)
            body = bytearray(stored.read_bytes())
            body[200] ^= 0xFF  # inside the first chunk's data
            stored.write_bytes(bytes(body))

    hub_server.inject(Fault("callback", r"/commit/", "POST", callback=corrupt))
    refused = hub_python(COMMIT, file=str(data)).check()

    assert refused["status"] == 422 and "data/a.parquet" in refused["message"]
    assert list(hub_server.repo_files("user/x")) == [".gitattributes"]  # nothing committed
    assert hub_server.lfs_objects() == set()  # and nothing half-rebuilt kept

    fine = tmp_path / "b.parquet"
    fine.write_bytes(os.urandom(300_000))
    assert hub_python(COMMIT, file=str(fine)).check()["ok"]
    assert hub_server.read_file("user/x", "data/a.parquet") == fine.read_bytes()

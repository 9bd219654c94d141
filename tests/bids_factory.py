"""BIDS trees built in code from real NIfTI bytes, for the BIDS source tests.

``BidsTree`` writes files under a root and remembers what it wrote, so a test can say "this image
must be in the output, that one left out as info, this one as an error" without listing paths twice.
``sessions_tree`` and ``sessionless_tree`` are the two reference trees the end-to-end tests build
with every row layout; between them they hold every case the BIDS reader must handle.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import fsspec
from factories import nifti_bytes, sha256_file
from fsspec.implementations.memory import MemoryFileSystem


@dataclass
class BidsTree:
    root: Path
    included: list[str] = field(default_factory=list)  # images that must be in the rows
    others: list[str] = field(default_factory=list)  # files that must be in the files config
    left_out: dict[str, str] = field(default_factory=dict)  # rel -> severity
    found: list[str] = field(default_factory=list)  # every file a crawl must count

    def description(self, **fields: Any) -> None:
        data = {"Name": "Test dataset", "BIDSVersion": "1.9.0", **fields}
        self.json("dataset_description.json", data)

    def image(
        self,
        rel: str,
        seed: int | None = None,
        shape: tuple[int, ...] = (6, 7, 5),
        sidecar: dict[str, Any] | None = None,
        left_out: str | None = None,
        other: bool = False,
    ) -> Path:
        """A real NIfTI at ``rel`` (gzip when it ends in .gz); its own sidecar JSON if given.

        ``other``: it fits no row (not BIDS-named or placed), so it is in the files config."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = len(self.found) if seed is None else seed
        path.write_bytes(nifti_bytes(shape, seed=seed, gz=rel.endswith(".gz")))
        if sidecar is not None:
            self.json(rel.split(".", 1)[0] + ".json", sidecar)
        self._count(rel, left_out, other)
        return path

    def raw(
        self, rel: str, data: bytes, left_out: str | None = "info", other: bool = False
    ) -> Path:
        """Any bytes at ``rel`` (an Analyze pair half, a text file named .nii.gz...)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self._count(rel, None if other else left_out, other)
        return path

    def annex_link(self, rel: str) -> Path:
        """A DataLad/git-annex symlink whose content was never fetched (broken)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        depth = rel.count("/")
        target = (
            "../" * depth
            + ".git/annex/objects/Xx/Yy/MD5E-s1234--abcd.nii.gz/MD5E-s1234--abcd.nii.gz"
        )
        os.symlink(target, path)
        self._count(rel, "error")
        return path

    def json(self, rel: str, data: Any) -> Path:
        return self.text(rel, json.dumps(data, indent=1))

    def text(
        self, rel: str, text: str, encoding: str = "utf-8", left_out: str | None = None
    ) -> Path:
        """A metadata or text file: published in the files config unless ``left_out``."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        if rel not in self.found:
            self._count(rel, left_out, other=True)
        return path

    def tsv(
        self, rel: str, header: list[str], rows: list[list[Any]], encoding: str = "utf-8"
    ) -> Path:
        lines = ["\t".join(header)] + ["\t".join(str(c) for c in row) for row in rows]
        return self.text(rel, "\n".join(lines) + "\n", encoding)

    def _count(self, rel: str, left_out: str | None, other: bool = False) -> None:
        self.found.append(rel)
        if left_out:
            self.left_out[rel] = left_out
        elif other:
            self.others.append(rel)
        else:
            self.included.append(rel)

    def sha256(self) -> dict[str, str]:
        """sha256 of every image that must be in the output, by relative path."""
        return {rel: sha256_file(self.root / rel) for rel in self.included}


T1W_ROOT = {"MagneticFieldStrength": 3, "FlipAngle": 9, "Manufacturer": "Siemens"}
NAMING_ROOT = {"TaskName": "naming40", "RepetitionTime": 2.0, "Manufacturer": "Siemens"}
NAMING_SUB01 = {"RepetitionTime": 1.5}
NAMING_RUN01 = {"EchoTime": 0.03, "PhaseEncodingDirection": "j-"}
ROOT_BVAL = "0 1000 1000\n"
ROOT_BVEC = "0 1 0\n0 0 1\n0 0 0\n"
ROOT_EVENTS = "onset\tduration\ttrial_type\n0\t2\tpicture\n4\t2\tpicture\n"
RUN01_EVENTS = "onset\tduration\ttrial_type\n0.5\t2\tpicture\n"
FILE_BVAL = "0 2000 2000\n"
FILE_BVEC = "0 0 1\n0 1 0\n0 0 0\n"


def sessions_tree(root: Path) -> BidsTree:
    """Three subjects, two sessions each; every case of the BIDS reader in one small tree.

    sub-01 ses-1: T1w, T2w, FLAIR, BOLD naming40 run-01 + run-02, BOLD rest, sbref rest, DWI run-01
      (own bval/bvec) + run-02 (inherits the root's), a defacemask (.bidsignore) and a dotfile:
      files BIDS does not index, published in the files config.
    sub-01 ses-2: two T1w runs (run-1, run-2), BOLD naming40 run-01; missing everything else.
    sub-02 ses-1: T1w with an unknown entity (foo-bar), BOLD rest; a lesion mask (derivative).
    sub-02 ses-2: T2w; its T1w is an unfetched git-annex symlink.
    sub-03 ses-1: T1w; an Analyze pair and a non-BIDS name, both in the files config.
    Plus sourcedata/, code/, stimuli/ and extra/ (.bidsignore) images, not indexed by BIDS and
    so in the files config, and .git/annex content that a crawl must not even count.
    """
    t = BidsTree(root)
    t.description(
        Name="Aphasia mini",
        License="CC0",
        Authors=["A. Author", "B. Author"],
        DatasetDOI="doi:10.18112/openneuro.ds000000.v1.0.0",
        HowToAcknowledge="Please cite Author et al. (2024).",
        ReferencesAndLinks=["https://example.org/paper"],
        Funding=["Grant 1"],
    )
    t.text("README", "A small aphasia dataset for tests.\n")
    t.text(".bidsignore", "# extra material\nextra/\n*_defacemask.nii.gz\n")
    t.json("T1w.json", T1W_ROOT)
    t.json("task-naming40_bold.json", NAMING_ROOT)
    t.text("task-naming40_events.tsv", ROOT_EVENTS)  # every naming40 run's, unless its own
    t.text("sub-01/ses-1/func/sub-01_ses-1_task-naming40_run-01_events.tsv", RUN01_EVENTS)
    t.json("sub-01/sub-01_task-naming40_bold.json", NAMING_SUB01)
    t.json("task-rest_bold.json", {"TaskName": "rest", "RepetitionTime": 0.8})
    t.text("dwi.bval", ROOT_BVAL)
    t.text("dwi.bvec", ROOT_BVEC)
    t.tsv(
        "participants.tsv",
        ["participant_id", "age", "sex", "wab_aq", "Handedness Score", "group"],
        [
            ["sub-01", 61, "M", 72.5, "0.80", "1"],
            ["sub-02", "n/a", "F", "n/a", "-0.5", "2"],
            ["sub-03", 70, "F", 88, "1", "1"],
            ["sub-04", 55, "M", 90.1, "1", "2"],
        ],
    )
    t.json(
        "participants.json",
        {
            "age": {"Description": "Age at first scan", "Units": "years", "Format": "integer"},
            "sex": {"Description": "Sex", "Levels": {"M": "male", "F": "female"}},
            "wab_aq": {"Description": "WAB aphasia quotient"},
            "group": {"Description": "Group", "Levels": {"1": "patient", "2": "control"}},
        },
    )
    # sub-01
    s1 = "sub-01/ses-1"
    t.image(f"{s1}/anat/sub-01_ses-1_T1w.nii.gz")
    t.image(f"{s1}/anat/sub-01_ses-1_T2w.nii.gz")
    t.image(f"{s1}/anat/sub-01_ses-1_FLAIR.nii.gz")
    t.image(f"{s1}/anat/sub-01_ses-1_defacemask.nii.gz", other=True)
    t.raw(f"{s1}/anat/._sub-01_ses-1_T1w.nii.gz", b"\x00\x05\x16\x07 AppleDouble", other=True)
    bold = (4, 3, 2, 5)
    t.image(
        f"{s1}/func/sub-01_ses-1_task-naming40_run-01_bold.nii.gz", shape=bold, sidecar=NAMING_RUN01
    )
    t.image(f"{s1}/func/sub-01_ses-1_task-naming40_run-02_bold.nii.gz", shape=bold)
    t.image(f"{s1}/func/sub-01_ses-1_task-rest_bold.nii.gz", shape=bold)
    t.image(f"{s1}/func/sub-01_ses-1_task-rest_sbref.nii.gz")
    t.image(f"{s1}/dwi/sub-01_ses-1_run-01_dwi.nii.gz", shape=(4, 3, 2, 3))
    t.text(f"{s1}/dwi/sub-01_ses-1_run-01_dwi.bval", FILE_BVAL)
    t.text(f"{s1}/dwi/sub-01_ses-1_run-01_dwi.bvec", FILE_BVEC)
    t.image(f"{s1}/dwi/sub-01_ses-1_run-02_dwi.nii.gz", shape=(4, 3, 2, 3))
    t.tsv(
        f"{s1}/sub-01_ses-1_scans.tsv",
        ["filename", "acq_time"],
        [
            ["anat/sub-01_ses-1_T1w.nii.gz", "2020-01-01T10:00:00"],
            ["func/sub-01_ses-1_task-naming40_run-01_bold.nii.gz", "2020-01-01T10:20:00"],
        ],
    )
    t.image("sub-01/ses-2/anat/sub-01_ses-2_run-1_T1w.nii.gz")
    t.image("sub-01/ses-2/anat/sub-01_ses-2_run-2_T1w.nii.gz")
    t.image("sub-01/ses-2/func/sub-01_ses-2_task-naming40_run-01_bold.nii", shape=bold)
    t.tsv(
        "sub-01/sub-01_sessions.tsv",
        ["session_id", "days_post_stroke", "age"],
        [["ses-1", 30, 61], ["ses-2", 400, 62]],
    )
    # sub-02
    t.image("sub-02/ses-1/anat/sub-02_ses-1_foo-bar_T1w.nii.gz")
    t.image("sub-02/ses-1/func/sub-02_ses-1_task-rest_bold.nii.gz", shape=bold)
    t.image("sub-02/ses-2/anat/sub-02_ses-2_T2w.nii.gz")
    t.annex_link("sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz")
    t.tsv("sub-02/sub-02_sessions.tsv", ["session_id", "days_post_stroke"], [["ses-1", 10]])
    # sub-03
    t.image("sub-03/ses-1/anat/sub-03_ses-1_T1w.nii.gz")
    t.raw("sub-03/ses-1/anat/sub-03_ses-1_T2w.hdr", nifti_bytes()[:348], other=True)
    t.raw("sub-03/ses-1/anat/sub-03_ses-1_T2w.img", b"\x00" * 420, other=True)
    t.image("sub-03/ses-1/anat/t1_mprage.nii.gz", other=True)
    # derivatives
    t.json(
        "derivatives/lesion_masks/dataset_description.json",
        {"Name": "masks", "DatasetType": "derivative"},
    )
    t.image("derivatives/lesion_masks/sub-01/ses-1/anat/sub-01_ses-1_desc-lesion_mask.nii.gz")
    t.image("derivatives/lesion_masks/sub-02/ses-1/anat/sub-02_ses-1_desc-lesion_mask.nii.gz")
    # ignored places
    t.image("sourcedata/sub-01/anat/sub-01_T1w.nii.gz", other=True)
    t.image("code/template.nii.gz", other=True)
    t.image("stimuli/picture.nii", other=True)
    t.image("extra/sub-01_T1w.nii.gz", other=True)
    annexed = root / ".git/annex/objects/Xx/Yy/content.nii.gz"
    annexed.parent.mkdir(parents=True)
    annexed.write_bytes(nifti_bytes(gz=True))  # never counted: version control is not crawled
    return t


def sessionless_tree(root: Path) -> BidsTree:
    """Two subjects without sessions: T1w (.nii), two BOLD runs, DWI; no participants.json."""
    t = BidsTree(root)
    t.description(License="CC-BY-4.0")
    t.json("task-rest_bold.json", {"RepetitionTime": 2.5, "TaskName": "rest"})
    t.tsv(
        "participants.tsv",
        ["participant_id", "age", "site"],
        [["sub-01", 30, "007"], ["sub-02", "n/a", "012"]],
    )
    t.image("sub-01/anat/sub-01_T1w.nii")
    t.image("sub-01/func/sub-01_task-rest_run-1_bold.nii.gz", shape=(4, 3, 2, 4))
    t.image("sub-01/func/sub-01_task-rest_run-2_bold.nii.gz", shape=(4, 3, 2, 4))
    t.image("sub-02/anat/sub-02_T1w.nii.gz")
    t.image("sub-02/dwi/sub-02_dwi.nii.gz", shape=(4, 3, 2, 3))
    t.text("sub-02/dwi/sub-02_dwi.bval", ROOT_BVAL)
    t.text("sub-02/dwi/sub-02_dwi.bvec", ROOT_BVEC)
    return t


# a remote BIDS root, in memory -------------------------------------------------------------------

COUNTING_PROTOCOL = "n2pcount"


class _CountingFile(io.BytesIO):
    def __init__(self, owner: type[CountingMemoryFS], path: str, data: bytes) -> None:
        super().__init__(data)
        self._owner, self._path = owner, path

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        self._owner.bytes_read[self._path] += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        self._owner.bytes_read[self._path] += n
        return n


class CountingMemoryFS(MemoryFileSystem):
    """An in-memory object store (``n2pcount://``) that counts listings, stats and bytes read.

    It stands in for S3 in tests of the remote code path: the BIDS crawler must list the tree with
    one ``find`` and read small files with ``cat``, never stat'ing files one by one.
    """

    protocol = COUNTING_PROTOCOL
    store: ClassVar[dict] = {}  # fsspec's design: one class-level store per class
    pseudo_dirs: ClassVar[list] = [""]
    calls: ClassVar[Counter] = Counter()
    bytes_read: ClassVar[Counter] = Counter()
    block_sizes: ClassVar[list] = []  # read-ahead asked for by each open (an S3 read's size)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith(f"{COUNTING_PROTOCOL}://"):
            path = "memory://" + path[len(COUNTING_PROTOCOL) + 3 :]
        return super()._strip_protocol(path)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["find"] += 1
        return super().find(*args, **kwargs)

    def info(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["info"] += 1
        return super().info(*args, **kwargs)

    def cat(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["cat"] += 1
        return super().cat(*args, **kwargs)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        f = super()._open(path, mode, **kwargs)
        if "r" in mode:
            self.calls["open"] += 1
            self.block_sizes.append(kwargs.get("block_size"))
            return _CountingFile(type(self), self._strip_protocol(path), f.getvalue())
        return f

    @classmethod
    def reset(cls) -> None:
        cls.store.clear()
        cls.pseudo_dirs[:] = [""]
        cls.calls.clear()
        cls.bytes_read.clear()
        cls.block_sizes.clear()


fsspec.register_implementation(COUNTING_PROTOCOL, CountingMemoryFS, clobber=True)


def copy_to_memory(local_root: Path, name: str) -> str:
    """Copy a BIDS tree (regular files only; symlinks skipped) into memory."""
    fs = CountingMemoryFS()
    for path in sorted(local_root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(local_root)
        fs.pipe_file(f"/{name}/{rel.as_posix()}", path.read_bytes())
    CountingMemoryFS.calls.clear()
    CountingMemoryFS.bytes_read.clear()
    CountingMemoryFS.block_sizes.clear()
    return f"{COUNTING_PROTOCOL}://{name}"

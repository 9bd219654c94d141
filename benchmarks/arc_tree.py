"""An ARC-shaped synthetic BIDS tree: the reference dataset's modality mix and size spread, scaled.

OpenNeuro ds004884 (Aphasia Recovery Cohort, see ``../shared/reference/lessons.md``): 902 sessions
of 230 subjects; T1w in 444 sessions (447 files, ~10 MB), T2w 440 (441), FLAIR 233 (235), BOLD task
naming40 750 (894 runs, ~150 MB), BOLD rest 498 (508), DWI 613 (2,089 runs, ~30 MB, each with
.bval/.bvec), sbref 88 (322), lesion masks 228 (in ``derivatives/lesion_masks/``); ~273 GB.

``scale`` is the fraction of ARC's bytes to make. Both the number of sessions and every file's size
are scaled by ``sqrt(scale)``, so the tree keeps ARC's shape (many sessions, every modality,
multi-run BOLD and DWI as lists) at any size: ``scale=0.004`` gives 57 sessions, 319 images,
~1.1 GB, with sessions from 3.8 MB to 35.7 MB (ARC's own spread, 1.7 MB to 805 MB, comes from
rarer sessions than a sample of 57 holds).

Images are real NIfTI-1 files (a valid header whose shape matches the payload) with incompressible
random voxels, gzip'ed with stored blocks (level 0): written at disk speed, with the size of real
compressed scans. Sidecar JSON (with dataset-level inheritance), bval/bvec, participants.tsv and
sessions.tsv come along, so a build exercises every part of the BIDS source.

    python benchmarks/arc_tree.py OUT_DIR --scale 0.004
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARC_SESSIONS = 902
ARC_SUBJECTS = 230


@dataclass(frozen=True)
class Kind:
    """One modality of ARC: where its files go, how many sessions have it, how many, how big."""

    column: str  # the column nifti2parquet gives it
    datatype: str
    suffix: str
    task: str
    sessions: int  # ARC sessions having it
    files: int  # ARC files
    size: float  # typical file size in bytes
    four_d: bool = False
    derivative: bool = False


KINDS = (
    Kind("t1w", "anat", "T1w", "", 444, 447, 10e6),
    Kind("t2w", "anat", "T2w", "", 440, 441, 6e6),
    Kind("flair", "anat", "FLAIR", "", 233, 235, 4e6),
    Kind("bold_naming40", "func", "bold", "naming40", 750, 894, 150e6, four_d=True),
    Kind("bold_rest", "func", "bold", "rest", 498, 508, 150e6, four_d=True),
    Kind("dwi", "dwi", "dwi", "", 613, 2089, 28e6, four_d=True),
    Kind("sbref", "dwi", "sbref", "", 88, 322, 0.6e6),
    Kind("lesion_masks_lesion_mask", "anat", "mask", "", 228, 228, 0.3e6, derivative=True),
)


@dataclass(frozen=True)
class TreeSummary:
    root: Path
    sessions: int
    subjects: int
    image_bytes: int
    files: dict[str, int]  # column -> files
    rows_with: dict[str, int]  # column -> sessions having it


def nifti_gz(path: Path, size: int, four_d: bool, rng: np.random.Generator) -> int:
    """A valid .nii.gz of about ``size`` bytes with random int16 voxels; returns its size."""
    import nibabel as nib

    voxels = max(2048, (size - 352) // 2)
    shape = (16, 16, 8, max(1, voxels // 2048)) if four_d else (max(1, voxels // 1024), 32, 32)
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape(shape)
    header.set_zooms((2.0, 2.0, 2.0, 2.5)[: len(shape)])
    header["vox_offset"] = 352
    payload = rng.bytes(2 * math.prod(shape))
    raw = header.binaryblock + b"\0\0\0\0" + payload
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, compresslevel=0, mtime=0))
    return path.stat().st_size


def make_arc_tree(root: Path, scale: float = 0.004, seed: int = 0) -> TreeSummary:
    """Write the tree under ``root`` (which must not exist yet)."""
    rng = np.random.default_rng(seed)
    factor = math.sqrt(scale)
    sessions = max(4, round(ARC_SESSIONS * factor))
    subjects = max(2, round(sessions * ARC_SUBJECTS / ARC_SESSIONS))
    root.mkdir(parents=True)
    _dataset_files(root, subjects, rng)
    files: Counter[str] = Counter()
    rows_with: Counter[str] = Counter()
    image_bytes = 0
    per_subject: Counter[int] = Counter()
    for s in range(sessions):
        subject = s % subjects + 1
        per_subject[subject] += 1
        sub, ses = f"sub-M{2000 + subject}", f"ses-{per_subject[subject]}"
        chosen = _draw_session(rng)
        for kind, runs in chosen.items():
            rows_with[kind.column] += 1
            for run in range(1, runs + 1):
                size = int(kind.size * factor * rng.uniform(0.7, 1.3))
                path = _image_path(root, kind, sub, ses, run if runs > 1 else 0)
                image_bytes += nifti_gz(path, size, kind.four_d, rng)
                files[kind.column] += 1
                _sidecars(path, kind, rng)
    for subject, count in per_subject.items():
        sub = f"sub-M{2000 + subject}"
        lines = ["session_id\tdays_post_stroke"]
        lines += [f"ses-{i}\t{int(rng.integers(10, 2000))}" for i in range(1, count + 1)]
        (root / sub / f"{sub}_sessions.tsv").write_text("\n".join(lines) + "\n")
    return TreeSummary(root, sessions, subjects, image_bytes, dict(files), dict(rows_with))


def _draw_session(rng: np.random.Generator) -> dict[Kind, int]:
    """Which kinds one session has, and how many files of each, with ARC's frequencies."""
    chosen: dict[Kind, int] = {}
    for kind in KINDS:
        if rng.random() < kind.sessions / ARC_SESSIONS:
            extra = kind.files / kind.sessions - 1
            chosen[kind] = 1 + int(rng.poisson(extra))
    if not chosen:
        chosen[KINDS[0]] = 1  # every ARC session has at least one image
    return chosen


def _image_path(root: Path, kind: Kind, sub: str, ses: str, run: int) -> Path:
    entities = [sub, ses] + ([f"task-{kind.task}"] if kind.task else [])
    entities += [f"run-{run:02d}"] if run else []
    if kind.derivative:
        name = "_".join([sub, ses, "desc-lesion_mask"]) + ".nii.gz"
        return root / "derivatives/lesion_masks" / sub / ses / "anat" / name
    return root / sub / ses / kind.datatype / ("_".join([*entities, kind.suffix]) + ".nii.gz")


def _sidecars(path: Path, kind: Kind, rng: np.random.Generator) -> None:
    if kind.derivative:
        return
    stem = path.name.split(".", 1)[0]
    sidecar = {"EchoTime": round(float(rng.uniform(0.002, 0.1)), 4), "AcquisitionNumber": 1}
    (path.parent / f"{stem}.json").write_text(json.dumps(sidecar))
    if kind.suffix == "dwi":
        directions = 7
        bvals = " ".join(["0"] + ["1000"] * (directions - 1))
        vectors = rng.normal(size=(3, directions)).round(4)
        (path.parent / f"{stem}.bval").write_text(bvals + "\n")
        bvec = "\n".join(" ".join(str(v) for v in row) for row in vectors)
        (path.parent / f"{stem}.bvec").write_text(bvec + "\n")


def _dataset_files(root: Path, subjects: int, rng: np.random.Generator) -> None:
    description = {
        "Name": "ARC-shaped synthetic dataset",
        "BIDSVersion": "1.8.0",
        "License": "CC0",
        "Authors": ["nifti2parquet benchmarks"],
    }
    (root / "dataset_description.json").write_text(json.dumps(description, indent=1))
    (root / "README").write_text("Synthetic data shaped like OpenNeuro ds004884 (ARC).\n")
    common = {"MagneticFieldStrength": 3, "Manufacturer": "Siemens"}
    for name, extra in (
        ("T1w.json", {"FlipAngle": 9}),
        ("T2w.json", {}),
        ("FLAIR.json", {}),
        ("task-naming40_bold.json", {"TaskName": "naming40", "RepetitionTime": 1.65}),
        ("task-rest_bold.json", {"TaskName": "rest", "RepetitionTime": 1.65}),
        ("dwi.json", {"PhaseEncodingDirection": "j-"}),
    ):
        (root / name).write_text(json.dumps({**common, **extra}))
    lines = ["participant_id\tage\tsex\twab_aq\trace"]
    for subject in range(1, subjects + 1):
        age = int(rng.integers(25, 85))
        aq = "n/a" if rng.random() < 0.1 else f"{rng.uniform(10, 99):.1f}"
        lines.append(f"sub-M{2000 + subject}\t{age}\t{'MF'[subject % 2]}\t{aq}\tw")
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    (root / "participants.json").write_text(
        json.dumps({"age": {"Description": "Age at stroke", "Units": "years"}})
    )
    masks = root / "derivatives/lesion_masks"
    masks.mkdir(parents=True)
    (masks / "dataset_description.json").write_text(
        json.dumps({"Name": "lesion masks", "BIDSVersion": "1.8.0", "DatasetType": "derivative"})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=0.004)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    summary = make_arc_tree(args.out, args.scale, args.seed)
    print(
        f"{summary.sessions} sessions of {summary.subjects} subjects, "
        f"{sum(summary.files.values())} images, {summary.image_bytes / 1e9:.2f} GB in {args.out}"
    )
    for column, n in summary.files.items():
        print(f"  {column:28s} {n:5d} files in {summary.rows_with[column]:4d} sessions")


if __name__ == "__main__":
    main()

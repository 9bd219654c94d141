"""A BIDS tree of many small files, for measuring what planning costs per file.

    python benchmarks/many_files.py OUT_DIR --subjects 1000     # 18,002 files

Each subject has 2 sessions of 9 files: a T1w (with its sidecar), a resting-state BOLD run (with
its sidecar and events), a DWI run (with its sidecar, bval and bvec); with
``dataset_description.json`` and ``participants.tsv``, ``subjects`` subjects make
``18 * subjects + 2`` files (250: 4,502; 1,000: 18,002; 10,000: 180,002). Images are real, tiny
NIfTI-1 files (a valid header and 8x8x8 voxels, 4 volumes for BOLD and DWI), so every header
check and the privacy scan read what they would read in a real tree; their size does not matter
here, their number does. Files of one kind have the same bytes: writing 180,000 files takes
seconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

SESSIONS = 2
FILES_PER_SESSION = 9


def _nifti(shape: tuple[int, ...], seed: int) -> bytes:
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape(shape)
    header.set_zooms((2.0,) * 3 + (2.0,) * (len(shape) - 3))
    header["vox_offset"] = 352
    voxels = np.random.default_rng(seed).integers(0, 1000, shape, dtype=np.int16).tobytes()
    return gzip.compress(header.binaryblock + b"\0\0\0\0" + voxels, mtime=0)


def files_for(subjects: int) -> int:
    return subjects * SESSIONS * FILES_PER_SESSION + 2


def make_tree(root: Path, subjects: int) -> int:
    """Write the tree under ``root`` (which must not exist yet); the number of files."""
    t1w, bold, dwi = _nifti((8, 8, 8), 1), _nifti((8, 8, 8, 4), 2), _nifti((8, 8, 8, 4), 3)
    sidecars = {
        "T1w": json.dumps({"EchoTime": 0.003, "RepetitionTime": 2.3, "FlipAngle": 9}),
        "bold": json.dumps({"TaskName": "rest", "RepetitionTime": 2.0, "EchoTime": 0.03}),
        "dwi": json.dumps({"EchoTime": 0.09, "PhaseEncodingDirection": "j-"}),
    }
    events = "onset\tduration\ttrial_type\n0\t30\trest\n30\t30\tblock\n"
    bval, bvec = "0 1000 1000 1000\n", "0 1 0 0\n0 0 1 0\n0 0 0 1\n"
    root.mkdir(parents=True)
    description = {"Name": "many small files", "BIDSVersion": "1.9.0", "License": "CC0"}
    (root / "dataset_description.json").write_text(json.dumps(description))
    rows = ["participant_id\tage\tsex"]
    written = 2
    for s in range(1, subjects + 1):
        sub = f"sub-{s:06d}"
        rows.append(f"{sub}\t{20 + s % 60}\t{'MF'[s % 2]}")
        for k in range(1, SESSIONS + 1):
            ses = f"ses-{k}"
            base = root / sub / ses
            stem = f"{sub}_{ses}"
            for folder in ("anat", "func", "dwi"):
                (base / folder).mkdir(parents=True)
            files = {
                f"anat/{stem}_T1w.nii.gz": t1w,
                f"anat/{stem}_T1w.json": sidecars["T1w"],
                f"func/{stem}_task-rest_bold.nii.gz": bold,
                f"func/{stem}_task-rest_bold.json": sidecars["bold"],
                f"func/{stem}_task-rest_events.tsv": events,
                f"dwi/{stem}_dwi.nii.gz": dwi,
                f"dwi/{stem}_dwi.json": sidecars["dwi"],
                f"dwi/{stem}_dwi.bval": bval,
                f"dwi/{stem}_dwi.bvec": bvec,
            }
            for rel, data in files.items():
                path = base / rel
                if isinstance(data, bytes):
                    path.write_bytes(data)
                else:
                    path.write_text(data)
            written += len(files)
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--subjects", type=int, default=1000)
    args = parser.parse_args()
    print(f"{make_tree(args.out, args.subjects):,} files in {args.out}")


if __name__ == "__main__":
    main()

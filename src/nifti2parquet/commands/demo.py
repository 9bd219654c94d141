"""``demo``: the whole job on real NIfTI images, with no data of your own.

The nibabel wheel ships a few real NIfTI-1 images (``nibabel.testing.data_path``). The demo copies
them into a small subject table under BIDS-like names, inside the output's hidden folder (so nothing
of it is uploaded): a single-image column with one missing image, a multi-run ``List(Nifti())``
column with an empty list, a mask column, and phenotype columns. Then it builds it, verifies it
(every byte, every image decoded as `datasets` would, every source file compared) and says how to
load and push the result.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shlex
import shutil
import sys
from collections.abc import Iterator

from ..card.details import CardDetails
from ..common.errors import InputError, VerifyError
from ..common.programs import program
from ..common.progress import Reporter
from ..proof.report import VerifyOptions
from ..proof.verify import verify
from ..shards.output import STATE, OutputFolder
from ..shards.undo import leave_as_found
from .build import BuildOptions, build, check_output_free

DEMO_SOURCE = f"{STATE}/demo-source"

# (subject, T1w, bold runs, lesion mask, age, group): file names from nibabel's test data
_SUBJECTS = [
    (
        "sub-01",
        "anatomical.nii",
        ["functional.nii", "example4d.nii.gz"],
        "standard.nii.gz",
        "34.5",
        "patient",
    ),
    ("sub-02", "reoriented_anat_moved.nii", [], None, "41", "control"),
    ("sub-03", None, ["example4d.nii.gz"], "resampled_anat_moved.nii", "n/a", "patient"),
]


def make_demo_table(folder: str) -> str:
    """Copy the images under BIDS-like names and write ``participants.csv``; return its path."""
    data_path = nibabel_images()
    os.makedirs(folder, exist_ok=True)
    lines = []
    for subject, t1w, bold, mask, age, group in _SUBJECTS:
        t1w_name = _copy(data_path, t1w, folder, f"{subject}_T1w") if t1w else ""
        runs = [
            _copy(data_path, run, folder, f"{subject}_task-rest_run-{i + 1:02d}_bold")
            for i, run in enumerate(bold)
        ]
        mask_name = _copy(data_path, mask, folder, f"{subject}_desc-lesion_mask") if mask else ""
        lines.append([subject, t1w_name, json.dumps(runs), mask_name, age, group])
    table = os.path.join(folder, "participants.csv")
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subject_id", "t1w", "bold", "lesion_mask", "age", "group"])
        writer.writerows(lines)
    with open(os.path.join(folder, "participants.json"), "w") as f:  # the card's descriptions
        json.dump(_DICTIONARY, f, indent=1)
    return table


_DICTIONARY = {
    "subject_id": "Subject label",
    "t1w": "T1-weighted anatomical image",
    "bold": {"Description": "Resting-state functional runs, in run order"},
    "lesion_mask": "Lesion mask",
    "age": {"Description": "Age at scan", "Units": "years"},
    "group": {"Description": "Group", "Levels": {"patient": "patient", "control": "control"}},
}


def nibabel_images() -> str:
    """The folder of real images inside the nibabel wheel (``nibabel.testing.data_path``,
    found without importing ``nibabel.testing``, which needs pytest)."""
    import nibabel

    folder = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data")
    if not os.path.isfile(os.path.join(folder, "anatomical.nii")):
        raise InputError(
            f"{folder}: nibabel's sample images are not installed; the demo needs them"
        )
    return folder


def _copy(source_dir: str, name: str, folder: str, stem: str) -> str:
    extension = ".nii.gz" if name.endswith(".nii.gz") else ".nii"
    target = stem + extension
    shutil.copyfile(os.path.join(source_dir, name), os.path.join(folder, target))
    return target


def run_demo(output_dir: str, reporter: Reporter | None = None) -> Iterator[str]:
    """Build and verify the demo dataset; yield what to tell the user."""
    output = OutputFolder(output_dir)
    check_output_free(output)  # the demo writes only where build would: never over your files
    with leave_as_found(output) as guard:  # a failed demo leaves nothing it made
        guard.owned = True
        table = _source_table(output)
        result = build(table, output.url, _options(), reporter)
    yield f"source: {table} ({len(_SUBJECTS)} subjects, real NIfTI images from nibabel)"
    yield result.summary()
    report = verify(output.url, VerifyOptions(deep=True, source=""), reporter)
    if not report.ok:
        raise VerifyError(
            f"the demo build failed its verification: {report.summary()}", report.problems
        )
    yield f"verify --deep --source: {report.summary()}"
    yield from _what_next(output.url)


def _source_table(output: OutputFolder) -> str:
    if _fresh(output):
        return make_demo_table(output.full(DEMO_SOURCE))
    return output.full(f"{DEMO_SOURCE}/participants.csv")


def _options() -> BuildOptions:
    card = CardDetails(
        license="other",
        license_name="nibabel test data",
        title="nifti2parquet demo",
        description=(
            "Three subjects built from the real NIfTI images that ship with nibabel, to try "
            "nifti2parquet end to end: a T1w column with one image missing, a list of BOLD runs "
            "(one subject has none), a lesion mask, age and group."
        ),
    )
    return BuildOptions(max_shard_size=1_000_000, row_group_size=500_000, workers=1, card=card)


def _fresh(output: OutputFolder) -> bool:
    return not output.exists(f"{DEMO_SOURCE}/participants.csv")


def _what_next(path: str) -> Iterator[str]:
    """Commands that run as printed: this interpreter's own programs, by their full path when
    its folder is not on PATH (a venv that is not activated)."""
    python = program(os.path.basename(sys.executable), sys.executable)
    tool = program("nifti2parquet")
    hf = program("hf")
    quoted = shlex.quote(path)
    yield ""
    yield f"See the dataset page it would publish: {os.path.join(path, 'README.md')}"
    if importlib.util.find_spec("datasets") is None:
        yield (
            "Install `datasets` to load it (or, in a clone: "
            f"{python} -m pip install '.[datasets]'):"
        )
        yield f"  {python} -m pip install 'datasets>=4.4'"
    yield "Load it:"
    yield (
        f'  {python} -c "from datasets import load_dataset; ds = load_dataset({path!r}, '
        f"split='train'); print(ds); print(ds[0]['t1w'].shape)\""
    )
    yield "Check it byte for byte:"
    yield f"  {tool} verify {quoted}"
    yield f"Publish it (needs a Hugging Face token: {hf} auth login, or set HF_TOKEN):"
    yield f"  {tool} push {quoted} YOUR-NAME/nifti2parquet-demo"

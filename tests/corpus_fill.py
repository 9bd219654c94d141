"""Small valid NIfTI images for the corpus's placeholder files, shaped as their names imply.

The public BIDS examples ship their NIfTI files as placeholders: mostly empty files, some a stray
newline or a saved web page, some a header whose voxels were cut off. ``fill_dataset`` replaces
each placeholder with a real image of a few KB; a file that already holds a complete NIfTI image
(header and every voxel) is left as it is. The rules, chosen so that the BIDS validator finds in
the filled dataset no error that the placeholders did not already have:

- **Dimensions.** 4D for ``bold``, ``cbv``, ``phase``, ``noRF`` (func), ``dwi``, ``asl``, ``PDT2``
  and MRS data (``svs``, ``mrsref``, ``mrsi``: spectral points on the 4th axis); 3D for everything
  else (anatomicals, maps, field maps, ``sbref``, ``m0scan``, masks, segmentations). ``epi`` is 4D
  when a ``.bval``/``.bvec`` applies to it, ``pet`` when its sidecar lists more than one frame, and
  a placeholder that kept a 4D header (an atlas's ``probseg``) keeps its number of volumes.
- **Number of volumes**, first that applies: the values in the ``.bval`` that applies to the
  file (BIDS inheritance: same folder or a parent, entities a subset); the rows of the
  ``aslcontext.tsv``; the length of a per-volume sidecar array (``FrameTimesStart`` or
  ``FrameDuration`` for PET, ``PostLabelingDelay``, ``LabelingDuration``... for ASL, ``EchoTime``
  for PDT2; a single value makes it 3D); for BOLD with events, enough volumes that the last onset
  falls in the second half of the run (at most ``MAX_VOLUMES``); the kept header's count; else
  ``DEFAULT_VOLUMES``.
- **Grid.** 3D images are 16 x 16 x 12 voxels, a 4D volume 8 x 8 x 6 (4 x 4 or 2 x 2 in-plane for
  long series, to stay a few KB); the slice axis has as many slices as ``SliceTiming`` has values;
  an MRS image takes ``MatrixSize``. Voxels are 2 mm (or the kept header's ``pixdim``).
- **Header.** Units mm and s; ``pixdim[4]`` is the sidecar's ``RepetitionTime`` (1 s without it;
  the dwell time ``1/SpectralWidth`` for MRS); qform and sform code 1 (scanner) with an RAS+
  affine whose axes are flipped or swapped so that ``PhaseEncodingDirection`` agrees with a
  ``dir-AP``-style entity. A placeholder whose header survived keeps it (affine, pixdim, data
  type...); only its grid shrinks, unless extensions define it (CIFTI's grayordinates): then the
  header and extensions are kept whole and zero voxels appended.
- **Voxels.** An ellipsoid "head" with a gradient (int16), varying a little from volume to volume;
  integer labels for ``dseg`` (0-3) and masks (0/1, uint8); values in [0, 1] for ``probseg``
  (float32); a decaying complex signal for MRS (complex64).
- **Bytes.** ``.nii`` uncompressed, ``.nii.gz`` gzipped with mtime 0 and no file name, so a filled
  corpus is the same bytes every time.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import nibabel as nib
import numpy as np

NIFTI_SUFFIXES = (".nii", ".nii.gz")
DEFAULT_VOLUMES = 4
MAX_VOLUMES = 600
GRID_3D = (16, 16, 12)
GRID_4D = (8, 8, 6)
VOXEL_BUDGET = 24_000  # voxels in a 4D image before its in-plane grid shrinks
FOUR_D = {"bold", "cbv", "phase", "noRF", "dwi", "asl", "PDT2"}
MRS = {"svs", "mrsref", "mrsi"}
LABELS = {"dseg", "mask", "defacemask"}
# sidecar arrays with one value per volume, per suffix (the validator checks their length)
PER_VOLUME_ARRAYS = {
    "pet": ("FrameTimesStart", "FrameDuration"),
    "asl": ("PostLabelingDelay", "LabelingDuration", "FlipAngle", "RepetitionTimePreparation"),
    "dwi": ("BigDelta", "SmallDelta", "RepetitionTimePreparation"),
    "PDT2": ("EchoTime",),
}
AXIS_LETTERS = ("RL", "AP", "SI")  # world axes of RAS+: the letter its positive end is named


def is_nifti(name: str) -> bool:
    return name.endswith(NIFTI_SUFFIXES)


@dataclass(frozen=True)
class Filled:
    """What was written in place of one placeholder."""

    path: str  # relative to the dataset folder
    was: str  # "empty", "not NIfTI" or "header only"
    shape: tuple[int, ...]
    dtype: str
    size: int


# what a placeholder holds ----------------------------------------------------------------------
def placeholder_kind(data: bytes, gz: bool) -> str | None:
    """Why ``data`` is a placeholder ("empty", "not NIfTI", "header only"), or None for a complete
    NIfTI image (header and every voxel), which is kept as it is."""
    if not data:
        return "empty"
    raw = _inflate(data) if gz else data
    header = _header(raw)
    if header is None:
        return "not NIfTI"
    needed = int(header["vox_offset"]) + _data_bytes(header)
    return None if len(raw) >= needed else "header only"


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    except zlib.error:
        return b""


def _header(raw: bytes) -> nib.Nifti1Header | nib.Nifti2Header | None:
    for kind in (nib.Nifti1Header, nib.Nifti2Header):
        size = kind.sizeof_hdr
        if len(raw) < size:
            continue
        try:
            header = kind(raw[:size], check=False)
            if header["magic"].item() in (b"n+1", b"ni1", b"n+2", b"ni2"):
                if int(header["sizeof_hdr"]) == size:
                    return header
                swapped = kind(raw[:size], endianness="swapped", check=False)
                if int(swapped["sizeof_hdr"]) == size:
                    return swapped
        except Exception:
            continue
    return None


def _data_bytes(header: nib.Nifti1Header | nib.Nifti2Header) -> int:
    dims = [int(d) for d in header["dim"][1 : int(header["dim"][0]) + 1]]
    return math.prod(max(d, 1) for d in dims) * int(header["bitpix"]) // 8


# BIDS names and inheritance ----------------------------------------------------------------------
def parse_name(name: str) -> tuple[dict[str, str], str, str]:
    """Entities, suffix and extension of a BIDS file name."""
    stem, dot, rest = name.partition(".")
    parts = stem.split("_")
    suffix = parts[-1] if "-" not in parts[-1] else ""
    entities = dict(p.split("-", 1) for p in parts if "-" in p)
    return entities, suffix, dot + rest


class Dataset:
    """The files of one dataset, for BIDS inheritance look-ups (sidecars, bval, aslcontext...)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.listing: dict[Path, list[str]] = {}
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            self.listing[Path(folder)] = sorted(files)

    def candidates(self, path: Path, suffix: str, extension: str) -> list[Path]:
        """Files of ``suffix``+``extension`` that apply to ``path``, least specific first."""
        entities, _, _ = parse_name(path.name)
        found = []
        folder = path.parent
        depth = 0
        while True:
            for name in self.listing.get(folder, []):
                other, other_suffix, other_ext = parse_name(name)
                applies = all(entities.get(k) == v for k, v in other.items())
                if other_suffix == suffix and other_ext == extension and applies:
                    found.append((-depth, len(other), folder / name))
            if folder == self.root or (folder / "dataset_description.json").is_file():
                break
            folder, depth = folder.parent, depth + 1
        return [p for _, _, p in sorted(found)]

    def nearest(self, path: Path, suffix: str, extension: str) -> Path | None:
        found = self.candidates(path, suffix, extension)
        return found[-1] if found else None

    def sidecar(self, path: Path) -> dict:
        """The metadata that applies to ``path``, merged from every sidecar (BIDS inheritance)."""
        _, suffix, _ = parse_name(path.name)
        merged: dict = {}
        for json_path in self.candidates(path, suffix, ".json"):
            value = _read_json(json_path)
            if isinstance(value, dict):
                merged.update(value)
        return merged


@cache
def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _lines(path: Path | None) -> list[str] | None:
    """The file's non-blank lines; None when there is no file or it cannot be read as text."""
    if path is None:
        return None
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return None


def _count_values(path: Path | None) -> int | None:
    lines = _lines(path)
    return len(lines[0].split()) if lines else None


def _tsv_rows(path: Path | None) -> int | None:
    lines = _lines(path)
    return len(lines) - 1 if lines and len(lines) > 1 else None


def _max_onset(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        lines = path.read_text().splitlines()
        column = lines[0].split("\t").index("onset")
        onsets = [float(x.split("\t")[column]) for x in lines[1:] if x.strip()]
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        return None
    finite = [x for x in onsets if math.isfinite(x)]
    return max(finite) if finite else None


# the image a name implies ----------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Everything that decides a filled image's bytes (equal plans give equal bytes)."""

    shape: tuple[int, ...]
    kind: str  # "image", "labels", "mask", "probability", "spectrum"
    zooms: tuple[float, ...]
    axes: tuple[tuple[int, int], ...]  # per voxel axis: (world axis, sign)
    gz: bool
    header: bytes = b""  # a surviving placeholder header, kept


def plan_image(dataset: Dataset, path: Path, old_header: object | None) -> Plan:
    entities, suffix, extension = parse_name(path.name)
    datatype = path.parent.name
    meta = dataset.sidecar(path)
    volumes = _volumes(dataset, path, suffix, datatype, meta, old_header)
    if suffix in MRS or datatype == "mrs":
        grid = _mrs_grid(meta)
    elif volumes is not None:
        grid = _grid_4d(meta, volumes)
    else:
        grid = _slices(meta, GRID_3D)
    shape = (*grid, volumes) if volumes is not None else grid
    kind = _kind(suffix, datatype)
    step = _time_step(meta, kind)
    zooms = (2.0, 2.0, 2.0, step) if volumes is not None else (2.0, 2.0, 2.0)
    return Plan(
        shape=shape,
        kind=kind,
        zooms=zooms,
        axes=_axes(entities.get("dir", ""), meta.get("PhaseEncodingDirection")),
        gz=extension.endswith(".gz"),
        header=bytes(old_header.binaryblock) if old_header is not None else b"",
    )


def _volumes(
    dataset: Dataset, path: Path, suffix: str, datatype: str, meta: dict, old_header: object
) -> int | None:
    """The 4th dimension, or None for a 3D image."""
    if suffix in MRS or datatype == "mrs":
        points = meta.get("NumberOfSpectralPoints")
        return points if isinstance(points, int) and 0 < points <= 4096 else 64
    if suffix in ("dwi", "epi"):
        count = _count_values(dataset.nearest(path, suffix, ".bval"))
        if count and (suffix == "dwi" or dataset.nearest(path, suffix, ".bvec") is not None):
            return count
    if suffix == "asl":
        rows = _tsv_rows(dataset.nearest(path, "aslcontext", ".tsv"))
        if rows:
            return rows
    for key in PER_VOLUME_ARRAYS.get(suffix, ()):
        value = meta.get(key)
        if isinstance(value, list) and value:
            return len(value) if len(value) > 1 else None
    if suffix == "PDT2":
        return 2
    if suffix == "bold":
        return _bold_volumes(dataset, path, meta, old_header)
    if suffix in FOUR_D and datatype != "anat":
        return DEFAULT_VOLUMES
    kept = _kept_volumes(old_header)
    if kept and suffix not in ("T1w", "magnitude1", "magnitude2", "pet"):
        return kept
    return None


def _bold_volumes(dataset: Dataset, path: Path, meta: dict, old_header: object) -> int:
    """Enough volumes that the last event falls in the run's second half (the validator's hint)."""
    onset = _max_onset(dataset.nearest(path, "events", ".tsv"))
    tr = meta.get("RepetitionTime")
    if onset and isinstance(tr, (int, float)) and tr > 0 and onset / tr >= 1:
        return min(math.floor(onset / tr) + 1, MAX_VOLUMES)
    return _kept_volumes(old_header) or DEFAULT_VOLUMES


def _kept_volumes(old_header: object) -> int | None:
    if old_header is None:
        return None
    dim = old_header["dim"]
    return int(dim[4]) if int(dim[0]) >= 4 and int(dim[4]) > 1 else None


def _slices(meta: dict, grid: tuple[int, int, int]) -> tuple[int, int, int]:
    """``grid`` with as many slices as ``SliceTiming`` lists, on the slice-encoding axis."""
    timing = meta.get("SliceTiming")
    if not isinstance(timing, list) or not timing:
        return grid
    direction = meta.get("SliceEncodingDirection") or "k"
    axis = "ijk".index(direction[0]) if direction[0] in "ijk" else 2
    out = list(grid)
    out[axis] = len(timing)
    return (out[0], out[1], out[2])


def _grid_4d(meta: dict, volumes: int) -> tuple[int, int, int]:
    for side in (8, 4, 2):
        grid = _slices(meta, (side, side, GRID_4D[2]))
        if math.prod(grid) * volumes <= VOXEL_BUDGET:
            break
    return grid


def _mrs_grid(meta: dict) -> tuple[int, int, int]:
    size = meta.get("MatrixSize")
    if isinstance(size, list) and len(size) >= 3 and all(isinstance(v, int) for v in size[:3]):
        return (size[0], size[1], size[2])
    return (1, 1, 1)


def _kind(suffix: str, datatype: str) -> str:
    if suffix in MRS or datatype == "mrs":
        return "spectrum"
    if suffix == "dseg":
        return "labels"
    if suffix in LABELS:
        return "mask"
    if suffix == "probseg":
        return "probability"
    return "image"


def _time_step(meta: dict, kind: str) -> float:
    if kind == "spectrum":
        width = meta.get("SpectralWidth")
        return 1.0 / width if isinstance(width, (int, float)) and width > 0 else 0.0005
    tr = meta.get("RepetitionTime")
    return float(tr) if isinstance(tr, (int, float)) and tr > 0 else 1.0


def _axes(direction: str, encoding: object) -> tuple[tuple[int, int], ...]:
    """Voxel axis -> (world axis, sign): RAS+, changed only so that the phase-encoding axis points
    to the end the ``dir`` entity names (as the validator's consistency check reads them)."""
    axes = [(0, 1), (1, 1), (2, 1)]
    if len(direction) != 2 or not isinstance(encoding, str) or encoding[:1] not in ("i", "j", "k"):
        return tuple(axes)
    letter = direction[2 - len(encoding)] if len(encoding) in (1, 2) else ""
    world = next((w for w, pair in enumerate(AXIS_LETTERS) if letter in pair), None)
    if world is None:
        return tuple(axes)
    voxel = "ijk".index(encoding[0])
    sign = 1 if AXIS_LETTERS[world][0] == letter else -1
    other = next(i for i, (w, _) in enumerate(axes) if w == world)
    axes[other] = axes[voxel]
    axes[voxel] = (world, sign)
    return tuple(axes)


# the bytes ---------------------------------------------------------------------------------------
@cache
def image_bytes(plan: Plan) -> tuple[bytes, str]:
    """The file's bytes for ``plan`` and its data type (cached: many placeholders share a plan)."""
    data = _voxels(plan.shape, plan.kind)
    image = _with_kept_header(plan, data) if plan.header else _new_image(plan, data)
    raw = image.to_bytes()
    data_type = str(image.get_data_dtype())
    return (gzip.compress(raw, compresslevel=6, mtime=0) if plan.gz else raw), data_type


def _new_image(plan: Plan, data: np.ndarray) -> nib.Nifti1Image:
    rotation = np.zeros((3, 3))
    for voxel, (world, sign) in enumerate(plan.axes):
        rotation[world, voxel] = sign * plan.zooms[voxel]
    affine = np.eye(4)
    affine[:3, :3] = rotation
    affine[:3, 3] = -rotation @ ((np.array(plan.shape[:3]) - 1) / 2)  # centred on the origin
    image = nib.Nifti1Image(data, affine)
    image.header.set_data_dtype(data.dtype)
    image.header.set_qform(affine, code=1)
    image.header.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_zooms(plan.zooms)
    return image


def _with_kept_header(plan: Plan, data: np.ndarray) -> nib.Nifti1Image:
    header_class = (
        nib.Nifti2Header if len(plan.header) == nib.Nifti2Header.sizeof_hdr else (nib.Nifti1Header)
    )
    header = header_class(plan.header, check=False)
    image_class = nib.Nifti2Image if header_class is nib.Nifti2Header else nib.Nifti1Image
    dtype = header.get_data_dtype()
    keeps_type = dtype.kind in "iuf" if plan.kind == "image" else dtype.kind in "iu"
    if plan.kind != "spectrum" and keeps_type:
        data = data.astype(dtype)
    image = image_class(data, None, header=header)
    image.header.set_data_dtype(data.dtype)
    zooms = list(header.get_zooms()[: len(plan.shape)])
    zooms += [plan.zooms[i] for i in range(len(zooms), len(plan.shape))]
    image.header.set_zooms([z if z > 0 else 1.0 for z in zooms])
    space, time = image.header.get_xyzt_units()
    if space == "unknown" or (len(plan.shape) > 3 and time == "unknown"):
        image.header.set_xyzt_units(
            "mm" if space == "unknown" else space, "sec" if time == "unknown" else time
        )
    image.header["vox_offset"] = 0  # recomputed on writing (extensions are not kept)
    return image


def _voxels(shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind == "spectrum":
        points = shape[3]
        t = np.arange(points)
        fid = np.exp(-t / max(points / 4, 1)) * np.exp(2j * np.pi * 0.05 * t)
        return np.broadcast_to(fid, shape).astype(np.complex64)
    grids = np.meshgrid(
        *[np.linspace(-1, 1, n) if n > 1 else np.zeros(1) for n in shape[:3]], indexing="ij"
    )
    radius = np.sqrt(sum(g**2 for g in grids) / 0.8)
    head = radius < 1
    if kind == "mask":
        volume = head.astype(np.uint8)
    elif kind == "labels":
        volume = (head * (1 + (grids[0] > 0) + (grids[2] > 0.3))).astype(np.uint8)
    elif kind == "probability":
        volume = np.clip(1 - radius, 0, 1).astype(np.float32)
    else:
        volume = (head * (600 + 300 * grids[1] + 100 * grids[2])).astype(np.int16)
    if len(shape) == 3:
        return volume
    steps = np.arange(shape[3])
    if kind == "image":
        wobble = (10 * np.sin(steps / 3)).astype(np.int16)
        return volume[..., None] + (head[..., None] * wobble).astype(np.int16)
    return np.repeat(volume[..., None], shape[3], axis=3)


# a dataset -------------------------------------------------------------------------------------
def placeholders(root: Path) -> Iterator[tuple[Path, str, bytes]]:
    """Every placeholder under ``root``: its path, why it is one, and its bytes (inflated)."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if not is_nifti(name) or path.is_symlink():
                continue
            data = path.read_bytes()
            gz = name.endswith(".gz")
            kind = placeholder_kind(data, gz)
            if kind is not None:
                yield path, kind, (_inflate(data) if gz else data)


def fill_dataset(root: Path) -> list[Filled]:
    """Fill every placeholder under the dataset folder ``root``; what was written."""
    dataset = Dataset(root)
    filled = []
    for path, was, raw in list(placeholders(root)):
        header = _header(raw) if was == "header only" else None
        if header is not None and _has_extensions(header):
            data, dtype, shape = _completed(header, raw, path.name.endswith(".gz"))
        else:
            plan = plan_image(dataset, path, header)
            (data, dtype), shape = image_bytes(plan), plan.shape
        path.write_bytes(data)
        filled.append(Filled(path.relative_to(root).as_posix(), was, shape, dtype, len(data)))
    return filled


def _has_extensions(header: nib.Nifti1Header | nib.Nifti2Header) -> bool:
    return int(header["vox_offset"]) > header.sizeof_hdr + 4


def _completed(header: nib.Nifti1Header, raw: bytes, gz: bool) -> tuple[bytes, str, tuple]:
    """A header-only file whose extensions define its grid (CIFTI: the grayordinates), completed
    with zero voxels after its own header and extensions: its grid cannot shrink."""
    offset = int(header["vox_offset"])
    data = raw[:offset].ljust(offset, b"\0") + bytes(_data_bytes(header))
    shape = tuple(int(d) for d in header["dim"][1 : int(header["dim"][0]) + 1])
    out = gzip.compress(data, compresslevel=6, mtime=0) if gz else data
    return out, str(header.get_data_dtype()), shape

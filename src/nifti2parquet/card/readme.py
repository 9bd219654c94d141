"""The README dataset card: the YAML header `datasets` reads, and a body a researcher wants to read.

The header is what ``datasets`` itself writes on ``push_to_hub`` (``dataset_info`` with features,
splits, sizes; ``configs`` with ``data_files``) plus license, tags and size category. With it,
``load_dataset(OUTPUT_DIR)`` and ``load_dataset(REPO_ID)`` give ``Nifti()`` / ``List(Nifti())``
features. The card is a pure function of the split manifests and the repo id, so it is
deterministic and ``push`` can re-render it with the real repo id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from ..common.files_config import FILE_COLUMNS, FILES_CONFIG
from ..common.rows import DatasetInfo
from ..common.schema import features_dict, features_yaml, type_label
from ..common.units import format_size
from ..shards.manifest import Manifest
from .left_out import has_left_out, left_out_section
from .plain_text import as_markdown
from .privacy_section import privacy_section
from .segmentation_section import TAGS, segmentation_section, segmentation_yaml
from .usage import files_section, load_snippets

README = "README.md"
PLACEHOLDER_REPO = "USER/DATASET"

_LICENSES = [
    (r"^(cc0|cc-?0|cc0[ -]?1\.0|public domain dedication|creative commons zero)", "cc0-1.0"),
    (r"^(pddl|odc[ -]?pddl|public domain dedication and license)", "pddl"),
    (r"^cc[ -]?by[ -]?nc[ -]?sa[ -]?4", "cc-by-nc-sa-4.0"),
    (r"^cc[ -]?by[ -]?nc[ -]?nd[ -]?4", "cc-by-nc-nd-4.0"),
    (r"^cc[ -]?by[ -]?nc[ -]?4", "cc-by-nc-4.0"),
    (r"^cc[ -]?by[ -]?sa[ -]?4", "cc-by-sa-4.0"),
    (r"^cc[ -]?by[ -]?nd[ -]?4", "cc-by-nd-4.0"),
    (r"^cc[ -]?by[ -]?4", "cc-by-4.0"),
    (r"^cc[ -]?by[ -]?3", "cc-by-3.0"),
    (r"^(odbl|open database license)", "odbl"),
    (r"^odc[ -]?by", "odc-by"),
    (r"^mit\b", "mit"),
    (r"^apache[ -]?(license[ -]?)?2", "apache-2.0"),
    (r"^pd$|^public domain$", "cc0-1.0"),
]
_SIZE_CATEGORIES = [
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
]


def hub_license(text: str) -> str:
    """The Hub's license identifier for a license as people write it (``CC0`` → ``cc0-1.0``)."""
    cleaned = text.strip().lower().replace("_", "-")
    if not cleaned:
        return "unknown"
    for pattern, identifier in _LICENSES:
        if re.search(pattern, cleaned):
            return identifier
    return "other"


def license_slug(name: str) -> str:
    """``My Lab's Data License 1.0`` → ``my-lab-s-data-license-1.0``: how the Hub spells a
    ``license_name``."""
    return re.sub(r"[^0-9a-z.]+", "-", name.strip().lower()).strip("-")


def size_category(num_rows: int) -> str:
    return next((name for limit, name in _SIZE_CATEGORIES if num_rows < limit), "n>1B")


def render_card(
    manifests: Sequence[Manifest], repo_id: str | None = None, license: str = "", prose: str = ""
) -> str:
    """The whole README.md for the splits in ``manifests`` (all sharing one features schema);
    ``prose``: the user's own words (``CARD.md``), placed under the title and description."""
    body = _body(manifests, repo_id, prose)
    return "---\n" + _yaml_header(manifests, license) + "---\n\n" + body


def _yaml_header(manifests: Sequence[Manifest], license: str) -> str:
    first = manifests[0]
    info = first.info
    written = license or info.license
    header: dict[str, Any] = {"license": hub_license(written)}
    if header["license"] == "other":  # the Hub asks for a name when it has no identifier
        header["license_name"] = license_slug(info.license_name or written)
    if info.title:
        header["pretty_name"] = info.title
    tags = ["nifti", "medical", "neuroimaging", "mri"] + (["bids"] if info.bids_version else [])
    header["tags"] = TAGS if info.segmentation else tags
    header.update(segmentation_yaml(info.segmentation) if info.segmentation else {})
    header["size_categories"] = [size_category(sum(m.num_rows for m in manifests))]
    images = {
        "features": features_yaml(first.features),
        "splits": [
            {"name": m.split, "num_bytes": m.num_bytes, "num_examples": m.num_rows}
            for m in manifests
        ],
        "download_size": sum(m.download_size for m in manifests),
        "dataset_size": sum(m.num_bytes for m in manifests),
    }
    configs = [
        {
            "config_name": "default",
            "data_files": [{"split": m.split, "path": f"data/{m.split}-*"} for m in manifests],
        }
    ]
    with_files = [m for m in manifests if m.files]
    if not with_files:
        header["dataset_info"] = images
    else:  # two configs: the image rows stay what load_dataset(repo) gives
        header["dataset_info"] = [{"config_name": "default", **images}, _files_info(with_files)]
        configs[0]["default"] = True
        globs = [{"split": m.split, "path": f"{FILES_CONFIG}/{m.split}-*"} for m in with_files]
        configs.append({"config_name": FILES_CONFIG, "data_files": globs})
    header["configs"] = configs
    return yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100)


def _files_info(manifests: Sequence[Manifest]) -> dict[str, Any]:
    """``dataset_info`` of the ``files`` config (see ``sources/dataset_files.py``)."""
    files = [m.files for m in manifests if m.files]
    return {
        "config_name": FILES_CONFIG,
        "features": features_yaml(features_dict(FILE_COLUMNS)),
        "splits": [
            {
                "name": m.split,
                "num_bytes": sum(s.num_bytes for s in f.shards),
                "num_examples": f.num_files,
            }
            for m, f in zip(manifests, files)
        ],
        "download_size": sum(s.size for f in files for s in f.shards),
        "dataset_size": sum(s.num_bytes for f in files for s in f.shards),
    }


def _body(manifests: Sequence[Manifest], repo_id: str | None, prose: str) -> str:
    first = manifests[0]
    info = first.info
    repo = repo_id or PLACEHOLDER_REPO
    parts = [f"# {info.title or _default_title(repo_id)}\n"]
    if info.description:
        parts.append(as_markdown(info.description, info.description_format) + "\n")
    if prose.strip():
        parts.append(prose.strip() + "\n")
    parts.append(_contents(manifests))
    parts += [_previews_section(manifests)] if any(m.previews for m in manifests) else []
    parts += [_bids_section(manifests)] if info.bids_version or info.image_columns else []
    parts += [segmentation_section(manifests, repo)] if info.segmentation else []
    parts.append(_schema_table(first))
    parts.append(load_snippets(first, repo))
    parts += [files_section(manifests, repo)] if any(m.files for m in manifests) else []
    parts += [left_out_section(manifests)] if has_left_out(manifests) else []
    parts += [_citation(info)] if _has_citation(info) else []
    parts.append(privacy_section(manifests))
    parts.append(_provenance(manifests))
    return "\n".join(parts)


def _default_title(repo_id: str | None) -> str:
    return repo_id.split("/")[-1] if repo_id else "NIfTI dataset"


def _contents(manifests: Sequence[Manifest]) -> str:
    rows = [
        f"| {m.split} | {m.num_rows:,} | {m.num_images:,} | {format_size(m.image_bytes)} | "
        f"{len(m.shards):,} | {format_size(m.download_size)} |"
        for m in manifests
    ]
    columns = {}
    for m in manifests:
        for name, n in m.images_per_column.items():
            columns[name] = columns.get(name, 0) + n
    per_column = "\n".join(f"| `{name}` | {n:,} |" for name, n in columns.items())
    return (
        "## What is in it\n\n"
        "| split | rows | images | image bytes | shards | download size |\n"
        "|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
        "Images per column:\n\n| column | images |\n|---|---:|\n" + per_column + "\n"
    )


def _schema_table(manifest: Manifest) -> str:
    lines = ["## Schema\n", "| column | type | description |", "|---|---|---|"]
    for column in manifest.columns:
        feature = manifest.features[column.name]
        description = column.description or _IMAGE_WORDS.get(column.content, "")
        lines.append(f"| `{column.name}` | `{type_label(feature)}` | {description} |")
    blanked = " (but the header text blanked on purpose: see Privacy checks)"
    return (
        "\n".join(lines) + "\n\nEach image is stored as the original file's exact bytes "
        f"(`.nii` or `.nii.gz`){blanked if manifest.privacy.blanked_images else ''} "
        "with its path in the source dataset in `path`.\n"
    )


_IMAGE_WORDS = {"image": "A NIfTI image", "image_list": "A list of NIfTI images"}


_LAYOUT_WORDS = {"session": "session", "subject": "subject", "file": "image file"}


def _previews_section(manifests: Sequence[Manifest]) -> str:
    from .previews import previews_section  # here: a card without previews needs no numpy

    return previews_section(manifests)


def _bids_section(manifests: Sequence[Manifest]) -> str:
    """Where the data came from: BIDS version, row layout, and what each image column holds."""
    info = manifests[0].info
    extra = dict(info.extra)
    version = f" (BIDS version {info.bids_version})" if info.bids_version else ""
    lines = ["## BIDS\n", f"Built from a BIDS dataset{version}."]
    layout = info.layout
    if layout:
        lines[-1] += f" One row per {_LAYOUT_WORDS.get(layout, layout)} (`--rows {layout}`); "
        lines[-1] += _LAYOUT_COLUMNS.get(layout, _LAYOUT_COLUMNS["session"])
    lines.append("")
    kinds = info.image_columns
    if kinds:
        first = "`kind`" if layout == "file" else "column"
        split = any(k.entities for k in kinds)  # some kinds are split by what their images are
        lines += [
            f"| {first} | files | rows with it | datatype | suffix | task | pipeline |"
            + (" entities |" if split else ""),
            "|---|---:|---:|---|---|---|---|" + ("---|" if split else ""),
        ]
        for k in kinds:
            list_note = " (list)" if k.is_list and layout != "file" else ""
            files, rows = _column_counts(manifests, k.column)
            lines.append(
                f"| `{k.column}`{list_note} | {files:,} | {rows:,} | "
                f"{', '.join(d for d in k.datatypes if d)} | {k.suffix} | {k.task} | "
                f"{k.pipeline} |" + (f" {', '.join(k.entities)} |" if split else "")
            )
        lines.append("")
    for key, label in (
        ("DatasetType", "Dataset type"),
        ("GeneratedBy", "Generated by"),
        ("Funding", "Funding"),
        ("EthicsApprovals", "Ethics approvals"),
    ):
        if extra.get(key):
            lines += [f"{label}: {extra[key]}", ""]
    return "\n".join(lines)


_LAYOUT_COLUMNS = {
    "session": (
        "each image column `K` has a `K_info` column with the image's path, BIDS entities, "
        "merged sidecar JSON and header summary."
    ),
    "file": (
        "the image is in `image`, and the columns beside it give its path, BIDS entities, "
        "merged sidecar JSON and header summary; `kind` names the image column the file has in "
        "the session and subject layouts."
    ),
}


def _column_counts(manifests: Sequence[Manifest], column: str) -> tuple[int, int]:
    """Images and rows with an image in a column, as written (after any file was left out); in
    the file layout, images of that kind (one per row)."""
    if any(m.images_per_kind for m in manifests):
        files = sum(m.images_per_kind.get(column, 0) for m in manifests)
        return files, files
    files = sum(m.images_per_column.get(column, 0) for m in manifests)
    rows = sum(m.rows_per_column.get(column, 0) for m in manifests)
    return files, rows


def _has_citation(info: DatasetInfo) -> bool:
    return any((info.citation, info.doi, info.acknowledgements, info.references, info.authors))


def _citation(info: DatasetInfo) -> str:
    lines = ["## Citation\n"]
    if info.authors:  # "Wakeman, DG; Henson, RN": names that hold a comma are apart by ";"
        apart = "; " if any("," in a for a in info.authors) else ", "
        lines.append("Authors: " + apart.join(info.authors) + "\n")
    if info.doi:
        lines.append(f"DOI: {info.doi}\n")
    citation = info.citation.strip()
    if citation and not _is_bibtex(citation):
        lines.append("How to cite:\n\n" + citation + "\n")
    if info.acknowledgements:
        lines.append("Acknowledgements: " + info.acknowledgements.strip() + "\n")
    if info.references:
        lines.append("References:\n\n" + "\n".join(f"- {r}" for r in info.references) + "\n")
    if _is_bibtex(citation):
        lines.append("BibTeX:\n\n```bibtex\n" + citation + "\n```\n")
    elif info.title and (info.doi or info.authors):
        lines.append("BibTeX:\n\n```bibtex\n" + _bibtex(info) + "\n```\n")
        if info.year and info.year_source:
            lines.append(f"The year is the dataset's own, from {info.year_source}.\n")
    return "\n".join(lines)


def _is_bibtex(text: str) -> bool:
    return bool(re.match(r"@\w+\s*\{", text))


def _bibtex(info: DatasetInfo) -> str:
    doi = re.sub(r"^(doi:|https?://(dx\.)?doi\.org/)", "", info.doi, flags=re.I)
    key = re.sub(r"[^0-9a-z]+", "_", (doi or info.title).lower()).strip("_") or "dataset"
    fields = [("title", "{" + info.title + "}")]
    if info.authors:
        fields.append(("author", " and ".join(info.authors)))
    if info.year:
        fields.append(("year", info.year))
    if doi:
        fields += [("doi", doi), ("url", f"https://doi.org/{doi}")]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}"


def _provenance(manifests: Sequence[Manifest]) -> str:
    tools = manifests[0].tools
    limit = manifests[0].settings.max_shard_size
    over = sum(1 for m in manifests for s in m.shards if s.size > limit)
    shards = f"every shard is at most {format_size(limit)} on disk" + (
        f" but {over} that hold a single larger row" if over else ""
    )
    return (
        "## How it was made\n\n"
        f"Built with nifti2parquet {tools.get('nifti2parquet', '')} "
        f"(pyarrow {tools.get('pyarrow', '')}): {shards}, row groups hold about "
        f"{format_size(manifests[0].settings.row_group_size)}, and every image's sha256 "
        f"is recorded and checked.\n"
    )

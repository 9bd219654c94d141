"""A README as the card shows it: Markdown as Markdown, plain text line for line.

Most BIDS READMEs are plain text (``README`` with no extension, or ``README.txt``). Pasted into a
Markdown page, plain text changes meaning: an aligned table collapses into a paragraph, indented
citations become code blocks, a line of dashes under ``func/`` turns it into a heading. So a
plain-text README is converted, not pasted: every line stays a line (a hard line break ends it),
Markdown's special characters are escaped, leading spaces are kept as non-breaking spaces, and a
block of aligned columns (a table drawn with spaces or tabs) stays preformatted, so its columns
still line up. A README named ``.md`` is Markdown; one with no extension is Markdown only when it
reads like Markdown (ATX headings, links, fenced code).
"""

from __future__ import annotations

import re

MARKDOWN = "markdown"
TEXT = "text"

_MARKDOWN_SIGNS = (
    re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),  # an inline link
    re.compile(r"^(```|~~~)", re.M),  # fenced code
    re.compile(r"^\s*[-*]\s+\[[ xX]\]\s", re.M),  # a task list
)
_HEADING = re.compile(r"^#{1,6}\s+\S", re.M)  # ATX headings: two of them (one may be a comment)
# Columns apart: three spaces or a tab inside a line (two spaces after a full stop are prose).
_ALIGNED = re.compile(r"\S(?: {3,}|\t+)\S")
_ESCAPED = re.compile(r"([\\`*\[\]<|~&])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# What opens a block at the start of a line: headings, quotes, list items, setext underlines.
_BLOCK_START = re.compile(r"^([-+=#>])")
_NUMBERED = re.compile(r"^(\d+)([.)])")


def format_of(name: str) -> str:
    """``markdown`` or ``text`` from a file name's extension; "" when the name does not say."""
    lowered = name.lower()
    if lowered.endswith((".md", ".markdown")):
        return MARKDOWN
    if lowered.endswith((".txt", ".rst")):
        return TEXT
    return ""


def looks_like_markdown(text: str) -> bool:
    """Signs no plain-text README has: ``[links](url)``, fenced code, ``# headings`` (two)."""
    return any(sign.search(text) for sign in _MARKDOWN_SIGNS) or len(_HEADING.findall(text)) > 1


def as_markdown(text: str, text_format: str = "") -> str:
    """``text`` for a Markdown page: as it is when it is Markdown (``text_format``, or its look
    when that is ""), else converted line for line (see the module docstring)."""
    text = text.strip("\n")
    if (text_format or (MARKDOWN if looks_like_markdown(text) else TEXT)) == MARKDOWN:
        return text.strip()
    return plain_text_markdown(text)


def plain_text_markdown(text: str) -> str:
    """Plain text as Markdown that renders with every line intact."""
    lines = [line.rstrip() for line in text.expandtabs(8).splitlines()]
    raw_lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for kind, block in _blocks(lines, raw_lines):
        if kind == "blank":
            out.append("")
        elif kind == "aligned":
            fence = "~~~~" if any(line.lstrip().startswith("~~~") for line in block) else "~~~"
            out += [fence + "text", *block, fence]
        else:
            out += _paragraph(block)
    return "\n".join(out).strip("\n")


def _blocks(lines: list[str], raw: list[str]) -> list[tuple[str, list[str]]]:
    """Consecutive lines grouped: blank lines, aligned columns (a table), and paragraphs. A
    table's header and rows apart by one blank line are one table."""
    blocks: list[tuple[str, list[str]]] = []
    for line, original in zip(lines, raw):
        kind = "blank" if not line.strip() else "aligned" if _is_aligned(original) else "prose"
        if blocks and blocks[-1][0] == kind and kind != "blank":
            blocks[-1][1].append(line)
        else:
            blocks.append((kind, [line]))
    blocks = [_table_with_header(b, i, blocks) for i, b in enumerate(blocks)]
    merged: list[tuple[str, list[str]]] = []
    for block in blocks:
        if (
            block[0] == "aligned"
            and len(merged) >= 2
            and merged[-1] == ("blank", [""])
            and merged[-2][0] == "aligned"
        ):
            merged.pop()
            merged[-1][1].extend(["", *block[1]])
        else:
            merged.append(block)
    return merged


def _is_aligned(line: str) -> bool:
    return bool(_ALIGNED.search(line.strip()))


def _table_with_header(
    block: tuple[str, list[str]], index: int, blocks: list[tuple[str, list[str]]]
) -> tuple[str, list[str]]:
    """A single aligned line alone between prose is a sentence with two spaces in it, not a
    table: it stays prose."""
    kind, lines = block
    if kind == "aligned" and len(lines) == 1:
        nearby = [blocks[j] for j in (index - 2, index + 2) if 0 <= j < len(blocks)]
        if not any(k == "aligned" for k, _ in nearby):
            return "prose", lines
    return block


def _paragraph(lines: list[str]) -> list[str]:
    """Each line escaped, its indentation kept, and ended with a hard line break (``\\``)."""
    out = []
    for i, line in enumerate(lines):
        body = line.lstrip(" ")
        indent = "&nbsp;" * (len(line) - len(body))
        escaped = _ESCAPED.sub(lambda m: "\\" + m.group(0), body)
        escaped = _NUMBERED.sub(r"\1\\\2", _BLOCK_START.sub(r"\\\1", escaped))
        out.append(indent + escaped + ("\\" if i < len(lines) - 1 else ""))
    return out

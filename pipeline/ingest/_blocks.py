"""Helpers the backends share to type blocks and track heading paths."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.document import Block, BlockKind
from pipeline.ingest.doctype import MINUTE_NUMBER_RE, NUMBERED_ITEM_RE

__all__ = [
    "BULLET_RE",
    "NUMBERED_HEADING_RE",
    "HeadingTracker",
    "MINOR_LEVEL",
    "RawBlock",
    "build_blocks",
    "COVER_SHEET_KEYS",
    "is_key_value_table",
    "is_sentence_like",
    "list_item_text",
    "SYMBOL_BULLETS",
    "looks_like_heading",
    "minute_number",
    "paragraph_kind",
    "numbered_heading_level",
    "strip_bullet",
    "split_header",
    "looks_like_header_row",
    "pop_caption",
    "row_text",
]

#: A bullet or list number at the start of a line.
BULLET_RE = re.compile(r"^(?:[•▪◦●○■□►‣⁃∙·*\-–—o](?=\s)|\(?[a-zA-Z]\)|\(?[ivxIVX]{1,4}\)|\d{1,2}[.)](?=\s))\s*")
#: A numbered heading: "1. Introduction", "2.3 Governance", "4.1.2 Risk" (short, no final stop).
NUMBERED_HEADING_RE = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(?=[A-Z])")
_SENTENCE_END_RE = re.compile(r"[.!?;,]\s*[\"”’')\]]?$")
#: A sentence ending inside a line: a lower-case word, a full stop, then a capital ("plan. In quality").
_MID_SENTENCE_END_RE = re.compile(r"\b([a-z][a-z]+)[.!?][\"”’)]?\s+[\"“(]?[A-Z]")
_NOT_SENTENCE_END = frozenset({"etc", "approx", "incl", "excl", "viz", "cf", "vs", "ca"})
#: Most words a heading has; a longer line is body text whatever its type size.
MAX_HEADING_WORDS = 25


def minute_number(text: str) -> str | None:
    """The minute or item number a text starts with, or None."""
    m = MINUTE_NUMBER_RE.match(text)
    if m:
        return m.group(0).rstrip(".:)").strip()
    return None


def looks_like_heading(text: str, *, max_words: int = 14) -> bool:
    """A short line without sentence-final punctuation."""
    words = text.split()
    return 0 < len(words) <= max_words and len(text) <= 120 and not _SENTENCE_END_RE.search(text)


def is_sentence_like(text: str) -> bool:
    """True when ``text`` reads as body text, so it must never be a heading.

    Headings are short, start with a capital or a number, and hold no
    sentence end in the middle of the line; a line that runs past
    :data:`MAX_HEADING_WORDS` words or 200 characters, starts in lower case
    (a continuation), ends with a comma or semicolon, ends with a full stop
    after more than twelve words, or has a full stop followed by a new
    sentence ("... to plan. In quality, ...") is body text.
    """
    text = text.strip()
    if not text:
        return False
    words = text.split()
    if len(words) > MAX_HEADING_WORDS or len(text) > 200:
        return True
    if text[:1].islower():
        return True
    if text.endswith((",", ";")):
        return True
    if text.endswith((".", "!", "?")) and len(words) > 12:
        return True
    return any(m.group(1) not in _NOT_SENTENCE_END for m in _MID_SENTENCE_END_RE.finditer(text))


def numbered_heading_level(text: str) -> int | None:
    """Level of a numbered heading ("2.3 Governance" -> 2), or None."""
    m = NUMBERED_HEADING_RE.match(text)
    if not m or not looks_like_heading(text, max_words=12):
        return None
    return m.group(1).count(".") + 1


def strip_bullet(text: str) -> str:
    return BULLET_RE.sub("", text, count=1)


#: Characters used as bullets; each becomes "•" in a list item's text.
SYMBOL_BULLETS = "•▪◦●○■□►‣⁃∙·*-–—+"


def list_item_text(text: str, marker: str | None = None) -> str:
    """A list item's text with its marker, so a passage of several items still reads as a list.

    A symbol bullet becomes "• "; an item with its own number or letter
    ("1.", "(a)") keeps it; ``marker`` (a number Word or HTML gave the item)
    goes in front; any other item gets "• ".
    """
    t = text.strip()
    if not t:
        return t
    if t[0] in SYMBOL_BULLETS and (t[1:2].isspace() or (t[0] in "•▪◦●○■□►‣⁃∙·" and t[1:2] != t[0])):
        rest = t[1:].lstrip()
        return f"• {rest}" if rest else t
    if marker:
        return f"{marker} {t}"
    if BULLET_RE.match(t):
        return t
    return f"• {t}"


def paragraph_kind(text: str) -> BlockKind:
    """Kind of a body paragraph from its text alone.

    Minute numbers on a short line make a heading (the item's title), on a
    long one a minute item; bullets make list items.
    """
    if minute_number(text):
        return BlockKind.HEADING if looks_like_heading(text, max_words=16) else BlockKind.MINUTE_ITEM
    if NUMBERED_ITEM_RE.match(text) and not looks_like_heading(text):
        return BlockKind.MINUTE_ITEM
    if BULLET_RE.match(text):
        return BlockKind.LIST_ITEM
    return BlockKind.PARAGRAPH


_PREAMBLE_RE = re.compile(
    r"^(?:present|in attendance|attendance|attendees|apologies(?: for absence)?|members(?: present)?|"
    r"also present|quorum|observers?|in the chair|minutes?)\s*:?$",
    re.I,
)


class HeadingTracker:
    """The path of headings above the current point, by level.

    Minute-item headings ("TB 24/031 Finance report") sit below every
    ordinary heading and replace one another.
    """

    MINUTE_LEVEL = 10_000

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        self._path: tuple[str, ...] = ()

    def push(self, level: int, text: str) -> tuple[str, ...]:
        """Enter a heading; return the path *above* it (its ancestors)."""
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        ancestors = tuple(t for _, t in self._stack)
        self._stack.append((level, text))
        self._path = ancestors + (text,)
        return ancestors

    def push_minute(self, text: str) -> tuple[str, ...]:
        # Minute items are siblings of the attendance sections, not inside them.
        while self._stack and _PREAMBLE_RE.match(self._stack[-1][1]):
            self._stack.pop()
        return self.push(self.MINUTE_LEVEL, text)

    @property
    def path(self) -> tuple[str, ...]:
        """The current path (one shared tuple until the next heading)."""
        return self._path


#: Level of a heading recognised only as a short standalone line.
MINOR_LEVEL = 15_000


@dataclass(slots=True)
class RawBlock:
    """A block as a backend first sees it; :func:`build_blocks` adds heading paths."""

    kind: BlockKind
    text: str
    page: int | None = None
    page_end: int | None = None
    level: int | None = None  # headings only: 1 = top
    sheet: str | None = None
    row: int | None = None
    location: str | None = None
    context: tuple[str, ...] = ()  # extra heading path for this block only (a table caption)


def _is_minor_heading(block: RawBlock, nxt: RawBlock | None) -> bool:
    text = block.text
    if nxt is None or nxt.kind is BlockKind.HEADING:
        return False
    if not looks_like_heading(text, max_words=10) or ": " in text or len(text) < 3:
        return False
    if text.endswith(":") or ". " in text:
        return False
    if not text[:1].isupper() or not re.search(r"[a-z]", text):
        return False
    if nxt.kind in (BlockKind.TABLE_ROW, BlockKind.LIST_ITEM):
        return True
    return len(nxt.text) > max(60, len(text) * 1.5)


def build_blocks(raw: list[RawBlock], *, promote_minor: bool = True) -> list[Block]:
    """Turn raw blocks into Blocks with heading paths.

    Headings go into the path of what follows them (a heading block's own
    ``heading_path`` is its ancestors). A "heading" that reads as body text
    (:func:`is_sentence_like`) becomes a paragraph, so body text is never
    hidden in a heading path. Minute-item headings sit below every
    other heading. With ``promote_minor``, a short standalone line followed
    by a longer paragraph, a list or a table becomes a minor heading.
    """
    if promote_minor:
        for idx, rb in enumerate(raw):
            if rb.kind is BlockKind.PARAGRAPH and _is_minor_heading(rb, raw[idx + 1] if idx + 1 < len(raw) else None):
                rb.kind = BlockKind.HEADING
                rb.level = MINOR_LEVEL
    tracker = HeadingTracker()
    out: list[Block] = []
    for rb in raw:
        if not rb.text or not rb.text.strip():
            continue
        if rb.kind is BlockKind.HEADING and is_sentence_like(rb.text):
            # Body text never goes into a heading path, whatever its style said.
            rb.kind = paragraph_kind(rb.text)
            if rb.kind is BlockKind.HEADING:
                rb.kind = BlockKind.PARAGRAPH
        if rb.kind is BlockKind.HEADING:
            if minute_number(rb.text):
                ancestors = tracker.push_minute(rb.text)
            else:
                level = rb.level if rb.level is not None else (numbered_heading_level(rb.text) or MINOR_LEVEL)
                ancestors = tracker.push(level, rb.text)
            out.append(Block(kind=BlockKind.HEADING.value, text=rb.text, page=rb.page, heading_path=ancestors))
            continue
        out.append(
            Block(
                kind=rb.kind.value,
                text=rb.text,
                page=rb.page,
                page_end=rb.page_end if rb.page_end not in (None, rb.page) else None,
                sheet=rb.sheet,
                row=rb.row,
                location=rb.location,
                heading_path=tracker.path + rb.context if rb.context else tracker.path,
            )
        )
    return out


_NUMERIC_CELL_RE = re.compile(r"[\d.,%£$€ ()+-]+")


#: A year or financial year as a column label: "2024", "2024/25", "2023-2024".
_YEAR_CELL_RE = re.compile(r"(?:19|20)\d\d(?:\s*[/-]\s*(?:\d\d|(?:19|20)\d\d))?")


def looks_like_header_row(cells: list[str]) -> bool:
    """Header cells are short labels; a key/value table's first row is not a header.

    A number is not a label, but a year is ("Indicator | 2023 | 2024 | 2025")
    in a row of three or more cells, at least one of them words (a
    two-column "Financial year | 2024/25" is a key and its value).
    """
    filled = [c for c in cells if c]
    if not filled:
        return False
    numeric = [c for c in filled if _NUMERIC_CELL_RE.fullmatch(c) or _YEAR_CELL_RE.fullmatch(c.strip())]
    if numeric and (
        len(cells) < 3
        or not all(_YEAR_CELL_RE.fullmatch(c.strip()) for c in numeric)
        or len(numeric) == len(filled)
    ):
        return False
    max_words = 4 if len(cells) == 2 else 8
    return all(len(c) <= 60 and len(c.split()) <= max_words for c in filled)


#: Labels of a report's cover sheet ("Report to | Board of Directors"): a two-column table of them
#: is key/value pairs, not a header row over data.
COVER_SHEET_KEYS = frozenset(
    {
        "purpose", "report to", "report from", "report title", "title", "author", "authors", "report author",
        "prepared by", "presented by", "executive lead", "executive leads", "executive sponsor", "executive owner",
        "executive director", "lead director", "sponsor", "responsible director", "non-executive lead",
        "link to cqc domain", "cqc domain", "link to cqc domains", "previously considered by", "date of meeting",
        "meeting date", "meeting", "date", "status", "version", "agenda item", "item", "recommendation",
        "recommendations", "action required", "decision required", "paper for", "freedom of information status",
        "foi status", "reference", "owner", "approved by", "date approved", "approval date", "next review",
        "review date", "committee", "classification", "equality impact assessment", "quality impact assessment",
        "financial implications", "legal implications", "resource implications", "assurance level",
        "level of assurance", "report cover sheet", "contact",
    }
)  # fmt: skip
#: Label starts that make a cover-sheet key ("Link to BAF risk", "Date of approval").
_COVER_KEY_PREFIXES = ("link to ", "date of ", "impact on ", "implications for ", "considered by ", "approved by ")


def _is_key_label(cell: str) -> bool:
    cell = cell.strip()
    if not cell or len(cell) > 60 or len(cell.split()) > 7 or _NUMERIC_CELL_RE.fullmatch(cell):
        return False
    if cell.endswith(":"):
        return True
    norm = " ".join(cell.lower().rstrip(":").split())
    return norm in COVER_SHEET_KEYS or norm.startswith(_COVER_KEY_PREFIXES)


def is_key_value_table(rows: list[list[str | None]]) -> bool:
    """A two-column table of labels and values (a report cover sheet), read with no header row.

    The first column is short labels, most of them ending in ":" or known
    cover-sheet keys (:data:`COVER_SHEET_KEYS`: "Purpose", "Report to",
    "Executive lead", "Link to CQC domain" ...).
    """
    rows = [r for r in rows if any(c for c in r)]
    if len(rows) < 2 or any(len(r) != 2 for r in rows):
        return False
    keys = [(r[0] or "").strip() for r in rows]
    if any(len(k) > 60 or len(k.split()) > 8 for k in keys):
        return False
    labelled = sum(1 for k in keys if _is_key_label(k))
    return labelled >= 2 and labelled >= 0.6 * len(keys)


def split_header(
    rows: list[list[str | None]], inherited: list[str] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Split table rows into header cells and body rows.

    Args:
        rows: Cleaned cell texts; ``None`` marks a cell covered by a merged
            cell to its left (its header value is carried right).
        inherited: Header of the same table on the previous page; the first
            row is then body, unless it repeats that header.

    Returns:
        (header, body). A first row with a purely numeric cell is not a
        header, nor is the first row of a key/value table
        (:func:`is_key_value_table`): header cells are then all "".
    """
    body_rows = [[c or "" for c in r] for r in rows]
    if not rows:
        return list(inherited or []), []
    first = body_rows[0]
    if inherited is not None:
        if [h.lower() for h in first] == [h.lower() for h in inherited]:
            return list(inherited), body_rows[1:]
        return list(inherited), body_rows
    if not looks_like_header_row(first) or is_key_value_table(rows):
        return [""] * len(first), body_rows
    header: list[str] = []
    for j, cell in enumerate(first):
        if not cell and rows[0][j] is None and header:
            header.append(header[-1])  # merged: carry the left value right
        else:
            header.append(cell)
    lowered = [h.lower() for h in first]
    # A header row repeated further down (a table pasted in twice, a page's repeated header) is not data.
    return header, [r for r in body_rows[1:] if [c.lower() for c in r] != lowered]


def pop_caption(rows: list[list[str | None]]) -> tuple[str | None, list[list[str | None]]]:
    """Split off a first row that holds one value across the table (a merged title)."""
    if len(rows) < 2 or len(rows[0]) < 2 or not rows[0][0]:
        return None, rows
    filled = [c for c in rows[0] if c]
    if len(set(filled)) == 1 and (len(filled) > 1 or all(c in (None, "") for c in rows[0][1:])):
        return filled[0], rows[1:]
    return None, rows


def row_text(header: list[str], row: list[str], *, sep: str = " | ") -> str:
    """One table row as "Header: value | Header: value" (empty cells left out).

    Neighbouring columns under one (merged) header are joined with "; "; a
    two-column row under no header reads "key: value".
    """
    if not any(header) and len([c for c in row if c]) == 2 and len(row) == 2:
        return f"{row[0].rstrip().rstrip(':')}: {row[1]}"
    fields: list[tuple[str, list[str]]] = []
    prev_name: str | None = None
    for j, value in enumerate(row):
        name = header[j] if j < len(header) else ""
        if value:
            if fields and name and name == prev_name:
                if value not in fields[-1][1]:
                    fields[-1][1].append(value)  # same merged header, or a merged cell repeated
            else:
                fields.append((name, [value]))
        prev_name = name
    parts = []
    for name, values in fields:
        joined = "; ".join(values)
        parts.append(f"{name}: {joined}" if name and name != joined else joined)
    return sep.join(parts)

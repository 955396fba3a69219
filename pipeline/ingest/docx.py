"""DOCX backend (python-docx): body paragraphs and tables in document order.

Headings come from heading styles ("Title", "Heading 1".."Heading 9", or an
outline level), from numbered headings ("2.3 Governance") and from short
all-bold paragraphs; every other block carries the path of headings above it.
List paragraphs (list styles or Word numbering) become list items, tables one
block per row with the column headers. Headers and footers are not part of the
body and are left out. Pages are known only when Word saved rendered page
breaks; otherwise ``page`` is None.

The file is checked before parsing (:func:`pipeline.ingest._ooxml.check_ooxml`):
no DTD or ENTITY declarations, bounded part sizes.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path
from typing import Any, ClassVar

from pipeline.document import BlockKind, SourceFormat
from pipeline.errors import DocumentLoadError
from pipeline.ingest._blocks import (
    RawBlock,
    build_blocks,
    looks_like_heading,
    minute_number,
    numbered_heading_level,
    paragraph_kind,
    pop_caption,
    row_text,
    split_header,
)
from pipeline.ingest._ooxml import check_ooxml
from pipeline.ingest.base import Extraction, ExtractingBackend, clean_line
from pipeline.limits import Limits

__all__ = ["DocxBackend"]

log = logging.getLogger(__name__)

_HEADING_STYLE_RE = re.compile(r"^heading\s*(\d)$", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
#: Level given to a short all-bold paragraph used as a heading.
_BOLD_HEADING_LEVEL = 10


def _style_name(paragraph: Any) -> str:
    try:
        style = paragraph.style
        return (style.name or "") if style is not None else ""
    except (KeyError, AttributeError, ValueError):
        return ""


def _outline_level(paragraph: Any) -> int | None:
    ppr = paragraph._p.pPr
    if ppr is None:
        return None
    el = ppr.find(f"{_W}outlineLvl")
    if el is None:
        return None
    try:
        lvl = int(el.get(f"{_W}val"))
    except (TypeError, ValueError):
        return None
    return lvl + 1 if lvl < 9 else None


def _has_numbering(paragraph: Any) -> bool:
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.find(f"{_W}numPr") is not None


def _all_bold(paragraph: Any) -> bool:
    runs = [r for r in paragraph.runs if r.text.strip()]
    if not runs:
        return False
    for r in runs:
        bold = r.bold
        if bold is None and r.style is not None:
            try:
                bold = r.style.font.bold
            except AttributeError:
                bold = None
        if not bold:
            return False
    return True


def _page_breaks(paragraph: Any) -> int:
    """Page breaks in a paragraph: Word's rendered breaks, or explicit page breaks."""
    p = paragraph._p
    rendered = len(p.findall(f".//{_W}lastRenderedPageBreak"))
    explicit = sum(1 for br in p.findall(f".//{_W}br") if br.get(f"{_W}type") == "page")
    return max(rendered, explicit)


def _word_pages(path: Path) -> int | None:
    """Page count Word saved in docProps/app.xml, if any."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read("docProps/app.xml")
    except (KeyError, zipfile.BadZipFile, OSError):
        return None
    m = re.search(rb"<(?:\w+:)?Pages>(\d+)</(?:\w+:)?Pages>", data)
    return int(m.group(1)) if m else None


class DocxBackend(ExtractingBackend):
    """Read a Word .docx file."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset({SourceFormat.DOCX})

    def extract(self, path: Path, limits: Limits) -> Extraction:
        check_ooxml(path, limits)
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        try:
            document = docx.Document(str(path))
        except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds
            raise DocumentLoadError(f"corrupt or unreadable Word file ({type(exc).__name__}: {exc})") from exc
        warnings: list[str] = []
        raw: list[RawBlock] = []
        page = 1
        any_breaks = False
        n_par = n_table = 0
        try:
            items = list(document.iter_inner_content())
        except Exception as exc:  # noqa: BLE001
            raise DocumentLoadError(f"corrupt Word body ({type(exc).__name__}: {exc})") from exc
        for item in items:
            if isinstance(item, Paragraph):
                breaks = _page_breaks(item)
                text = clean_line(item.text.replace("\n", " ").replace("\t", " "))
                if text:
                    n_par += 1
                    raw.append(self._paragraph(item, text, page, n_par))
                if breaks:
                    any_breaks = True
                    page += breaks
            elif isinstance(item, Table):
                n_table += 1
                raw.extend(self._table(item, page, n_table))
        if not any_breaks:
            for rb in raw:
                rb.page = None
        title = None
        try:
            title = document.core_properties.title or None
        except Exception:  # noqa: BLE001 - properties are optional
            title = None
        pages = _word_pages(path) or (page if any_breaks else None)
        meta: dict[str, Any] = {"paragraphs": n_par, "tables": n_table}
        return Extraction(blocks=build_blocks(raw, promote_minor=True), page_count=pages, title=title, warnings=warnings, meta=meta)

    @staticmethod
    def _paragraph(item: Any, text: str, page: int, n: int) -> RawBlock:
        style = _style_name(item)
        location = f"paragraph {n}"
        m = _HEADING_STYLE_RE.match(style)
        level: int | None = None
        if style.lower() == "title":
            level = 0
        elif m:
            level = int(m.group(1))
        elif (ol := _outline_level(item)) is not None:
            level = ol
        if level is not None and len(text) <= 250:
            return RawBlock(BlockKind.HEADING, text, page=page, level=level, location=location)
        if minute_number(text) and looks_like_heading(text, max_words=16):
            return RawBlock(BlockKind.HEADING, text, page=page, location=location)
        bold = _all_bold(item)
        nlevel = numbered_heading_level(text)
        if nlevel is not None and (bold or len(text.split()) <= 8):
            return RawBlock(BlockKind.HEADING, text, page=page, level=nlevel, location=location)
        if bold and looks_like_heading(text, max_words=14):
            return RawBlock(BlockKind.HEADING, text, page=page, level=_BOLD_HEADING_LEVEL, location=location)
        if "list" in style.lower() or _has_numbering(item):
            return RawBlock(BlockKind.LIST_ITEM, text, page=page, location=location)
        return RawBlock(paragraph_kind(text), text, page=page, location=location)

    @staticmethod
    def _table(table: Any, page: int, n: int) -> list[RawBlock]:
        rows: list[list[str | None]] = []
        try:
            for row in table.rows:
                cells: list[str | None] = []
                prev_tc = None
                for cell in row.cells:
                    if cell._tc is prev_tc:
                        cells.append(None)  # horizontally merged: same cell again
                        continue
                    prev_tc = cell._tc
                    cells.append(clean_line(" ".join(p.text for p in cell.paragraphs)))
                rows.append(cells)
        except Exception as exc:  # noqa: BLE001 - malformed table grid
            log.debug("table %d unreadable: %s", n, exc)
            return [RawBlock(BlockKind.PARAGRAPH, clean_line(" ".join(c.text for r in table.rows for c in r.cells)), page=page)]
        rows = [r for r in rows if any(r)]
        if not rows:
            return []
        if len(rows) == 1 or max(len(r) for r in rows) == 1:
            return [
                RawBlock(BlockKind.PARAGRAPH, " | ".join(c for c in r if c), page=page, location=f"table {n}, row {i}")
                for i, r in enumerate(rows, 1)
            ]
        caption, rows = pop_caption(rows)
        header, body = split_header(rows)
        context = (caption,) if caption else ()
        out = []
        for i, row in enumerate(body, 1):
            text = row_text(header, row)
            if text:
                out.append(RawBlock(BlockKind.TABLE_ROW, text, page=page, location=f"table {n}, row {i}", context=context))
        return out

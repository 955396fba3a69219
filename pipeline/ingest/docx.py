"""DOCX backend (python-docx): body paragraphs and tables in document order.

Headings come from heading styles ("Title", "Heading 1".."Heading 9", or an
outline level), from numbered headings ("2.3 Governance") and from short
all-bold paragraphs; every other block carries the path of headings above it.
List paragraphs (list styles or Word numbering) become list items that keep
their marker ("• ", or the number Word shows: "2.", "b)"), tables one block per
row with the column headers; a two-column cover sheet is read as "Key: Value".
Headers and footers are not part of the body and are left out.

Text is read as the document reads with its tracked changes accepted:
inserted runs (``w:ins``, ``w:moveTo``) are kept and deleted ones
(``w:del``, ``w:moveFrom``) left out. Runs inside smart tags, simple fields,
custom XML and content controls (``w:sdt``, also whole paragraphs and tables
in them, as on cover pages) are read too, and each text box is read once
(Word saves a modern and a VML copy), as paragraphs after the one it is
anchored in. Comments, footnotes and endnotes are not read; a file whose body
is empty says where its text is instead (headers, comments ...).

Pages: where Word saved its layout (``w:lastRenderedPageBreak``) those breaks
give each block its page, and Word's page count is used; otherwise explicit
breaks (page breaks, "page break before", section breaks) do; a file with no
breaks at all (written by a program, not Word) has its pages estimated at
:data:`WORDS_PER_PAGE` words a page, and ``Document.meta`` says so
(``pages_estimated``, ``page_basis``).

The file is checked before parsing (:func:`pipeline.ingest._ooxml.check_ooxml`):
no DTD or ENTITY declarations, bounded part sizes. Macro-enabled files and
templates (.docm, .dotx, .dotm) are read like .docx (their macros never run).
"""

from __future__ import annotations

import logging
import math
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pipeline.document import BlockKind, SourceFormat
from pipeline.errors import DocumentLoadError
from pipeline.ingest._blocks import (
    RawBlock,
    build_blocks,
    list_item_text,
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
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
#: Elements whose runs are part of a paragraph's text: links, tracked insertions and
#: moves, smart tags, simple fields, custom XML, content controls, text direction.
_RUN_CONTAINERS = frozenset(
    f"{_W}{t}" for t in ("hyperlink", "ins", "moveTo", "smartTag", "fldSimple", "customXml", "sdt", "sdtContent", "dir", "bdo")
)
#: Main-part content types python-docx does not open by itself: read like a .docx.
_WORD_MAIN_TYPES = (
    "application/vnd.ms-word.document.macroEnabled.main+xml",  # .docm
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",  # .dotx
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",  # .dotm
)
#: Parts outside the body, named when the body holds no text.
_OTHER_TEXT_PARTS = (
    (re.compile(r"^word/header\d*\.xml$"), "headers"),
    (re.compile(r"^word/footer\d*\.xml$"), "footers"),
    (re.compile(r"^word/comments\.xml$"), "comments"),
    (re.compile(r"^word/footnotes\.xml$"), "footnotes"),
    (re.compile(r"^word/endnotes\.xml$"), "endnotes"),
)
_TEXT_RUN_RE = re.compile(rb"<w:t(?:\s[^>]*)?>\s*[^<\s]")


def _paragraph_text(p: Any) -> str:
    """A ``w:p`` element's text with tracked changes accepted (see the module docstring).

    Text boxes anchored in the paragraph are not part of it (:func:`_text_boxes`).
    """
    out: list[str] = []

    def walk(el: Any) -> None:
        for child in el:
            tag = child.tag
            if tag == f"{_W}r":
                out.append(child.text or "")  # python-docx's CT_R: w:t, tabs, breaks; no drawings
            elif tag in _RUN_CONTAINERS:
                walk(child)
            elif tag == f"{_MC}AlternateContent" and len(child):
                walk(child[0])  # runs saved two ways: the first (mc:Choice) is enough

    walk(p)
    return "".join(out)


def _text_boxes(p: Any) -> list[Any]:
    """The ``w:txbxContent`` elements anchored in paragraph ``p``, each box once.

    Word saves a text box twice in ``mc:AlternateContent``: a DrawingML
    ``mc:Choice`` and a VML ``mc:Fallback``; the first branch holding text-box
    content is used. Boxes nested in a box come with that box's paragraphs.
    """
    boxes: list[Any] = []

    def walk(el: Any) -> None:
        for child in el:
            tag = child.tag
            if tag == f"{_W}txbxContent":
                boxes.append(child)
            elif tag == f"{_MC}AlternateContent":
                for branch in child:
                    if any(True for _ in branch.iter(f"{_W}txbxContent")):
                        walk(branch)
                        break
            elif isinstance(tag, str):
                walk(child)

    walk(p)
    return boxes


def _block_items(container: Any, parent: Any) -> Iterator[Any]:
    """Paragraphs and tables of a body, cell or text box in reading order.

    Unlike python-docx's ``iter_inner_content``, content controls and custom
    XML around paragraphs and tables are looked into, and text boxes follow
    the paragraph they are anchored in.
    """
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in container:
        tag = child.tag
        if tag == f"{_W}p":
            yield Paragraph(child, parent)
            for box in _text_boxes(child):
                yield from _block_items(box, parent)
        elif tag == f"{_W}tbl":
            yield Table(child, parent)
        elif tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _block_items(content, parent)
        elif tag == f"{_W}customXml":
            yield from _block_items(child, parent)


def _cell_text(tc: Any) -> str:
    """All text of a table cell: its paragraphs, content controls, text boxes and nested tables."""
    parts: list[str] = []
    for child in tc:
        tag = child.tag
        if tag == f"{_W}p":
            parts.append(_paragraph_text(child))
            parts.extend(_cell_text(box) for box in _text_boxes(child))
        elif tag == f"{_W}tbl":
            parts.extend(_cell_text(cell) for row in child.findall(f"{_W}tr") for cell in row.findall(f"{_W}tc"))
        elif tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                parts.append(_cell_text(content))
        elif tag in (f"{_W}customXml", f"{_W}tr", f"{_W}tc"):
            parts.append(_cell_text(child))
    return clean_line(" ".join(p.replace("\n", " ").replace("\t", " ") for p in parts))


def _open_word(path: Path) -> Any:
    """python-docx's Document for a .docx, .docm, .dotx or .dotm file."""
    from docx.opc.part import PartFactory
    from docx.package import Package
    from docx.parts.document import DocumentPart

    for content_type in _WORD_MAIN_TYPES:
        PartFactory.part_type_for.setdefault(content_type, DocumentPart)
    part = Package.open(str(path)).main_document_part
    if not isinstance(part, DocumentPart):
        raise DocumentLoadError(f"not a Word document: its main part is {part.content_type!r}")
    return part.document


def _text_outside_body(path: Path) -> list[str]:
    """Which parts outside the body (headers, comments ...) hold text."""
    found: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                for pattern, what in _OTHER_TEXT_PARTS:
                    if what not in found and pattern.match(info.filename):
                        if _TEXT_RUN_RE.search(zf.read(info)):  # sizes already bounded by check_ooxml
                            found.append(what)
    except (zipfile.BadZipFile, OSError, KeyError):
        return found
    return found
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


#: Words on a page of an ordinary Word document, for estimating pages when no breaks are saved.
WORDS_PER_PAGE = 500


def _break_counts(el: Any, rendered: bool) -> tuple[int, int]:
    """Page breaks at the start and after the start of a paragraph or table row: (leading, trailing).

    With ``rendered`` (Word saved where its pages began, ``w:lastRenderedPageBreak``,
    which also marks explicit breaks), only those count; otherwise explicit
    breaks: ``w:br w:type="page"``, "page break before", and section breaks.
    A break before any text moves the whole paragraph to the next page.
    """
    lead = trail = 0
    seen_text = False
    for node in el.iter(f"{_W}t", f"{_W}br", f"{_W}lastRenderedPageBreak"):
        tag = node.tag
        if tag == f"{_W}t":
            seen_text = seen_text or bool((node.text or "").strip())
            continue
        if rendered != (tag == f"{_W}lastRenderedPageBreak"):
            continue
        if tag == f"{_W}br" and node.get(f"{_W}type") != "page":
            continue
        if seen_text:
            trail += 1
        else:
            lead += 1
    if not rendered:
        ppr = el.find(f"{_W}pPr")
        if ppr is not None:
            before = ppr.find(f"{_W}pageBreakBefore")
            if before is not None and before.get(f"{_W}val") not in ("0", "false", "off"):
                lead += 1
            sect = ppr.find(f"{_W}sectPr")
            if sect is not None:
                kind = sect.find(f"{_W}type")
                if kind is None or kind.get(f"{_W}val") != "continuous":
                    trail += 1  # a section break (next page) after this paragraph
    return lead, trail


def _word_pages(path: Path) -> int | None:
    """Page count Word saved in docProps/app.xml, if any."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read("docProps/app.xml")
    except (KeyError, zipfile.BadZipFile, OSError):
        return None
    m = re.search(rb"<(?:\w+:)?Pages>(\d+)</(?:\w+:)?Pages>", data)
    return int(m.group(1)) if m else None


_ROMAN = [(10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]


def _roman(n: int) -> str:
    out = ""
    for value, letters in _ROMAN:
        while n >= value:
            out += letters
            n -= value
    return out


class _ListMarkers:
    """The marker Word shows before a list paragraph: "•", or its number ("2.", "b)", "iii.").

    Word keeps numbers out of the text (numbering.xml says the format of each
    list level), so they are counted here, per list and level, as Word does.
    """

    def __init__(self, document: Any) -> None:
        self.formats: dict[str, dict[str, str]] = {}
        self.counters: dict[tuple[str, str], int] = {}
        try:
            numbering = document.part.numbering_part.element
        except (KeyError, AttributeError, NotImplementedError, ValueError):
            return
        abstract: dict[str, dict[str, str]] = {}
        for an in numbering.findall(f"{_W}abstractNum"):
            levels = {}
            for lvl in an.findall(f"{_W}lvl"):
                fmt = lvl.find(f"{_W}numFmt")
                levels[lvl.get(f"{_W}ilvl") or "0"] = fmt.get(f"{_W}val") if fmt is not None else "bullet"
            abstract[an.get(f"{_W}abstractNumId") or ""] = levels
        for num in numbering.findall(f"{_W}num"):
            ref = num.find(f"{_W}abstractNumId")
            if ref is not None:
                self.formats[num.get(f"{_W}numId") or ""] = abstract.get(ref.get(f"{_W}val") or "", {})

    @staticmethod
    def _num_pr(paragraph: Any) -> tuple[str, str] | None:
        for ppr in (paragraph._p.pPr, getattr(getattr(paragraph.style, "element", None), "pPr", None)):
            el = ppr.find(f"{_W}numPr") if ppr is not None else None
            if el is not None:
                num_id = el.find(f"{_W}numId")
                ilvl = el.find(f"{_W}ilvl")
                if num_id is not None:
                    return num_id.get(f"{_W}val") or "", ilvl.get(f"{_W}val") if ilvl is not None else "0"
        return None

    def marker(self, paragraph: Any, style: str) -> str:
        pr = self._num_pr(paragraph)
        fmt = self.formats.get(pr[0], {}).get(pr[1]) if pr else None
        if fmt is None:
            fmt = "decimal" if "number" in style.lower() else "bullet"
        if fmt in ("bullet", "none") or pr is None and fmt == "bullet":
            return "•"
        key = pr or (style, "0")
        n = self.counters.get(key, 0) + 1
        self.counters[key] = n
        for other in [k for k in self.counters if k[0] == key[0] and k[1] > key[1]]:
            del self.counters[other]  # a deeper level starts again under a new parent item
        if fmt == "lowerLetter":
            return f"{chr(96 + (n - 1) % 26 + 1)})"
        if fmt == "upperLetter":
            return f"{chr(64 + (n - 1) % 26 + 1)})"
        if fmt == "lowerRoman":
            return f"{_roman(n)}."
        if fmt == "upperRoman":
            return f"{_roman(n).upper()}."
        return f"{n}."


class DocxBackend(ExtractingBackend):
    """Read a Word .docx file."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset({SourceFormat.DOCX})

    def extract(self, path: Path, limits: Limits) -> Extraction:
        check_ooxml(path, limits)
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        try:
            document = _open_word(path)
        except (DocumentLoadError, MemoryError):
            raise  # MemoryError: the runner names the limit
        except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds
            raise DocumentLoadError(f"corrupt or unreadable Word file ({type(exc).__name__}: {exc})") from exc
        warnings: list[str] = []
        raw: list[RawBlock] = []
        n_par = n_table = 0
        try:
            items = list(_block_items(document.element.body, document._body))
            rendered = document.element.body.find(f".//{_W}lastRenderedPageBreak") is not None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise DocumentLoadError(f"corrupt Word body ({type(exc).__name__}: {exc})") from exc
        markers = _ListMarkers(document)
        # Each block's page two ways: from saved page breaks, and from words read so far (~500 a page).
        page = 1
        words = 0
        any_breaks = False
        pages_by_words: list[tuple[int, int]] = []  # (words before the block, words before its end)
        for item in items:
            if isinstance(item, Paragraph):
                lead, trail = _break_counts(item._p, rendered)
                any_breaks = any_breaks or bool(lead or trail)
                page += lead
                text = clean_line(_paragraph_text(item._p).replace("\n", " ").replace("\t", " "))
                if text:
                    n_par += 1
                    rb = self._paragraph(item, text, page, n_par, markers)
                    rb.page_end = page + trail if trail else None
                    raw.append(rb)
                    pages_by_words.append((words, words + len(text.split())))
                    words += len(text.split())
                page += trail
            elif isinstance(item, Table):
                n_table += 1
                row_pages: list[int] = []
                row_words: list[int] = []
                for row in item._tbl.tr_lst:
                    lead, trail = _break_counts(row, rendered)
                    any_breaks = any_breaks or bool(lead or trail)
                    page += lead + trail  # a row that moves to a new page starts there
                    row_pages.append(page)
                    row_words.append(words)
                    words += sum(len((t.text or "").split()) for t in row.iter(f"{_W}t"))
                for rb, k in self._table(item, n_table):
                    rb.page = row_pages[k] if k < len(row_pages) else page
                    raw.append(rb)
                    w = row_words[k] if k < len(row_words) else words
                    pages_by_words.append((w, w))
        if not raw:
            elsewhere = _text_outside_body(path)
            if elsewhere:
                where = " and ".join([", ".join(elsewhere[:-1]), elsewhere[-1]] if len(elsewhere) > 1 else elsewhere)
                warnings.append(f"the body is empty: text only in its {where}, which are not read")
        meta: dict[str, Any] = {"paragraphs": n_par, "tables": n_table}
        if any_breaks:
            pages: int | None = page
            if rendered:
                pages = max(page, _word_pages(path) or 0)  # Word's own count, when Word laid the file out
            meta["page_basis"] = "rendered page breaks" if rendered else "explicit page breaks"
        else:
            # No page breaks saved (files written by programs, not Word): estimate.
            for rb, (w0, w1) in zip(raw, pages_by_words, strict=True):
                rb.page = 1 + w0 // WORDS_PER_PAGE
                last = 1 + max(w1 - 1, w0) // WORDS_PER_PAGE
                rb.page_end = last if last != rb.page else None
            pages = max(1, math.ceil(words / WORDS_PER_PAGE))
            meta["page_basis"] = f"estimated (about {WORDS_PER_PAGE} words a page; no page breaks in the file)"
            meta["pages_estimated"] = True
        title = None
        try:
            title = document.core_properties.title or None
        except Exception:  # noqa: BLE001 - properties are optional
            title = None
        return Extraction(blocks=build_blocks(raw, promote_minor=True), page_count=pages, title=title, warnings=warnings, meta=meta)

    @staticmethod
    def _paragraph(item: Any, text: str, page: int, n: int, markers: _ListMarkers | None = None) -> RawBlock:
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
            marker = markers.marker(item, style) if markers is not None else None
            return RawBlock(BlockKind.LIST_ITEM, list_item_text(text, marker), page=page, location=location)
        kind = paragraph_kind(text)
        if kind is BlockKind.LIST_ITEM:
            text = list_item_text(text)
        return RawBlock(kind, text, page=page, location=location)

    @staticmethod
    def _table(table: Any, n: int) -> list[tuple[RawBlock, int]]:
        """One block per body row, each with the index of its row in the table (for its page)."""
        rows: list[list[str | None]] = []
        index: list[int] = []
        try:
            for k, row in enumerate(table.rows):
                cells: list[str | None] = []
                prev_tc = None
                for cell in row.cells:
                    if cell._tc is prev_tc:
                        cells.append(None)  # horizontally merged: same cell again
                        continue
                    prev_tc = cell._tc
                    cells.append(_cell_text(cell._tc))
                if any(cells):
                    rows.append(cells)
                    index.append(k)
        except Exception as exc:  # noqa: BLE001 - malformed table grid
            log.debug("table %d unreadable: %s", n, exc)
            text = clean_line(" ".join(c.text for r in table.rows for c in r.cells))
            return [(RawBlock(BlockKind.PARAGRAPH, text), 0)]
        if not rows:
            return []
        if len(rows) == 1 or max(len(r) for r in rows) == 1:
            return [
                (RawBlock(BlockKind.PARAGRAPH, " | ".join(c for c in r if c), location=f"table {n}, row {i}"), k)
                for i, (r, k) in enumerate(zip(rows, index, strict=True), 1)
            ]
        caption, rest = pop_caption(rows)
        header, body = split_header(rest)
        context = (caption,) if caption else ()
        # Body rows are a subsequence of the rows: find each one's table row.
        remaining = list(zip(rows[len(rows) - len(rest) :], index[len(rows) - len(rest) :], strict=True))
        out = []
        pos = 0
        for i, row in enumerate(body, 1):
            while pos < len(remaining) - 1 and [c or "" for c in remaining[pos][0]] != row:
                pos += 1
            k = remaining[pos][1]
            pos += 1
            text = row_text(header, row)
            if text:
                out.append((RawBlock(BlockKind.TABLE_ROW, text, location=f"table {n}, row {i}", context=context), k))
        return out

"""PDF backend: fast running text from pypdfium2, tables from pdfplumber.

Plain pdfplumber is slow (a few pages a second) and grows in memory page by
page; pypdfium2 gives text in content order (so two-column pages come out
column by column) at hundreds of pages a second. This backend therefore:

1. reads every page with pypdfium2: text lines with their position, font
   size and weight, and a cheap count of ruling lines and images;
2. finds running headers and footers (lines at the top or bottom of the page
   that recur, digits ignored, on at least half the pages) and page numbers
   ("Page 3 of 12"), and drops them;
3. opens pdfplumber only on pages with ruling lines (likely tables), one page
   at a time, closing each, and turns each table into one block per row with
   its column headers ("Indicator: Sickness absence | Target: 4.0%"); a table
   running over a page break keeps the header of its first page;
4. groups the remaining lines into headings and paragraphs (line spacing,
   indentation, font size and weight), joins words hyphenated over a line
   break ("govern-" + "ance"), keeps real compounds ("well-led"), and joins
   a paragraph broken by a page or column break. The body size is measured
   on text outside tables (table cells are set smaller), and a line that
   reads as a sentence is never a heading. A number or minute reference at
   the start of a line ("1.52 (2024: 1.71)", "25/047") starts a new item only
   after a sentence end, not when the line above was cut mid-sentence;
5. reports pages without a text layer as needing OCR, and OCRs them with
   tesseract when the binary and ``pytesseract`` are installed.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import importlib.util
import logging
import math
import re
import shutil
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pipeline.document import BlockKind, SourceFormat
from pipeline.errors import DocumentLoadError, ResourceLimitError
from pipeline.ingest._blocks import (
    BULLET_RE,
    HeadingTracker,
    NUMBERED_HEADING_RE,
    RawBlock,
    build_blocks,
    is_sentence_like,
    list_item_text,
    looks_like_heading,
    minute_number,
    looks_like_header_row,
    pop_caption,
    row_text,
    split_header,
)
from pipeline.ingest.base import Extraction, ExtractingBackend, clean_line
from pipeline.ingest.doctype import NUMBERED_ITEM_RE
from pipeline.limits import Limits

__all__ = ["PdfBackend", "join_lines", "fix_soft_hyphens", "COMPOUND_PREFIXES"]

log = logging.getLogger(__name__)

#: Word starts that make a real hyphenated compound when split at a line end
#: ("well-" + "led" stays "well-led"); other splits are joined ("govern-ance").
COMPOUND_PREFIXES = frozenset(
    """
    well self co non cross long short high low multi inter intra post pre ex part full year end face
    sub anti one two three four five six seven eight nine ten first second third half mid semi pro
    vice out over under up down follow decision risk cost value place system trust board patient
    person people evidence data value-for best world good front back step lead team staff user carer
    in on off age gender time day week month quarter x e re de by
    """.split()
)
_SOFT_HYPHENS = "\ufffe\u00ad\x02"
_SOFT_RE = re.compile(r"(\w*)[\ufffe\u00ad\x02]\s*(\w*)")
_SENTENCE_END = tuple(".!?:;")
_PAGE_NUMBER_RE = re.compile(
    r"^(?:page\s*#+(?:\s*(?:of|/)\s*#+)?|#+\s*(?:of|/)\s*#+|-\s*#+\s*-|#+|[ivxlc]{1,6}|#+\s*\|\s*page|page\s*\|\s*#+)$",
    re.I,
)
_DIGITS_RE = re.compile(r"\d+")
#: A short header or footer line that ends with its page number or a protective marking
#: ("Thornbury Vale NHS Trust    Page 1", "Audit Committee - 17 June 2025    OFFICIAL"): furniture
#: even on a one-page paper, where no repetition can show it (digits already read as "#").
_FURNITURE_END_RE = re.compile(
    r"^(?:[^.!?]{0,100}\s)?(?:page\s*#+(?:\s*(?:of|/)\s*#+)?|official(?:\s*[-:]\s*sensitive)?)$",
    re.I,
)

# pdfium page object types
_OBJ_TEXT, _OBJ_PATH, _OBJ_IMAGE, _OBJ_SHADING, _OBJ_FORM = 1, 2, 3, 4, 5


def _join_fragment(left: str, right: str) -> str:
    """Join a word split at a line end by a hyphen."""
    word = re.split(r"[^\w]", left)[-1] if left else ""
    if (
        not word
        or not right
        or word.lower() in COMPOUND_PREFIXES
        or word[-1:].isdigit()
        or right[:1].isdigit()
        or right[:1].isupper()
    ):
        return f"{left}-{right}"
    return f"{left}{right}"


def fix_soft_hyphens(text: str) -> str:
    """Resolve the soft-hyphen marks pdfium leaves where it joined a hyphenated line."""
    if not any(ch in text for ch in _SOFT_HYPHENS):
        return text
    return _SOFT_RE.sub(lambda m: _join_fragment(m.group(1), m.group(2)), text)


def join_lines(a: str, b: str) -> str:
    """Join two lines of one paragraph, undoing line-end hyphenation."""
    if not a:
        return b
    if not b:
        return a
    if a.endswith("-") and len(a) > 1 and a[-2].isalnum() and b[:1].isalnum():
        left = a[:-1]
        m = re.search(r"(\w+)$", left)
        word = m.group(1) if m else ""
        first = re.match(r"\w*", b).group(0)  # type: ignore[union-attr]
        joined = _join_fragment(word, first)
        return left[: len(left) - len(word)] + joined + b[len(first) :]
    return f"{a} {b}"


@dataclass(slots=True)
class _Line:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float  # bottom of the last character (pdf points, y up)
    fbottom: float  # bottom of the first character
    size: float
    bold: bool
    drop: bool = False
    first: int = -1  # index of the first character in the pdfium text page
    last: int = -1  # index of the last character


@dataclass(slots=True)
class _Table:
    x0: float
    top: float  # pdfium coordinates (y up)
    x1: float
    bottom: float
    rows: list[list[str | None]]

    def contains(self, line: _Line) -> bool:
        cy = (line.fbottom + line.top) / 2
        return self.x0 - 2 <= line.x0 <= self.x1 + 2 and self.bottom - 2 <= cy <= self.top + 2


@dataclass(slots=True)
class _Page:
    number: int
    width: float
    height: float
    lines: list[_Line]
    rulings: int = 0
    images: int = 0
    tables: list[_Table] = field(default_factory=list)
    needs_plumber: bool = False
    annots: int = 0  # form fields, notes and text boxes drawn as annotations (counted on pages with no text)


@functools.lru_cache(maxsize=1)
def _ocr_available() -> bool:
    return shutil.which("tesseract") is not None and importlib.util.find_spec("pytesseract") is not None


def _has_eof_marker(path: Path) -> bool:
    """True when the last KB of the file holds "%%EOF" (a complete PDF ends with it)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 1024))
            return b"%%EOF" in fh.read()
    except OSError:
        return False


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    start = prev = numbers[0]
    for n in numbers[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out)


class PdfBackend(ExtractingBackend):
    """Read a PDF: pypdfium2 for text, pdfplumber for pages with tables."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset({SourceFormat.PDF})

    #: pdfplumber table settings (the default "lines" strategy).
    table_settings: ClassVar[dict[str, Any]] = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}

    def extract(self, path: Path, limits: Limits) -> Extraction:
        import pypdfium2 as pdfium

        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            msg = str(exc)
            if "password" in msg.lower():
                raise DocumentLoadError("encrypted PDF (password required)") from exc
            if not _has_eof_marker(path):
                raise DocumentLoadError(f"truncated PDF: no end-of-file marker, the file is incomplete ({msg})") from exc
            raise DocumentLoadError(f"corrupt or unreadable PDF ({msg})") from exc
        warnings: list[str] = []
        meta: dict[str, Any] = {}
        stats = _FontStats()
        running = _RunningLines(window=RUNNING_WINDOW)
        assembler = _Assembler(stats)
        buffer: deque[_Page] = deque()
        no_text: list[int] = []
        annot_only: list[int] = []
        ocr_pages: list[int] = []
        plumber_pages: list[int] = []
        table_pages = 0

        def finish_page(page: _Page) -> None:
            nonlocal table_pages
            running.drop(page)
            if page.needs_plumber:  # rulings inside form XObjects: let pdfplumber parse this page
                self._find_tables(path, [page], warnings)
                plumber_pages.append(page.number)
                if page.tables:
                    stats.discount_tables(page)
            table_pages += bool(page.tables)
            assembler.add_page(page)

        try:
            n = len(pdf)
            if n == 0:
                raise DocumentLoadError("PDF has no pages")
            if n > limits.max_pages:
                raise ResourceLimitError(f"PDF has {n} pages, over the limit of {limits.max_pages} (max_pages)")
            try:
                md = pdf.get_metadata_dict(skip_empty=True)
            except Exception:  # noqa: BLE001 - metadata is optional
                md = {}
            title = md.get("Title")
            # Pages stream through a window: a page is laid out once the pages
            # RUNNING_WINDOW after it are read, so memory does not grow with length.
            for i in range(n):
                page = self._read_page(pdf, i)
                if not page.lines and page.images:
                    if limits.ocr and _ocr_available() and len(ocr_pages) < limits.max_ocr_pages:
                        page.lines = self._ocr_lines(pdf, i, page)
                        ocr_pages.append(i + 1)
                    else:
                        no_text.append(i + 1)
                elif not page.lines and page.annots:
                    annot_only.append(i + 1)
                stats.add(page)
                running.add(page)
                buffer.append(page)
                while buffer and buffer[0].number + RUNNING_WINDOW <= page.number:
                    finish_page(buffer.popleft())
            while buffer:
                finish_page(buffer.popleft())
        finally:
            pdf.close()
        if no_text:
            which = "pages" if len(no_text) > 1 else "page"
            warnings.append(f"{which} {_ranges(no_text)} {'have' if len(no_text) > 1 else 'has'} no text layer (needs OCR)")
            meta["pages_needing_ocr"] = no_text
        if annot_only:
            which = "pages" if len(annot_only) > 1 else "page"
            warnings.append(
                f"{which} {_ranges(annot_only)} {'hold' if len(annot_only) > 1 else 'holds'} text only in form fields "
                "or annotations, which are not read"
            )
        if ocr_pages:
            which = "pages" if len(ocr_pages) > 1 else "page"
            verb = "were" if len(ocr_pages) > 1 else "was"
            warnings.append(f"{which} {_ranges(ocr_pages)} had no text layer and {verb} OCR'd with tesseract")
            meta["ocr_pages"] = ocr_pages
        if running.removed:
            meta["running_lines_removed"] = sorted(running.removed)[:20]
        if plumber_pages:
            meta["pdfplumber_pages"] = plumber_pages
        meta["table_pages"] = table_pages
        return Extraction(
            blocks=build_blocks(assembler.finish()),
            page_count=n,
            title=title,
            warnings=warnings,
            meta=meta,
        )

    def _read_page(self, pdf: Any, index: int) -> _Page:
        import pypdfium2.raw as c

        page = pdf[index]
        try:
            width, height = page.get_size()
            edges, images, form_paths = _scan_objects(page.raw, c, height)
            tp = page.get_textpage()
            try:
                lines = self._lines(tp, c)
                tables = _tables_from_edges(edges, tp, height, lines) if len(edges) >= 4 and lines else []
            finally:
                tp.close()
            annots = 0 if lines else _text_annotations(page.raw, c)
        finally:
            page.close()
        result = _Page(index + 1, width, height, lines, len(edges), images, tables, annots=annots)
        result.needs_plumber = not tables and form_paths >= 4 and bool(lines)
        return result

    @staticmethod
    def _lines(tp: Any, c: Any) -> list[_Line]:
        text = tp.get_text_range()
        lines: list[_Line] = []
        buf = ctypes.create_string_buffer(96)
        flags = ctypes.c_int()
        fonts: dict[bytes, bool] = {}
        pos = 0
        raw = tp.raw
        for seg in text.split("\r\n"):
            start = pos
            pos += len(seg) + 2
            stripped = seg.strip()
            if not stripped:
                continue
            fi = start + (len(seg) - len(seg.lstrip()))
            li = start + len(seg.rstrip()) - 1
            try:
                fb = tp.get_charbox(fi, loose=True)
                lb = tp.get_charbox(li, loose=True) if li != fi else fb
            except Exception:  # noqa: BLE001 - odd index mapping; skip geometry
                fb = lb = (0.0, 0.0, 0.0, 0.0)
            mid = (fi + li) // 2
            size = round(c.FPDFText_GetFontSize(raw, mid) * 2) / 2

            def is_bold(index: int) -> bool:
                c.FPDFText_GetFontInfo(raw, index, buf, 96, ctypes.byref(flags))
                name = buf.value
                known = fonts.get(name)
                if known is None:
                    lname = name.lower()
                    known = any(w in lname for w in (b"bold", b"black", b"heavy", b"semibold", b"demi")) or bool(
                        flags.value & 0x40000
                    )
                    fonts[name] = known
                return known

            # A line is bold only when it is bold throughout (a bold name inside a sentence is not a heading).
            bold = is_bold(mid) and is_bold(fi) and is_bold(li)
            lines.append(
                _Line(
                    text=clean_line(fix_soft_hyphens(stripped.replace("\r", " ").replace("\n", " "))),
                    x0=fb[0],
                    x1=max(lb[2], fb[2]),
                    top=max(fb[3], lb[3]),
                    bottom=min(lb[1], fb[1]),
                    fbottom=fb[1],
                    size=size,
                    bold=bold,
                    first=fi,
                    last=li,
                )
            )
        return [ln for ln in lines if ln.text]

    @staticmethod
    def _ocr_lines(pdf: Any, index: int, page: _Page) -> list[_Line]:
        import pytesseract

        pg = pdf[index]
        try:
            image = pg.render(scale=300 / 72).to_pil()
        finally:
            pg.close()
        text = pytesseract.image_to_string(image)
        out: list[_Line] = []
        y = page.height - 72
        for para in re.split(r"\n\s*\n", text):
            joined = ""
            for line in para.splitlines():
                line = clean_line(line)
                if line:
                    joined = join_lines(joined, line)
            if joined:
                out.append(_Line(joined, 72, page.width - 72, y, y - 12, y - 12, 10.0, False))
                y -= 30  # a paragraph gap between OCR paragraphs
        return out

    # ------------------------------------------------------------------ running headers/footers

    # ------------------------------------------------------------------ tables

    def _find_tables(self, path: Path, candidates: list[_Page], warnings: list[str]) -> None:
        import pdfplumber

        numbers = [p.number for p in candidates]
        try:
            with pdfplumber.open(str(path), pages=numbers) as plumb:
                for page_data, ppage in zip(candidates, plumb.pages, strict=False):
                    try:
                        found = ppage.find_tables(self.table_settings)
                        for table in found:
                            rows = table.extract()
                            x0, top, x1, bottom = table.bbox
                            if not _is_real_table(rows):
                                continue
                            page_data.tables.append(
                                _Table(x0, page_data.height - top, x1, page_data.height - bottom, rows)
                            )
                    except Exception as exc:  # noqa: BLE001 - keep the text even if tables fail
                        warnings.append(f"page {page_data.number}: tables not read ({type(exc).__name__})")
                    finally:
                        ppage.close()
        except Exception as exc:  # noqa: BLE001
            warnings.append(f"tables not read ({type(exc).__name__}: {exc})")


#: Pages either side of a page that decide whether its top and bottom lines are running heads.
RUNNING_WINDOW = 10


class _RunningLines:
    """Running headers, footers and page numbers, found over a window of pages.

    A line in the top or bottom band of a page (its three highest or lowest
    lines, within the top or bottom fifth) is running when the same line,
    digits ignored, sits in the same band on at least half the pages within
    ``window`` pages either side (at least two). Annual reports change their
    running header section by section; a window follows that. Page-number
    lines ("Page 3 of 12", "- 3 -", "iv") and short band lines ending in a page
    number or a protective marking ("Trust name   Page 1", "... OFFICIAL") are
    always dropped, so a one-page paper loses its header and footer too.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self.keys: dict[int, set[str]] = {}  # page number -> band keys (kept for every page: small)
        self.cands: dict[int, list[tuple[_Line, str]]] = {}  # for pages not yet laid out
        self.removed: set[str] = set()

    def add(self, page: _Page) -> None:
        cands: list[tuple[_Line, str]] = []
        if page.lines:
            by_y = sorted(page.lines, key=lambda ln: -ln.top)
            top_band = [ln for ln in by_y[:3] if ln.fbottom >= page.height * 0.80]
            bottom_band = [ln for ln in by_y[-3:] if ln.top <= page.height * 0.20]
            for band, group in (("top", top_band), ("bottom", bottom_band)):
                for ln in group:
                    cands.append((ln, band + ":" + _DIGITS_RE.sub("#", " ".join(ln.text.lower().split()))))
        self.keys[page.number] = {k for _, k in cands} if page.lines else set()
        self.cands[page.number] = cands

    def drop(self, page: _Page) -> None:
        """Mark the running lines of ``page`` (needs the pages up to ``window`` after it added)."""
        cands = self.cands.pop(page.number, [])
        lo, hi = page.number - self.window, page.number + self.window
        near = [self.keys[p] for p in range(lo, hi + 1) if p in self.keys and self.keys[p]]
        threshold = max(2, math.ceil(len(near) * 0.5))
        for ln, key in cands:
            text = key.split(":", 1)[1]
            if _PAGE_NUMBER_RE.match(text) or (len(text.split()) <= 14 and _FURNITURE_END_RE.match(text)) or (
                len(near) >= 2 and sum(1 for ks in near if key in ks) >= threshold
            ):
                ln.drop = True
                if len(self.removed) < 200:
                    self.removed.add(ln.text)


class _FontStats:
    """Font sizes and line spacing seen so far: body size, heading sizes, usual pitch."""

    def __init__(self) -> None:
        self.sizes: Counter[float] = Counter()
        self.pitches: dict[float, Counter[float]] = defaultdict(Counter)
        self._cached: tuple[float, frozenset[float], dict[float, float]] | None = None

    def add(self, page: _Page) -> None:
        """Count a page's lines; lines inside its tables do not count.

        Table cells are usually set smaller than the body; a table-heavy
        report would otherwise make the table size the "body" size, and every
        normal paragraph would look like a heading.
        """
        prev: _Line | None = None
        for ln in page.lines:
            if page.tables and any(t.contains(ln) for t in page.tables):
                prev = None
                continue
            self.sizes[ln.size] += len(ln.text)
            if prev is not None and prev.size == ln.size:
                gap = prev.bottom - ln.fbottom
                if ln.size * 0.8 <= gap <= ln.size * 2.5:
                    self.pitches[ln.size][round(gap * 2) / 2] += 1
            prev = ln
        self._cached = None

    def discount_tables(self, page: _Page) -> None:
        """Take back the lines of tables found after the page was counted (pdfplumber pages)."""
        for ln in page.lines:
            if any(t.contains(ln) for t in page.tables) and self.sizes.get(ln.size, 0) > 0:
                self.sizes[ln.size] = max(0, self.sizes[ln.size] - len(ln.text))
        self.sizes += Counter()  # drop zero counts
        self._cached = None

    def _compute(self) -> tuple[float, frozenset[float], dict[float, float]]:
        if self._cached is None:
            body = self.sizes.most_common(1)[0][0] if self.sizes else 10.0
            headings = frozenset(s for s in self.sizes if s >= body * 1.15 and s > 0)
            pitch = {s: cnt.most_common(1)[0][0] for s, cnt in self.pitches.items() if cnt}
            self._cached = (body, headings, pitch)
        return self._cached

    @property
    def body(self) -> float:
        return self._compute()[0]

    @property
    def heading_sizes(self) -> frozenset[float]:
        return self._compute()[1]

    @property
    def pitch(self) -> dict[float, float]:
        return self._compute()[2]


def _size_level(size: float) -> int:
    """Heading level from font size alone: larger type, higher level (smaller number).

    Stable while pages stream in, unlike a rank among the sizes seen so far.
    """
    return int(round(1000 - size * 10))


class _Assembler:
    """Lays pages out into raw blocks, one page at a time, in reading order.

    Keeps what must cross page breaks: a table running over onto the next
    page (its header and row count), a header row left alone at the foot of
    a page, and the paragraph a page break cut in two.
    """

    def __init__(self, stats: _FontStats) -> None:
        self.stats = stats
        self.raw: list[RawBlock] = []
        self.table_no = 0
        self.last_table: dict[str, Any] | None = None  # n_cols, header, ended_page, rows, caption
        self.pending: RawBlock | None = None  # a lone header row at the foot of the last page

    def finish(self) -> list[RawBlock]:
        if self.pending is not None:
            self.raw.append(self.pending)
            self.pending = None
        return self.raw

    def add_page(self, page: _Page) -> None:
        raw = self.raw
        items = _page_items(page)
        if self.pending is not None and not (items and isinstance(items[0], _Table)):
            raw.append(self.pending)
            self.pending = None
        body, heading_sizes, pitch = self.stats.body, self.stats.heading_sizes, self.stats.pitch
        right_edge = _right_edges(page)
        first_on_page = True
        para: list[_Line] = []

        def flush() -> None:
            if not para:
                return
            text = ""
            for ln in para:
                text = join_lines(text, ln.text)
            kind = _paragraph_kind(text)
            if kind is BlockKind.LIST_ITEM:
                text = list_item_text(text)
            _append_paragraph(raw, RawBlock(kind, text, page=page.number))
            para.clear()

        i = 0
        while i < len(items):
            item = items[i]
            if isinstance(item, _Table):
                flush()
                self._add_table(item, page, first_on_page, last=i == len(items) - 1)
                first_on_page = False
                i += 1
                continue
            line = item
            first_on_page = False
            found = _heading_level(line, body, heading_sizes)
            if (
                found is not None
                and para
                and line.size == para[-1].size
                and not para[-1].text.endswith(_SENTENCE_END)
                and _continues(para, line, pitch, right_edge)
            ):
                found = None  # the sentence above runs on into this line: not a heading
            if found is not None:
                level, tentative = found
                flush()
                text = line.text
                j = i + 1
                # A heading over several lines: same style, close below.
                while (
                    j < len(items)
                    and isinstance(items[j], _Line)
                    and items[j].size == line.size
                    and items[j].bold == line.bold
                    and 0 < items[j - 1].bottom - items[j].fbottom <= line.size * 1.6
                    and len(text) + len(items[j].text) <= 200
                    and not _starts_item(items[j].text)
                ):
                    text = join_lines(text, items[j].text)
                    j += 1
                if (tentative and not looks_like_heading(text, max_words=20)) or is_sentence_like(text):
                    para.extend(items[i:j])  # type: ignore[arg-type]  # a bold paragraph, not a heading
                    flush()
                else:
                    raw.append(RawBlock(BlockKind.HEADING, text, page=page.number, level=level))
                i = j
                continue
            if para and not _continues(para, line, pitch, right_edge):
                flush()
            para.append(line)
            i += 1
        flush()

    def _add_table(self, item: _Table, page: _Page, first_on_page: bool, *, last: bool) -> None:
        raw = self.raw
        last_table = self.last_table
        self.table_no += 1
        cont = (
            last_table is not None
            and first_on_page
            and last_table["ended_page"] == page.number - 1
            and last_table["n_cols"] == len(item.rows[0])
        )
        cells = [[_cell(c) for c in r] for r in item.rows]
        if self.pending is not None and not cont:
            raw.append(self.pending)  # the lone header row was not continued after all
        self.pending = None
        if len(cells) == 1 and not cont:
            joined = " | ".join(c for c in cells[0] if c)
            if last and looks_like_header_row(cells[0]):
                # A header row alone at the foot of a page: its table goes on overleaf.
                self.last_table = {"n_cols": len(cells[0]), "header": [c or "" for c in cells[0]],
                                   "ended_page": page.number, "rows": 0, "caption": None}  # fmt: skip
                self.pending = RawBlock(BlockKind.PARAGRAPH, joined, page=page.number)
            else:
                self.table_no -= 1
                raw.append(RawBlock(BlockKind.PARAGRAPH, joined, page=page.number))
            return
        caption = last_table["caption"] if cont and last_table else None
        if not cont:
            caption, cells = pop_caption(cells)
        header, body = split_header(cells, last_table["header"] if cont and last_table else None)
        context = (caption,) if caption else ()
        if cont:
            self.table_no -= 1
        first_row = last_table["rows"] + 1 if cont and last_table else 1
        for r, row in enumerate(body, start=first_row):
            text = row_text(header, row)
            if text:
                raw.append(
                    RawBlock(BlockKind.TABLE_ROW, text, page=page.number, location=f"table {self.table_no}, row {r}", context=context)
                )
        self.last_table = {
            "n_cols": len(item.rows[0]),
            "header": header,
            "ended_page": page.number if last else -1,
            "rows": first_row - 1 + len(body),
            "caption": caption,
        }


#: The end of a line cut in mid-sentence: a lower-case word, a comma, or an open bracket ("(action", "(BoD").
_MID_SENTENCE_TAIL_RE = re.compile(r"(?:[a-z,(]|\([A-Za-z]+)$")


def _append_paragraph(raw: list[RawBlock], block: RawBlock) -> None:
    """Append, joining a paragraph that a page break cut in two."""
    prev = raw[-1] if raw else None
    if (
        prev is not None
        and block.page is not None
        and prev.page is not None
        and (prev.page_end or prev.page) == block.page - 1
        and prev.kind in (BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.MINUTE_ITEM)
        and block.kind in (BlockKind.PARAGRAPH, BlockKind.MINUTE_ITEM)
        and not prev.text.rstrip().endswith(_SENTENCE_END + ('"', "”", ")"))
        and (
            block.text[:1].islower()
            or prev.text.endswith("-")
            or (_starts_with_number(block.text) and _MID_SENTENCE_TAIL_RE.search(prev.text) is not None)
        )
    ):
        prev.text = join_lines(prev.text, block.text)
        prev.page_end = block.page
        return
    raw.append(block)


def _text_annotations(raw_page: Any, c: Any) -> int:
    """How many annotations on a page can carry text: form fields, notes, free-text boxes."""
    kinds = (c.FPDF_ANNOT_WIDGET, c.FPDF_ANNOT_TEXT, c.FPDF_ANNOT_FREETEXT)
    count = 0
    for k in range(min(c.FPDFPage_GetAnnotCount(raw_page), 1000)):
        annot = c.FPDFPage_GetAnnot(raw_page, k)
        if not annot:
            continue
        try:
            count += c.FPDFAnnot_GetSubtype(annot) in kinds
        finally:
            c.FPDFPage_CloseAnnot(annot)
    return count


_SEG_LINETO, _SEG_MOVETO = 0, 2
_MAX_PATHS = 5000
_MAX_SEGMENTS = 64


def _scan_objects(raw_page: Any, c: Any, height: float) -> tuple[list[dict[str, Any]], int, int]:
    """Ruling lines of a page as pdfplumber-style edges, image count, paths inside forms.

    Only straight horizontal and vertical path segments count; long
    curvy paths (charts, logos) are skipped.
    """
    edges: list[dict[str, Any]] = []
    images = form_paths = 0
    n = c.FPDFPage_CountObjects(raw_page)
    if n > 50_000:
        return edges, 0, 0
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    x, y = ctypes.c_float(), ctypes.c_float()
    matrix = c.FS_MATRIX()
    paths = 0

    def add(x0: float, y0: float, x1: float, y1: float) -> None:
        dx, dy = abs(x1 - x0), abs(y1 - y0)
        if dy < 1 and dx >= 1:
            yy = height - (y0 + y1) / 2
            lo, hi = min(x0, x1), max(x0, x1)
            edges.append(
                {"x0": lo, "x1": hi, "top": yy, "bottom": yy, "width": hi - lo, "height": 0.0, "orientation": "h", "object_type": "line"}
            )
        elif dx < 1 and dy >= 1:
            xx = (x0 + x1) / 2
            lo, hi = height - max(y0, y1), height - min(y0, y1)
            edges.append(
                {"x0": xx, "x1": xx, "top": lo, "bottom": hi, "width": 0.0, "height": hi - lo, "orientation": "v", "object_type": "line"}
            )

    for j in range(n):
        obj = c.FPDFPage_GetObject(raw_page, j)
        kind = c.FPDFPageObj_GetType(obj)
        if kind == _OBJ_IMAGE:
            images += 1
            continue
        if kind == _OBJ_FORM:
            for k in range(min(c.FPDFFormObj_CountObjects(obj), 5000)):
                t = c.FPDFPageObj_GetType(c.FPDFFormObj_GetObject(obj, k))
                if t == _OBJ_PATH:
                    form_paths += 1
                elif t == _OBJ_IMAGE:
                    images += 1
            continue
        if kind != _OBJ_PATH:
            continue
        paths += 1
        if paths > _MAX_PATHS:
            break
        if not c.FPDFPageObj_GetBounds(obj, ctypes.byref(left), ctypes.byref(bottom), ctypes.byref(right), ctypes.byref(top)):
            continue
        w, h = right.value - left.value, top.value - bottom.value
        if h <= 2 and w >= 3:  # a horizontal rule
            mid = (bottom.value + top.value) / 2
            add(left.value, mid, right.value, mid)
            continue
        if w <= 2 and h >= 3:  # a vertical rule
            mid = (left.value + right.value) / 2
            add(mid, bottom.value, mid, top.value)
            continue
        if w < 3 or h < 3:
            continue
        nseg = c.FPDFPath_CountSegments(obj)
        if nseg <= 0 or nseg > _MAX_SEGMENTS:
            continue
        c.FPDFPageObj_GetMatrix(obj, ctypes.byref(matrix))
        ma, mb, mc, md, me, mf = matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f
        start = prev = None
        for k in range(nseg):
            seg = c.FPDFPath_GetPathSegment(obj, k)
            c.FPDFPathSegment_GetPoint(seg, ctypes.byref(x), ctypes.byref(y))
            pt = (ma * x.value + mc * y.value + me, mb * x.value + md * y.value + mf)
            typ = c.FPDFPathSegment_GetType(seg)
            if typ == _SEG_MOVETO:
                start = prev = pt
                continue
            if typ == _SEG_LINETO and prev is not None:
                add(prev[0], prev[1], pt[0], pt[1])
            prev = pt
            if c.FPDFPathSegment_GetClose(seg) and start is not None:
                add(pt[0], pt[1], start[0], start[1])
                prev = start
    if not any(e["orientation"] == "h" for e in edges) or not any(e["orientation"] == "v" for e in edges):
        edges = []
    return edges, images, form_paths


class _TableChars:
    """Characters of the text lines that cross a table, with their centres.

    A character belongs to a cell when its centre is inside the cell, as in
    pdfplumber (pdfium's own bounded-text call takes any character whose box
    touches the rectangle, so descenders from the line above leak in). Only
    the lines over the table are measured, which keeps this cheap.
    """

    def __init__(self, tp: Any, lines: list[_Line], bbox: tuple[float, float, float, float], height: float) -> None:
        x0, top, x1, bottom = bbox
        y_hi, y_lo = height - top + 2, height - bottom - 2
        self.text = tp.get_text_range()
        chars: list[tuple[float, float, int]] = []
        for ln in lines:
            if ln.first < 0 or not (y_lo <= (ln.fbottom + ln.top) / 2 <= y_hi) or ln.x1 < x0 or ln.x0 > x1:
                continue
            for i in range(ln.first, ln.last + 1):
                if self.text[i] in "\r\n":
                    continue
                left, bot, right, tp_ = tp.get_charbox(i)
                chars.append((height - (bot + tp_) / 2, (left + right) / 2, i))
        chars.sort()
        self.chars = chars
        self.keys = [ch[0] for ch in chars]

    def text_in(self, bbox: tuple[float, float, float, float]) -> str:
        x0, top, x1, bottom = bbox
        lo = bisect.bisect_left(self.keys, top)
        hi = bisect.bisect_right(self.keys, bottom)
        idx = sorted(i for _, cx, i in self.chars[lo:hi] if x0 <= cx <= x1)
        out: list[str] = []
        prev = None
        for i in idx:
            if prev is not None and i != prev + 1:
                out.append("\n" if "\n" in self.text[prev + 1 : i] else " ")
            out.append(self.text[i])
            prev = i
        return "".join(out)


def _tables_from_edges(edges: list[dict[str, Any]], tp: Any, height: float, lines: list[_Line]) -> list[_Table]:
    """Tables from ruling lines with pdfplumber's table finder; cell text from pdfium."""
    from pdfplumber import utils
    from pdfplumber.table import (
        Table,
        TableSettings,
        cells_to_tables,
        edges_to_intersections,
        intersections_to_cells,
        merge_edges,
    )

    st = TableSettings.resolve(PdfBackend.table_settings)
    merged = merge_edges(
        utils.filter_edges(edges, min_length=st.edge_min_length_prefilter),
        snap_x_tolerance=st.snap_x_tolerance,
        snap_y_tolerance=st.snap_y_tolerance,
        join_x_tolerance=st.join_x_tolerance,
        join_y_tolerance=st.join_y_tolerance,
    )
    merged = utils.filter_edges(merged, min_length=st.edge_min_length)
    intersections = edges_to_intersections(merged, st.intersection_x_tolerance, st.intersection_y_tolerance)
    out: list[_Table] = []
    groups = cells_to_tables(intersections_to_cells(intersections))
    if not groups:
        return out
    for group in groups:
        table = Table(None, group)  # type: ignore[arg-type]  # .rows needs no page
        chars = _TableChars(tp, lines, table.bbox, height)
        rows: list[list[str | None]] = []
        for row in table.rows:
            # None marks a cell covered by a merged cell.
            rows.append([None if bbox is None else chars.text_in(bbox) for bbox in row.cells])
        if not _is_real_table(rows):
            continue
        x0, top, x1, bottom = table.bbox
        out.append(_Table(x0, height - top, x1, height - bottom, rows))
    return out


def _is_real_table(rows: list[list[str | None]]) -> bool:
    if not rows or max(len(r) for r in rows) < 2:
        return False
    if len(rows) == 1:  # maybe a header row whose table goes on overleaf
        return sum(1 for c in rows[0] if c and c.strip()) >= 2
    cells = [c for r in rows for c in r]
    filled = sum(1 for c in cells if c and c.strip())
    return filled >= max(3, len(cells) * 0.3)


def _cell(text: str | None) -> str | None:
    if text is None:
        return None
    out = ""
    for line in text.splitlines():
        line = clean_line(fix_soft_hyphens(line))
        if line:
            out = join_lines(out, line)
    return out


def _page_items(page: _Page) -> list[_Line | _Table]:
    """Lines (minus running lines) in pdfium order, with each table at its place."""
    lines = [ln for ln in page.lines if not ln.drop]
    if not page.tables:
        return list(lines)
    items: list[_Line | _Table] = []
    placed: set[int] = set()
    for ln in lines:
        owner = next((k for k, t in enumerate(page.tables) if t.contains(ln)), None)
        if owner is None:
            # Tables with no text line inside (pdfium saw none) go before the first line below them.
            for k, t in enumerate(page.tables):
                if k not in placed and ln.top < t.bottom and t.x0 - 2 <= ln.x0 <= t.x1:
                    placed.add(k)
                    items.append(t)
            items.append(ln)
        elif owner not in placed:
            placed.add(owner)
            items.append(page.tables[owner])
    for k, t in enumerate(page.tables):
        if k not in placed:
            items.append(t)
    return items


def _right_edges(page: _Page) -> dict[int, float]:
    """Right margin of the text starting at each left edge (6 pt buckets).

    The 80th percentile of the lines' right ends, not the widest line, so a
    full-width title above a two-column page does not move the column's margin.
    """
    ends: dict[int, list[float]] = defaultdict(list)
    for ln in page.lines:
        ends[int(ln.x0 // 6)].append(ln.x1)
    edges: dict[int, float] = {}
    for b, xs in ends.items():
        xs.sort()
        edges[b] = xs[min(len(xs) - 1, int(len(xs) * 0.8))] if len(xs) >= 5 else xs[-1]
    return edges


_SYMBOL_BULLET_RE = re.compile(r"^[•▪◦●○■□►‣⁃∙·*\-–—](?=\s)")


def _starts_item(text: str) -> bool:
    return bool(BULLET_RE.match(text) or minute_number(text) or NUMBERED_ITEM_RE.match(text))


def _starts_with_number(text: str) -> bool:
    """A line that starts with a number or reference: an item only after a sentence end."""
    return _starts_item(text) and not _SYMBOL_BULLET_RE.match(text)


def _heading_level(line: _Line, body: float, heading_sizes: frozenset[float]) -> tuple[int, bool] | None:
    """(level, tentative) when ``line`` may be a heading, else None.

    Larger type makes a heading by size; a whole-bold line of body size makes
    a heading below those (numbered ones by their depth). Tentative headings
    (a minute item title, a long bold line) become a paragraph if they turn
    out long once their lines are joined.
    """
    text = line.text
    if len(text) > 200 or not re.search(r"[A-Za-z]", text):
        return None
    if is_sentence_like(text):
        return None  # body text, whatever its size or weight
    if line.size in heading_sizes:
        return _size_level(line.size), False
    if not line.bold or line.size < body * 0.95:
        return None
    base = _size_level(body)
    if looks_like_heading(text, max_words=16):
        if minute_number(text):
            return HeadingTracker.MINUTE_LEVEL, True
        m = NUMBERED_HEADING_RE.match(text)
        if m:
            return base + m.group(1).count(".") + 1, False
        return base + 1, False
    return base + 1, True  # maybe a bold paragraph: decided once its lines are joined


def _continues(para: list[_Line], line: _Line, pitch: dict[float, float], right_edge: dict[int, float]) -> bool:
    prev = para[-1]
    if abs(line.size - prev.size) > 0.6:
        return False
    if line.top > prev.top + 2:  # moved up: a new column or a new text box
        # ... unless a sentence cut at the foot of a column goes on at the top of the next one.
        return line.x0 > prev.x0 + 40 and line.text[:1].islower() and not prev.text.endswith(_SENTENCE_END)
    gap = prev.bottom - line.fbottom
    normal = pitch.get(line.size, line.size * 1.2)
    if gap <= 0 or gap > normal * 1.3 + 1:
        return False
    ends_sentence = prev.text.endswith((".", "!", "?", ":", '."', ".”", ".)"))
    right = right_edge.get(int(para[0].x0 // 6), prev.x1)
    width = max(right - para[0].x0, 1.0)
    if _starts_item(line.text):
        # "... improved to" / "1.52 (2024: 1.71) ...": a number or minute reference at the start
        # of a line starts an item only after a sentence end, not when the line above was
        # filled to the margin in mid-sentence.
        if not (
            _starts_with_number(line.text)
            and not prev.text.endswith(_SENTENCE_END)
            and prev.x1 >= right - 0.12 * width
        ):
            return False
        return True
    if line.text[:1].islower():
        return True  # a sentence does not start in lower case: same paragraph
    if ends_sentence and _starts_item(para[0].text):
        hanging = para[1].x0 if len(para) > 1 else para[0].x0 + line.size * 0.8
        if line.x0 < hanging - 4:
            return False  # back out of a list item's hanging indent: the text after the list
    if ends_sentence and prev.x1 < right - 0.12 * width:
        return False  # short last line of a paragraph
    if ends_sentence and line.x0 > para[0].x0 + line.size * 0.8 and len(para) > 1:
        return False  # indented first line of a new paragraph
    return True


def _paragraph_kind(text: str) -> BlockKind:
    from pipeline.ingest._blocks import paragraph_kind

    return paragraph_kind(text)


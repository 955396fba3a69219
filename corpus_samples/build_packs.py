"""Render sample trust packs from their source files.

Each pack lives in ``corpus_samples/packs_src/<pack-slug>/`` as a ``pack.yaml``,
a ``README.md`` and one source file per output document (``<stem>.md`` for
text documents, ``<stem>.yaml`` for spreadsheets). This script turns them into
the real files a trust would send (PDF, DOCX, XLSX, CSV, TXT, HTML, MD) and
writes the pack either as a folder or as a zip under ``corpus_samples/packs/``.
The source format is described in ``corpus_samples/packs_src/FORMAT.md``.

Rendering is deterministic: PDF metadata is invariant, OOXML core-property
dates and every zip member timestamp are fixed, and zip members are sorted, so
rebuilding an unchanged source gives identical bytes.

Usage::

    .venv/bin/python corpus_samples/build_packs.py [PACK ...] [--src DIR] [--out DIR]
"""

from __future__ import annotations

import csv
import html
import io
import logging
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

import yaml

from pipeline.errors import CorpusError

__all__ = [
    "Block",
    "BuiltFile",
    "BuildResult",
    "PackSourceError",
    "build_pack",
    "discover_packs",
    "parse_markdown",
    "render_source",
    "main",
]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DEFAULT_SRC = HERE / "packs_src"
DEFAULT_OUT = HERE / "packs"

#: Every timestamp written into a rendered file or a zip member.
FIXED_DATETIME = datetime(2025, 10, 1, 9, 0, 0)
FIXED_ZIP_TIME = FIXED_DATETIME.timetuple()[:6]
FIXED_W3CDTF = "2025-10-01T09:00:00Z"

TRUST_TYPES = ("acute", "mental_health", "community", "ambulance")
TEXT_FORMATS = (".pdf", ".docx", ".txt", ".html", ".md")
SHEET_FORMATS = (".xlsx", ".csv")
PAGEBREAK = "<!-- pagebreak -->"

class PackSourceError(CorpusError):
    """A pack source file is missing, malformed or names an unknown format."""


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """One block of the Markdown subset.

    Attributes:
        kind: ``heading``, ``para``, ``bullets``, ``numbers``, ``table`` or
            ``pagebreak``.
        text: Heading or paragraph text (inline ``**bold**`` kept).
        level: Heading level 1-3 (0 for other kinds).
        items: List items, or table rows (each a tuple of cells; row 0 is the
            header).
    """

    kind: str
    text: str = ""
    level: int = 0
    items: tuple = ()


@dataclass(frozen=True, slots=True)
class BuiltFile:
    """One rendered document."""

    path: str
    data: bytes
    pages: int | None
    source: str


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What :func:`build_pack` wrote."""

    slug: str
    output: Path
    readme: Path
    files: tuple[BuiltFile, ...] = field(default_factory=tuple)

    @property
    def total_pages(self) -> int:
        """Pages over PDF and DOCX files (DOCX estimated at ~500 words a page)."""
        return sum(f.pages or 0 for f in self.files)


# --------------------------------------------------------------------------
# Source parsing
# --------------------------------------------------------------------------

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?", re.S)
_HEADING = re.compile(r"^(#{1,3})\s+(.*\S)\s*$")
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_NUMBER = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    """Split a ``.md`` source into its YAML front matter and body."""
    m = _FRONT.match(text)
    if not m:
        raise PackSourceError(f"{source}: expected YAML front matter between '---' lines")
    meta = yaml.safe_load(m.group(1)) or {}
    if not isinstance(meta, dict):
        raise PackSourceError(f"{source}: front matter must be a mapping, got {type(meta).__name__}")
    return meta, text[m.end():]


def _table_cells(line: str) -> tuple[str, ...]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return tuple(c.strip() for c in re.split(r"(?<!\\)\|", s))


def parse_markdown(body: str) -> list[Block]:
    """Parse the Markdown subset into blocks.

    Supports ``#``/``##``/``###`` headings, paragraphs (consecutive lines are
    joined), ``- `` bullets, ``1. `` numbered lists, pipe tables with a
    ``|---|`` separator row and ``<!-- pagebreak -->``. Other HTML comments
    are dropped.
    """
    lines = body.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    para: list[str] = []
    i = 0

    def flush() -> None:
        if para:
            blocks.append(Block("para", text=" ".join(p.strip() for p in para)))
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
            continue
        if stripped == PAGEBREAK:
            flush()
            blocks.append(Block("pagebreak"))
            i += 1
            continue
        if stripped.startswith("<!--") and stripped.endswith("-->"):
            i += 1
            continue
        m = _HEADING.match(stripped)
        if m:
            flush()
            blocks.append(Block("heading", text=m.group(2), level=len(m.group(1))))
            i += 1
            continue
        if (stripped.startswith("|") and i + 1 < len(lines)
                and _TABLE_SEP.match(lines[i + 1])):
            flush()
            rows = [_table_cells(stripped)]
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_table_cells(lines[i]))
                i += 1
            width = len(rows[0])
            rows = [tuple(list(r[:width]) + [""] * (width - len(r))) for r in rows]
            blocks.append(Block("table", items=tuple(rows)))
            continue
        for kind, rx in (("bullets", _BULLET), ("numbers", _NUMBER)):
            if rx.match(line):
                flush()  # a list may interrupt a paragraph
                items: list[str] = []
                while i < len(lines) and lines[i].strip():
                    mm = rx.match(lines[i])
                    if mm:
                        items.append(mm.group(1).strip())
                    elif items and lines[i].startswith((" ", "\t")):
                        items[-1] += " " + lines[i].strip()  # continuation line
                    else:
                        break
                    i += 1
                blocks.append(Block(kind, items=tuple(items)))
                break
        else:
            para.append(line)
            i += 1
    flush()
    return blocks


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline_runs(text: str) -> list[tuple[str, bool]]:
    """Split text into ``(segment, bold)`` runs on ``**bold**`` markers."""
    runs: list[tuple[str, bool]] = []
    pos = 0
    for m in _BOLD.finditer(text):
        if m.start() > pos:
            runs.append((text[pos:m.start()], False))
        runs.append((m.group(1), True))
        pos = m.end()
    if pos < len(text):
        runs.append((text[pos:], False))
    return [(t.replace("\\|", "|"), b) for t, b in runs]


def plain(text: str) -> str:
    """Text with inline markers removed."""
    return "".join(t for t, _ in inline_runs(text))


def substitute(template: str, page: int, pages: int) -> str:
    """Fill ``{page}`` and ``{pages}`` in a running header or footer."""
    return template.replace("{page}", str(page)).replace("{pages}", str(pages))


# --------------------------------------------------------------------------
# PDF (reportlab)
# --------------------------------------------------------------------------


#: Tables with at most this many rows are kept on one page with their heading.
KEEP_TABLE_ROWS = 15

BODY_FONT = "Vera"
BOLD_FONT = "VeraBd"


def _register_fonts() -> None:
    """Register the Bitstream Vera fonts shipped inside reportlab.

    A TrueType font is embedded with a ToUnicode map, so bullets, dashes and
    the pound sign extract as the characters they are (the base-14 Helvetica
    maps the bullet to an unmapped code).
    """
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if BODY_FONT in pdfmetrics.getRegisteredFontNames():
        return
    pdfmetrics.registerFont(TTFont(BODY_FONT, "Vera.ttf"))
    pdfmetrics.registerFont(TTFont(BOLD_FONT, "VeraBd.ttf"))
    addMapping(BODY_FONT, 0, 0, BODY_FONT)
    addMapping(BODY_FONT, 1, 0, BOLD_FONT)
    addMapping(BODY_FONT, 0, 1, BODY_FONT)
    addMapping(BODY_FONT, 1, 1, BOLD_FONT)


def _pdf_styles(compact: bool) -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    _register_fonts()
    base = getSampleStyleSheet()
    size = 9.0 if compact else 10.0
    body = ParagraphStyle("Body", parent=base["Normal"], fontName=BODY_FONT,
                          fontSize=size, leading=size * 1.3, spaceAfter=size * 0.6)
    return {
        "body": body,
        "cell": ParagraphStyle("Cell", parent=body, fontSize=size - 1.5,
                               leading=(size - 1.5) * 1.25, spaceAfter=0),
        "cellhead": ParagraphStyle("CellHead", parent=body, fontName=BOLD_FONT,
                                   fontSize=size - 1.5, leading=(size - 1.5) * 1.25,
                                   spaceAfter=0),
        "title": ParagraphStyle("DocTitle", parent=body, fontName=BOLD_FONT,
                                fontSize=size + 8, leading=(size + 8) * 1.2,
                                spaceAfter=size, textColor=colors.HexColor("#003087")),
        1: ParagraphStyle("H1", parent=body, fontName=BOLD_FONT, fontSize=size + 5,
                          leading=(size + 5) * 1.2, spaceBefore=size * 0.8,
                          spaceAfter=size * 0.5, textColor=colors.HexColor("#003087")),
        2: ParagraphStyle("H2", parent=body, fontName=BOLD_FONT, fontSize=size + 2,
                          leading=(size + 2) * 1.2, spaceBefore=size * 0.6,
                          spaceAfter=size * 0.4, textColor=colors.HexColor("#005EB8")),
        3: ParagraphStyle("H3", parent=body, fontName=BOLD_FONT, fontSize=size + 0.5,
                          leading=(size + 0.5) * 1.25, spaceBefore=size * 0.4,
                          spaceAfter=size * 0.3),
        "list": ParagraphStyle("ListItem", parent=body, spaceAfter=size * 0.25),
    }


def _rl_markup(text: str) -> str:
    return "".join(f"<b>{html.escape(t, quote=False)}</b>" if b else html.escape(t, quote=False)
                   for t, b in inline_runs(text))


def _col_widths(rows: tuple[tuple[str, ...], ...], avail: float,
                styles: dict[str, Any]) -> list[float]:
    """Column widths by the HTML auto-layout rule.

    Each column gets at least the width of its longest word and at most the
    width of its longest cell; the space between is shared in proportion to
    how much each column could still use.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth

    pad = 13.0  # left + right cell padding (reportlab default 6 each) and a margin
    ncol = len(rows[0])
    mins, maxs = [], []
    for c in range(ncol):
        lo = hi = 0.0
        for r, row in enumerate(rows):
            st = styles["cellhead" if r == 0 else "cell"]
            text = plain(row[c])
            hi = max(hi, stringWidth(text, st.fontName, st.fontSize))
            for word in text.split():
                lo = max(lo, stringWidth(word, st.fontName, st.fontSize))
        mins.append(lo + pad)
        maxs.append(max(hi, lo) + pad)
    if sum(maxs) <= avail:
        extra = avail - sum(maxs)
        return [m + extra * m / sum(maxs) for m in maxs]
    if sum(mins) >= avail:
        return [avail * m / sum(mins) for m in mins]
    spare = avail - sum(mins)
    want = [hi - lo for lo, hi in zip(mins, maxs)]
    return [lo + spare * w / sum(want) for lo, w in zip(mins, want)]


def _pdf_story(blocks: list[Block], styles: dict[str, Any], avail: float,
               title: str | None) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import (KeepTogether, ListFlowable, ListItem, PageBreak,
                                    Paragraph, Table, TableStyle)

    story: list[Any] = []
    if title:
        story.append(Paragraph(_rl_markup(title), styles["title"]))
    pending_heading: list[Any] = []
    for blk in blocks:
        if blk.kind == "heading":
            pending_heading.append(Paragraph(_rl_markup(blk.text), styles[blk.level]))
            continue
        if blk.kind == "pagebreak":
            story.extend(pending_heading)
            pending_heading = []
            story.append(PageBreak())
            continue
        if blk.kind == "para":
            flow: Any = Paragraph(_rl_markup(blk.text), styles["body"])
        elif blk.kind in ("bullets", "numbers"):
            items = [ListItem(Paragraph(_rl_markup(t), styles["list"]), leftIndent=14)
                     for t in blk.items]
            if blk.kind == "bullets":
                flow = ListFlowable(items, bulletType="bullet", start="\u2022", leftIndent=14,
                                    bulletFontName=BODY_FONT,
                                    bulletFontSize=styles["body"].fontSize)
            else:
                flow = ListFlowable(items, bulletType="1", bulletFormat="%s.", leftIndent=14,
                                    bulletFontName=BODY_FONT,
                                    bulletFontSize=styles["body"].fontSize)
        elif blk.kind == "table":
            rows = blk.items
            data = [[Paragraph(_rl_markup(c), styles["cellhead" if r == 0 else "cell"])
                     for c in row] for r, row in enumerate(rows)]
            flow = Table(data, colWidths=_col_widths(rows, avail, styles), repeatRows=1,
                         hAlign="LEFT")
            flow.setStyle(TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#768692")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8EDEE")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]))
            flow.spaceBefore = styles["body"].fontSize * 0.3
            flow.spaceAfter = styles["body"].fontSize * 0.9
        else:  # pragma: no cover - parse_markdown makes no other kinds
            raise PackSourceError(f"unknown block kind {blk.kind!r}")
        if pending_heading:
            if blk.kind == "table" and len(blk.items) > KEEP_TABLE_ROWS:
                story.extend(pending_heading)  # a long table starts under its heading and splits
            else:
                flow = KeepTogether(pending_heading + [flow])
            pending_heading = []
        story.append(flow)
    story.extend(pending_heading)
    return story


def render_pdf(meta: dict[str, Any], blocks: list[Block], source: str) -> tuple[bytes, int]:
    """Render blocks to a PDF; returns ``(bytes, page_count)``.

    Built twice: the first pass counts pages so that ``{pages}`` in the running
    header/footer can be filled in on the second.
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

    layout = meta.get("layout", "single")
    if layout not in ("single", "two-column"):
        raise PackSourceError(f"{source}: layout must be 'single' or 'two-column', got {layout!r}")
    header = str(meta.get("running_header") or "")
    footer = str(meta.get("running_footer") or "")
    title = meta.get("title")
    page_w, page_h = A4
    margin_x, margin_top, margin_bottom = 18 * mm, 22 * mm, 20 * mm
    gutter = 8 * mm
    body_w = page_w - 2 * margin_x
    body_h = page_h - margin_top - margin_bottom
    col_w = (body_w - gutter) / 2 if layout == "two-column" else body_w
    styles = _pdf_styles(compact=layout == "two-column")

    def build(total: int) -> tuple[bytes, int]:
        buf = io.BytesIO()
        count = {"n": 0}

        def decorate(canvas: Any, doc: Any) -> None:
            count["n"] = doc.page
            canvas.saveState()
            canvas.setFont(BODY_FONT, 7.5)
            canvas.setFillColor(colors.HexColor("#425563"))
            if header:
                canvas.drawString(margin_x, page_h - 12 * mm, substitute(header, doc.page, total))
                canvas.setStrokeColor(colors.HexColor("#AEB7BD"))
                canvas.setLineWidth(0.4)
                canvas.line(margin_x, page_h - 13.5 * mm, page_w - margin_x, page_h - 13.5 * mm)
            if footer:
                canvas.drawCentredString(page_w / 2, 10 * mm, substitute(footer, doc.page, total))
            canvas.restoreState()

        if layout == "two-column":
            frames = [Frame(margin_x, margin_bottom, col_w, body_h, id="col1",
                            leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0),
                      Frame(margin_x + col_w + gutter, margin_bottom, col_w, body_h, id="col2",
                            leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)]
        else:
            frames = [Frame(margin_x, margin_bottom, body_w, body_h, id="body",
                            leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)]
        doc = BaseDocTemplate(
            buf, pagesize=A4, leftMargin=margin_x, rightMargin=margin_x,
            topMargin=margin_top, bottomMargin=margin_bottom,
            title=str(title or PurePosixPath(str(meta["output"])).stem),
            author=str(meta.get("author") or ""), subject=str(meta.get("subject") or ""),
            creator=str(meta.get("creator") or "Microsoft Word"),
            producer=str(meta.get("producer") or ""),
            invariant=1, pageCompression=1,
        )
        doc.addPageTemplates([PageTemplate(id=layout, frames=frames, onPage=decorate)])
        doc.build(_pdf_story(blocks, styles, col_w, title))
        return buf.getvalue(), count["n"]

    _, pages = build(999)
    data, pages2 = build(pages)
    if pages2 != pages:  # pragma: no cover - page count is independent of the footer text
        data, pages2 = build(pages2)
    return data, pages2


# --------------------------------------------------------------------------
# DOCX (python-docx)
# --------------------------------------------------------------------------


def _docx_field(paragraph: Any, instr: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), instr)
    r = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = "1"
    r.append(t)
    fld.append(r)
    paragraph._p.append(fld)


def _docx_running(paragraph: Any, template: str) -> None:
    """Write a running header/footer; ``{page}``/``{pages}`` become PAGE/NUMPAGES fields."""
    parts = re.split(r"(\{page\}|\{pages\})", template)
    for part in parts:
        if part == "{page}":
            _docx_field(paragraph, "PAGE")
        elif part == "{pages}":
            _docx_field(paragraph, "NUMPAGES")
        elif part:
            paragraph.add_run(part)


def _docx_add_runs(paragraph: Any, text: str) -> None:
    for t, b in inline_runs(text):
        run = paragraph.add_run(t)
        if b:
            run.bold = True


def _docx_restart_numbering(d: Any, style_name: str) -> int:
    """Add a numbering instance that restarts at 1 for one numbered list.

    The "List Number" style points at a single numbering instance, so without
    this every numbered list in a document would continue the last one's count.
    """
    style_num = d.styles[style_name].element.pPr.numPr.numId.val
    numbering = d.part.numbering_part.element
    abstract_id = next(n.abstractNumId.val for n in numbering.num_lst if n.numId == style_num)
    num = numbering.add_num(abstract_id)
    num.add_lvlOverride(ilvl=0).add_startOverride(1)
    return num.numId


def render_docx(meta: dict[str, Any], blocks: list[Block], source: str) -> tuple[bytes, int]:
    """Render blocks to DOCX; returns ``(bytes, estimated_pages)``."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    d = docx.Document()
    normal = d.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10.5)
    cp = d.core_properties
    cp.title = str(meta.get("title") or "")
    cp.author = str(meta.get("author") or "")
    cp.last_modified_by = str(meta.get("author") or "")
    cp.created = FIXED_DATETIME
    cp.modified = FIXED_DATETIME
    cp.last_printed = FIXED_DATETIME
    cp.revision = 1
    sec = d.sections[0]
    if meta.get("running_header"):
        p = sec.header.paragraphs[0]
        _docx_running(p, str(meta["running_header"]))
    if meta.get("running_footer"):
        p = sec.footer.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _docx_running(p, str(meta["running_footer"]))
    if meta.get("title"):
        d.add_heading(plain(str(meta["title"])), level=0)
    words = 0
    for blk in blocks:
        if blk.kind == "heading":
            d.add_heading(plain(blk.text), level=blk.level)
            words += len(blk.text.split()) + 10
        elif blk.kind == "para":
            _docx_add_runs(d.add_paragraph(), blk.text)
            words += len(blk.text.split())
        elif blk.kind in ("bullets", "numbers"):
            style = "List Bullet" if blk.kind == "bullets" else "List Number"
            num_id = _docx_restart_numbering(d, style) if blk.kind == "numbers" else None
            for item in blk.items:
                para = d.add_paragraph(style=style)
                if num_id is not None:
                    num_pr = para._p.get_or_add_pPr().get_or_add_numPr()
                    num_pr.get_or_add_ilvl().val = 0
                    num_pr.get_or_add_numId().val = num_id
                _docx_add_runs(para, item)
                words += len(item.split()) + 3
        elif blk.kind == "table":
            rows = blk.items
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            t.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, val in enumerate(row):
                    cell = t.cell(r, c)
                    cell.text = ""
                    para = cell.paragraphs[0]
                    if r == 0:
                        para.add_run(plain(val)).bold = True
                    else:
                        _docx_add_runs(para, val)
                    words += len(val.split()) + 2
            tr_pr = t.rows[0]._tr.get_or_add_trPr()
            hdr = OxmlElement("w:tblHeader")
            hdr.set(qn("w:val"), "true")
            tr_pr.append(hdr)
            d.add_paragraph()
        elif blk.kind == "pagebreak":
            d.add_page_break()
            words = (words // 500 + 1) * 500
    buf = io.BytesIO()
    d.save(buf)
    return normalize_ooxml(buf.getvalue()), max(1, -(-words // 500))


# --------------------------------------------------------------------------
# Plain text, HTML, Markdown
# --------------------------------------------------------------------------


def render_txt(meta: dict[str, Any], blocks: list[Block], source: str) -> tuple[bytes, None]:
    """Render blocks as plain text (as a copy-paste from an email would be)."""
    out: list[str] = []
    if meta.get("title"):
        t = plain(str(meta["title"]))
        out += [t, "=" * len(t), ""]
    for blk in blocks:
        if blk.kind == "heading":
            t = plain(blk.text)
            out += [t.upper() if blk.level == 1 else t, ""]
        elif blk.kind == "para":
            out += [plain(blk.text), ""]
        elif blk.kind == "bullets":
            out += [f"  * {plain(t)}" for t in blk.items] + [""]
        elif blk.kind == "numbers":
            out += [f"  {n}. {plain(t)}" for n, t in enumerate(blk.items, 1)] + [""]
        elif blk.kind == "table":
            widths = [max(len(plain(r[c])) for r in blk.items) for c in range(len(blk.items[0]))]
            for r, row in enumerate(blk.items):
                out.append("  ".join(plain(v).ljust(w) for v, w in zip(row, widths)).rstrip())
                if r == 0:
                    out.append("  ".join("-" * w for w in widths))
            out.append("")
        elif blk.kind == "pagebreak":
            out.append("\f")
    enc = str(meta.get("encoding") or "utf-8")
    return ("\r\n".join(out).rstrip() + "\r\n").encode(enc), None


def render_html(meta: dict[str, Any], blocks: list[Block], source: str) -> tuple[bytes, None]:
    """Render blocks as a simple standalone HTML page."""
    def inl(t: str) -> str:
        return "".join(f"<strong>{html.escape(s)}</strong>" if b else html.escape(s)
                       for s, b in inline_runs(t))

    title = html.escape(plain(str(meta.get("title") or "")))
    out = ["<!DOCTYPE html>", '<html lang="en-GB">', "<head>", '<meta charset="utf-8">',
           f"<title>{title}</title>", "</head>", "<body>"]
    if meta.get("running_header"):
        out.append(f'<header><p>{html.escape(substitute(str(meta["running_header"]), 1, 1))}</p></header>')
    out.append("<main>")
    if title:
        out.append(f"<h1>{title}</h1>")
    for blk in blocks:
        if blk.kind == "heading":
            lvl = min(blk.level + 1, 4) if title else blk.level
            out.append(f"<h{lvl}>{inl(blk.text)}</h{lvl}>")
        elif blk.kind == "para":
            out.append(f"<p>{inl(blk.text)}</p>")
        elif blk.kind in ("bullets", "numbers"):
            tag = "ul" if blk.kind == "bullets" else "ol"
            out.append(f"<{tag}>" + "".join(f"<li>{inl(t)}</li>" for t in blk.items) + f"</{tag}>")
        elif blk.kind == "table":
            head = "".join(f"<th>{inl(c)}</th>" for c in blk.items[0])
            body = "".join("<tr>" + "".join(f"<td>{inl(c)}</td>" for c in row) + "</tr>"
                           for row in blk.items[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    out += ["</main>", "</body>", "</html>", ""]
    return "\n".join(out).encode("utf-8"), None


def render_md(meta: dict[str, Any], body: str, source: str) -> tuple[bytes, None]:
    """A Markdown output is the body as written (front matter removed)."""
    text = body.lstrip("\n")
    if meta.get("title"):
        text = f"# {plain(str(meta['title']))}\n\n{text}"
    return text.encode("utf-8"), None


# --------------------------------------------------------------------------
# Spreadsheets (openpyxl, csv)
# --------------------------------------------------------------------------


def _sheet_spec(spec: dict[str, Any], source: str, n: int) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise PackSourceError(f"{source}: sheets[{n}] must be a mapping")
    for key in ("name", "columns", "rows"):
        if key not in spec:
            raise PackSourceError(f"{source}: sheets[{n}] is missing {key!r}")
    cols = list(spec["columns"])
    for r, row in enumerate(spec["rows"]):
        if len(row) != len(cols):
            raise PackSourceError(
                f"{source}: sheets[{n}] ({spec['name']}) row {r + 1} has {len(row)} cells, "
                f"expected {len(cols)} (columns: {cols})")
    return spec


def _formula_columns(spec: dict[str, Any], source: str) -> list[dict[str, str]]:
    fcols = list(spec.get("formula_columns") or [])
    if spec.get("formulas") is False:
        return []
    if spec.get("formulas") and not fcols:
        raise PackSourceError(
            f"{source}: sheet {spec['name']!r} has formulas: true but no formula_columns")
    for fc in fcols:
        if not isinstance(fc, dict) or "header" not in fc or "formula" not in fc:
            raise PackSourceError(
                f"{source}: each formula_columns entry needs 'header' and 'formula', got {fc!r}")
    return fcols


def render_xlsx(meta: dict[str, Any], source: str) -> tuple[bytes, int]:
    """Render ``sheets`` to XLSX; returns ``(bytes, sheet_count)``."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = str(meta.get("author") or "")
    wb.properties.lastModifiedBy = str(meta.get("author") or "")
    wb.properties.title = str(meta.get("title") or "")
    wb.properties.created = FIXED_DATETIME
    wb.properties.modified = FIXED_DATETIME
    thin = Side(style="thin", color="768692")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    head_fill = PatternFill("solid", fgColor="005EB8")
    sheets = meta.get("sheets") or []
    if not sheets:
        raise PackSourceError(f"{source}: 'sheets' must list at least one sheet")
    if all(s.get("hidden") for s in sheets if isinstance(s, dict)):
        raise PackSourceError(f"{source}: at least one sheet must be visible")
    for n, raw in enumerate(sheets):
        spec = _sheet_spec(raw, source, n)
        ws = wb.create_sheet(str(spec["name"])[:31])
        cols = [str(c) for c in spec["columns"]]
        fcols = _formula_columns(spec, source)
        all_cols = cols + [fc["header"] for fc in fcols]
        ncol = len(all_cols)
        titles = list(spec.get("title_rows") or [])
        for t, text in enumerate(titles, 1):
            cell = ws.cell(row=t, column=1, value=text)
            cell.font = Font(bold=True, size=14 if t == 1 else 11)
        merged = list(spec.get("merged") or [])
        if spec.get("merge_titles", True) and ncol > 1:
            for t in range(1, len(titles) + 1):
                rng = f"A{t}:{get_column_letter(ncol)}{t}"
                if rng not in merged:
                    merged.append(rng)
        header_row = len(titles) + (2 if titles else 1)
        for c, name in enumerate(all_cols, 1):
            cell = ws.cell(row=header_row, column=c, value=name)
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.border = border
        col_index = {name: get_column_letter(i) for i, name in enumerate(all_cols, 1)}
        widths = [len(c) for c in all_cols]
        for r, row in enumerate(spec["rows"]):
            excel_row = header_row + 1 + r
            for c, val in enumerate(row, 1):
                if isinstance(val, datetime):
                    val = val.replace(tzinfo=None)
                cell = ws.cell(row=excel_row, column=c, value=val)
                if isinstance(val, (date, datetime)):
                    cell.number_format = "DD/MM/YYYY"
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                cell.border = border
                widths[c - 1] = max(widths[c - 1], min(len(str(val or "")), 60))
            for k, fc in enumerate(fcols):
                def ref(m: re.Match[str], _row: int = excel_row) -> str:
                    name = m.group(1)
                    if name not in col_index:
                        raise PackSourceError(
                            f"{source}: formula {fc['formula']!r} names unknown column {name!r}")
                    return f"{col_index[name]}{_row}"
                formula = re.sub(r"\{([^}]+)\}", ref, str(fc["formula"]))
                if not formula.startswith("="):
                    formula = "=" + formula
                cell = ws.cell(row=excel_row, column=len(cols) + 1 + k, value=formula)
                cell.border = border
                cell.alignment = Alignment(vertical="top")
        for c, w in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(c)].width = max(8, min(w * 0.9 + 2, 55))
        for rng in merged:
            ws.merge_cells(rng)
        if spec.get("freeze", True) and spec["rows"]:
            ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
        if spec.get("autofilter", True) and spec["rows"]:
            last = header_row + len(spec["rows"])
            ws.auto_filter.ref = f"A{header_row}:{get_column_letter(ncol)}{last}"
        if spec.get("hidden"):
            ws.sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    return normalize_ooxml(buf.getvalue()), len(sheets)


def render_csv(meta: dict[str, Any], source: str) -> tuple[bytes, None]:
    """Render the single sheet to CSV in ``encoding`` (default utf-8), CRLF line ends."""
    sheets = meta.get("sheets") or []
    if len(sheets) != 1:
        raise PackSourceError(f"{source}: a .csv output needs exactly one sheet, got {len(sheets)}")
    spec = _sheet_spec(sheets[0], source, 0)
    enc = str(meta.get("encoding") or "utf-8")
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    ncol = len(spec["columns"])
    for t in spec.get("title_rows") or []:
        w.writerow([t] + [""] * (ncol - 1))
    w.writerow(spec["columns"])
    for row in spec["rows"]:
        w.writerow(["" if v is None else (v.strftime("%d/%m/%Y") if isinstance(v, date) else v)
                    for v in row])
    try:
        return buf.getvalue().encode(enc), None
    except UnicodeEncodeError as exc:
        raise PackSourceError(f"{source}: text cannot be encoded as {enc}: {exc}") from exc


# --------------------------------------------------------------------------
# Determinism helpers
# --------------------------------------------------------------------------

_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def normalize_ooxml(data: bytes) -> bytes:
    """Rewrite an OOXML zip with fixed member timestamps and fixed core dates."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                payload = _CORE_DATES.sub(rb"\g<1>" + FIXED_W3CDTF.encode() + rb"\g<2>", payload)
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, payload)
    return out.getvalue()


def write_zip(path: Path, files: Iterable[BuiltFile], root: str = "") -> None:
    """Write files to a zip with sorted entries and fixed timestamps.

    Args:
        path: Zip file to write.
        files: Rendered documents; their ``path`` is the member name.
        root: Optional top folder every member is placed under.
    """
    prefix = root.strip("/") + "/" if root.strip("/") else ""
    items = sorted((BuiltFile(prefix + f.path, f.data, f.pages, f.source) for f in files),
                   key=lambda f: f.path)
    dirs = sorted({str(p) + "/" for f in items for p in PurePosixPath(f.path).parents
                   if str(p) != "."})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for d in dirs:
            zi = zipfile.ZipInfo(d, date_time=FIXED_ZIP_TIME)
            zi.external_attr = (0o40755 << 16) | 0x10
            z.writestr(zi, b"")
        for f in items:
            zi = zipfile.ZipInfo(f.path, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, f.data)
    path.write_bytes(buf.getvalue())


# --------------------------------------------------------------------------
# Pack building
# --------------------------------------------------------------------------

_TEXT_RENDERERS: dict[str, Callable[[dict[str, Any], list[Block], str], tuple[bytes, int | None]]] = {
    ".pdf": render_pdf,
    ".docx": render_docx,
    ".txt": render_txt,
    ".html": render_html,
}


def _check_output_path(out: Any, source: str) -> PurePosixPath:
    if not out or not isinstance(out, str):
        raise PackSourceError(f"{source}: 'output' must be a relative path string, got {out!r}")
    p = PurePosixPath(out)
    if p.is_absolute() or ".." in p.parts or "\\" in out:
        raise PackSourceError(f"{source}: 'output' must be a relative POSIX path inside the pack, got {out!r}")
    return p


def render_source(path: Path) -> BuiltFile:
    """Render one source file (``.md`` or ``.yaml``) to its output document."""
    source = path.name
    if path.suffix == ".md":
        meta, body = split_front_matter(path.read_text(encoding="utf-8"), source)
        out = _check_output_path(meta.get("output"), source)
        ext = out.suffix.lower()
        if ext == ".md":
            data, pages = render_md(meta, body, source)
        elif ext in _TEXT_RENDERERS:
            data, pages = _TEXT_RENDERERS[ext](meta, parse_markdown(body), source)
        else:
            raise PackSourceError(f"{source}: output extension {ext!r} is not one of {TEXT_FORMATS}")
        return BuiltFile(str(out), data, pages if ext in (".pdf", ".docx") else None, source)
    if path.suffix in (".yaml", ".yml"):
        meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(meta, dict):
            raise PackSourceError(f"{source}: must be a YAML mapping")
        out = _check_output_path(meta.get("output"), source)
        ext = out.suffix.lower()
        if ext == ".xlsx":
            data, _ = render_xlsx(meta, source)
        elif ext == ".csv":
            data, _ = render_csv(meta, source)
        else:
            raise PackSourceError(f"{source}: output extension {ext!r} is not one of {SHEET_FORMATS}")
        return BuiltFile(str(out), data, None, source)
    raise PackSourceError(f"{source}: source files must be .md or .yaml")


def load_pack_meta(src_dir: Path) -> dict[str, Any]:
    """Read and check ``pack.yaml``."""
    f = src_dir / "pack.yaml"
    if not f.is_file():
        raise PackSourceError(f"{src_dir}: no pack.yaml")
    meta = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
    for key in ("trust", "trust_type"):
        if not meta.get(key):
            raise PackSourceError(f"{f}: {key!r} is required")
    if meta["trust_type"] not in TRUST_TYPES:
        raise PackSourceError(f"{f}: trust_type must be one of {TRUST_TYPES}, got {meta['trust_type']!r}")
    if not (src_dir / "README.md").is_file():
        raise PackSourceError(f"{src_dir}: no README.md")
    return meta


def source_files(src_dir: Path) -> list[Path]:
    """Document sources of a pack: every .md/.yaml except pack.yaml and README.md, sorted."""
    skip = {"pack.yaml", "README.md", "FORMAT.md"}
    return sorted(p for p in src_dir.rglob("*")
                  if p.is_file() and p.suffix in (".md", ".yaml", ".yml") and p.name not in skip
                  and not p.name.startswith((".", "_")))


def build_pack(src_dir: Path, out_root: Path) -> BuildResult:
    """Render every document of one pack and write the pack and its README.

    Args:
        src_dir: ``packs_src/<slug>`` folder.
        out_root: Folder the pack is written into (``packs/``).

    Returns:
        What was written, with page counts.

    Raises:
        PackSourceError: A source file is malformed or two sources share an output path.
    """
    src_dir = Path(src_dir)
    out_root = Path(out_root)
    meta = load_pack_meta(src_dir)
    slug = src_dir.name
    built = [render_source(p) for p in source_files(src_dir)]
    seen: dict[str, str] = {}
    for f in built:
        if f.path in seen:
            raise PackSourceError(f"{slug}: {f.source} and {seen[f.path]} both write {f.path!r}")
        seen[f.path] = f.source
    out_root.mkdir(parents=True, exist_ok=True)
    readme_text = (src_dir / "README.md").read_bytes()
    if meta.get("zip"):
        zip_name = str(meta.get("zip_name") or f"{slug}.zip")
        target = out_root / f"{slug}.zip"
        write_zip(target, built, str(meta.get("zip_root") or ""))
        readme = out_root / f"{slug}.README.md"
        log.info("%s: zip_name %s written as %s", slug, zip_name, target.name)
    else:
        target = out_root / slug
        if target.exists():
            shutil.rmtree(target)
        for f in sorted(built, key=lambda f: f.path):
            dest = target / f.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.data)
        # beside the pack, never inside it: the README describes every area and
        # would be read as evidence by `wellled review`
        readme = out_root / f"{slug}.README.md"
    readme.write_bytes(readme_text)
    return BuildResult(slug, target, readme, tuple(built))


def discover_packs(src_root: Path) -> list[Path]:
    """Every folder under ``src_root`` holding a ``pack.yaml``, sorted."""
    return sorted(p.parent for p in Path(src_root).glob("*/pack.yaml"))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    import argparse

    ap = argparse.ArgumentParser(description="Render sample trust packs from packs_src/.")
    ap.add_argument("packs", nargs="*", help="pack slugs (default: every pack in --src)")
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC, help="packs_src folder")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    ap.add_argument("-q", "--quiet", action="store_true", help="only report errors")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s")
    dirs = [args.src / s for s in args.packs] if args.packs else discover_packs(args.src)
    if not dirs:
        log.error("no packs found under %s", args.src)
        return 1
    for d in dirs:
        try:
            res = build_pack(d, args.out)
        except PackSourceError as exc:
            log.error("error: %s", exc)
            return 1
        log.info("%s -> %s (%d files, ~%d pages)", res.slug, res.output, len(res.files),
                 res.total_pages)
        for f in sorted(res.files, key=lambda f: f.path):
            pages = f"{f.pages} p" if f.pages is not None else ""
            log.info("  %-70s %8d bytes %6s", f.path, len(f.data), pages)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Text backends: plain text, Markdown and HTML.

All three decode bytes the same way (UTF-8, else Windows-1252; see
:func:`pipeline.ingest.xlsx.decode_text`) and produce the same blocks as the
other backends: headings (into heading paths), paragraphs, list items and
table rows with their column headers. Plain text pages are split at form
feeds when there are any. HTML is parsed with the standard library parser
(no network, no external entities); scripts, styles, navigation, headers
and footers are left out.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from pipeline.document import BlockKind, SourceFormat
from pipeline.ingest._blocks import (
    BULLET_RE,
    RawBlock,
    build_blocks,
    is_key_value_table,
    list_item_text,
    looks_like_heading,
    numbered_heading_level,
    paragraph_kind,
    pop_caption,
    row_text,
    split_header,
)
from pipeline.ingest.base import Extraction, ExtractingBackend, clean_line
from pipeline.ingest.pdf import join_lines
from pipeline.ingest.xlsx import decode_text
from pipeline.limits import Limits

__all__ = ["TextBackend", "MarkdownBackend", "HtmlBackend", "strip_markdown"]

_SYMBOL_BULLETS = "•▪◦●○■□►‣⁃∙·*-–—+"


def _join(lines: list[str]) -> str:
    out = ""
    for line in lines:
        line = clean_line(line)
        if line:
            out = join_lines(out, line)
    return out


def _read(path: Path) -> tuple[str, str]:
    text, enc = decode_text(path.read_bytes())
    return text.replace("\r\n", "\n").replace("\r", "\n"), enc


def _enc_warning(enc: str) -> list[str]:
    return [] if enc in ("utf-8", "utf-8-sig", "ascii") else [f"read as {enc}"]


def _list_text(text: str) -> str:
    return list_item_text(text)


def _starts_new_item(prev: str, line: str) -> bool:
    """A bullet always starts an item; a number ("4.2 times ...") only after a sentence end."""
    if line[:1] in _SYMBOL_BULLETS:
        return True
    return prev.rstrip().endswith((".", "!", "?", ":", ";", '."', ".”", ".)"))


class TextBackend(ExtractingBackend):
    """Read a plain-text file."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset({SourceFormat.TEXT})

    def extract(self, path: Path, limits: Limits) -> Extraction:
        text, enc = _read(path)
        pages = text.split("\f")
        raw: list[RawBlock] = []
        for pno, page_text in enumerate(pages, start=1):
            page = pno if len(pages) > 1 else None
            lines = page_text.split("\n")
            i = 0
            para: list[str] = []

            def flush() -> None:
                if para:
                    joined = _join(para)
                    if joined:
                        kind = paragraph_kind(joined)
                        if kind is BlockKind.LIST_ITEM:
                            joined = _list_text(joined)
                        level = numbered_heading_level(joined)
                        if level is not None and len(para) == 1:
                            raw.append(RawBlock(BlockKind.HEADING, joined, page=page, level=level))
                        elif len(para) == 1 and joined.isupper() and looks_like_heading(joined):
                            raw.append(RawBlock(BlockKind.HEADING, joined, page=page, level=0 if not raw else 1))
                        else:
                            raw.append(RawBlock(kind, joined, page=page))
                    para.clear()

            while i < len(lines):
                line = lines[i]
                stripped = line.strip()
                nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
                if not stripped:
                    flush()
                elif nxt and re.fullmatch(r"={3,}|-{3,}", nxt) and not para:
                    raw.append(RawBlock(BlockKind.HEADING, clean_line(stripped), page=page, level=1 if nxt[0] == "=" else 2))
                    i += 2
                    continue
                elif BULLET_RE.match(stripped) and para and _starts_new_item(para[-1], stripped):
                    flush()
                    para.append(stripped)
                else:
                    para.append(stripped)
                i += 1
            flush()
        return Extraction(
            blocks=build_blocks(raw),
            page_count=len(pages) if len(pages) > 1 else None,
            warnings=_enc_warning(enc),
            meta={"encoding": enc},
        )


_MD_LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPH_RE = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)|(?<![\w])_(?!\s)(.+?)(?<!\s)_(?!\w)")
_MD_CODE_RE = re.compile(r"`([^`]*)`")
_HTML_TAG_RE = re.compile(r"<[^>]+>")


def strip_markdown(text: str) -> str:
    """Inline Markdown to plain text (links keep their text, emphasis marks go)."""
    text = _MD_LINK_RE.sub(r"\1", text)
    text = _MD_CODE_RE.sub(r"\1", text)
    for _ in range(2):
        text = _MD_EMPH_RE.sub(lambda m: next(g for g in m.groups()[1:] if g is not None), text)
    text = _HTML_TAG_RE.sub(" ", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|])", r"\1", text)
    return clean_line(text)


_MD_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LIST_RE = re.compile(r"^(\s*)([-*+]|\d{1,3}[.)])\s+(.*)$")
_MD_TABLE_SEP_RE = re.compile(r"^\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?$")


def _md_cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells = re.split(r"(?<!\\)\|", line)
    return [strip_markdown(c.replace("\\|", "|")) for c in cells]


class MarkdownBackend(ExtractingBackend):
    """Read a Markdown file (CommonMark-ish: headings, lists, pipe tables)."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset({SourceFormat.MARKDOWN})

    def extract(self, path: Path, limits: Limits) -> Extraction:
        text, enc = _read(path)
        lines = text.split("\n")
        title = None
        i = 0
        if lines and lines[0].strip() == "---":  # YAML front matter
            for j in range(1, min(len(lines), 200)):
                if lines[j].strip() in ("---", "..."):
                    for fm in lines[1:j]:
                        m = re.match(r"^title:\s*[\"']?(.*?)[\"']?\s*$", fm)
                        if m:
                            title = m.group(1)
                    i = j + 1
                    break
        raw: list[RawBlock] = []
        para: list[str] = []
        n_table = 0

        def flush() -> None:
            if para:
                joined = strip_markdown(_join(para))
                raw_joined = _join(para)
                if joined:
                    if re.fullmatch(r"(\*\*|__)[^*_]+\1:?", raw_joined) and looks_like_heading(joined.rstrip(":")):
                        raw.append(RawBlock(BlockKind.HEADING, joined.rstrip(":"), level=10))
                    else:
                        raw.append(RawBlock(paragraph_kind(joined), joined))
                para.clear()

        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if stripped.startswith("```") or stripped.startswith("~~~"):
                flush()
                fence = stripped[:3]
                code: list[str] = []
                i += 1
                while i < len(lines) and not lines[i].strip().startswith(fence):
                    code.append(lines[i])
                    i += 1
                joined = _join(code)
                if joined:
                    raw.append(RawBlock(BlockKind.PARAGRAPH, joined))
                i += 1
                continue
            if not stripped:
                flush()
                i += 1
                continue
            m = _MD_HEADING_RE.match(stripped)
            if m:
                flush()
                raw.append(RawBlock(BlockKind.HEADING, strip_markdown(m.group(2)), level=len(m.group(1))))
                i += 1
                continue
            if not para and nxt and re.fullmatch(r"=+|-+", nxt) and not stripped.startswith("|"):
                raw.append(RawBlock(BlockKind.HEADING, strip_markdown(stripped), level=1 if nxt[0] == "=" else 2))
                i += 2
                continue
            if stripped.startswith("|") and _MD_TABLE_SEP_RE.match(nxt):
                flush()
                n_table += 1
                rows: list[list[str | None]] = [list(_md_cells(stripped))]
                i += 2
                while i < len(lines) and lines[i].strip().startswith("|"):
                    rows.append(list(_md_cells(lines[i])))
                    i += 1
                header, body = split_header(rows)
                if not any(header) and not is_key_value_table(rows):
                    header = [c or "" for c in rows[0]]  # a Markdown table's first row is its header
                    body = body[1:]
                for r, row in enumerate(body, 1):
                    t = row_text(header, row)
                    if t:
                        raw.append(RawBlock(BlockKind.TABLE_ROW, t, location=f"table {n_table}, row {r}"))
                continue
            lm = _MD_LIST_RE.match(line)
            if lm:
                flush()
                item = [lm.group(3)]
                marker = "•" if lm.group(2) in "-*+" else lm.group(2)
                i += 1
                while i < len(lines) and lines[i].strip() and not _MD_LIST_RE.match(lines[i]) and (
                    lines[i].startswith((" ", "\t"))
                ):
                    item.append(lines[i])
                    i += 1
                joined = strip_markdown(_join(item))
                if joined:
                    raw.append(RawBlock(BlockKind.LIST_ITEM, list_item_text(joined, marker)))
                continue
            if stripped.startswith(">"):
                stripped = stripped.lstrip("> ")
            para.append(stripped)
            i += 1
        flush()
        return Extraction(blocks=build_blocks(raw), page_count=None, title=title, warnings=_enc_warning(enc), meta={"encoding": enc})


_SKIP_TAGS = {"script", "style", "head", "nav", "header", "footer", "noscript", "template", "svg", "button", "form", "select", "iframe", "object"}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "aside", "blockquote", "pre", "address", "figure",
    "figcaption", "dl", "dt", "dd", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
    "tr", "td", "th", "caption", "br", "hr", "body", "html", "tbody", "thead", "tfoot",
}  # fmt: skip


class _HtmlBlocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.raw: list[RawBlock] = []
        self.buf: list[str] = []
        self.kind: BlockKind = BlockKind.PARAGRAPH
        self.level: int | None = None
        self.skip = 0
        self.in_main = 0
        self.in_title = False
        self.title = ""
        self.tables: list[dict[str, Any]] = []  # stack
        self.n_table = 0
        self.lists: list[int | None] = []  # open <ol> (item count) and <ul> (None), innermost last

    # --- text flushing
    def _flush(self) -> None:
        text = clean_line(" ".join(self.buf))
        self.buf = []
        if not text:
            return
        if self.tables and self.tables[-1].get("cell") is not None:
            self.tables[-1]["cell"].append(text)
            return
        if self.kind is BlockKind.HEADING:
            self.raw.append(RawBlock(BlockKind.HEADING, text, level=self.level))
        elif self.kind is BlockKind.LIST_ITEM:
            marker = None
            if self.lists and self.lists[-1] is not None:
                self.lists[-1] += 1
                marker = f"{self.lists[-1]}."
            self.raw.append(RawBlock(BlockKind.LIST_ITEM, list_item_text(text, marker)))
            self.kind = BlockKind.PARAGRAPH  # more text in the same <li> after a nested block is not another item
        else:
            self.raw.append(RawBlock(paragraph_kind(text), text))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("main", "article"):
            self.in_main += 1
        if tag in _SKIP_TAGS and not (tag == "header" and self.in_main):
            self.skip += 1
            return
        if tag == "title":
            self.in_title = True
            return
        if self.skip:
            return
        if tag in _BLOCK_TAGS:
            if not (self.tables and self.tables[-1].get("cell") is not None and tag not in ("td", "th", "tr", "table")):
                self._flush()
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.kind, self.level = BlockKind.HEADING, int(tag[1])
        elif tag == "li":
            self.kind, self.level = BlockKind.LIST_ITEM, None
        elif tag in ("ol", "ul"):
            self.lists.append(0 if tag == "ol" else None)
        elif tag in ("p", "div", "dd", "dt", "blockquote", "pre"):
            self.kind, self.level = BlockKind.PARAGRAPH, None
        elif tag == "table":
            self.tables.append({"rows": [], "row": None, "cell": None, "span": 1})
        elif tag == "tr" and self.tables:
            t = self.tables[-1]
            t["row"] = []
        elif tag in ("td", "th") and self.tables:
            t = self.tables[-1]
            if t["row"] is None:
                t["row"] = []
            t["cell"] = []
            try:
                t["span"] = max(1, min(int(dict(attrs).get("colspan") or 1), 50))
            except ValueError:
                t["span"] = 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("main", "article"):
            self.in_main = max(0, self.in_main - 1)
        if tag in _SKIP_TAGS and not (tag == "header" and self.in_main):
            self.skip = max(0, self.skip - 1)
            return
        if tag == "title":
            self.in_title = False
            return
        if self.skip:
            return
        if tag in ("td", "th") and self.tables:
            self._flush()
            t = self.tables[-1]
            if t["cell"] is not None and t["row"] is not None:
                t["row"].append(" ".join(t["cell"]))
                t["row"].extend([None] * (t["span"] - 1))
            t["cell"] = None
            return
        if tag == "tr" and self.tables:
            t = self.tables[-1]
            if t["row"]:
                t["rows"].append(t["row"])
            t["row"] = None
            return
        if tag == "table" and self.tables:
            self._flush()
            t = self.tables.pop()
            self._emit_table(t["rows"])
            return
        if tag in _BLOCK_TAGS:
            self._flush()
            self.kind, self.level = BlockKind.PARAGRAPH, None
        if tag in ("ol", "ul") and self.lists:
            self.lists.pop()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
            return
        if self.skip:
            return
        self.buf.append(data)

    def _emit_table(self, rows: list[list[str | None]]) -> None:
        rows = [r for r in rows if any(c for c in r)]
        if not rows:
            return
        if self.tables and self.tables[-1].get("cell") is not None:
            # nested table: its text becomes part of the outer cell
            self.tables[-1]["cell"].append(" ".join(c for r in rows for c in r if c))
            return
        self.n_table += 1
        if len(rows) == 1 or max(len(r) for r in rows) == 1:
            for r in rows:
                self.raw.append(RawBlock(BlockKind.PARAGRAPH, " | ".join(c for c in r if c)))
            return
        caption, rows = pop_caption(rows)
        header, body = split_header(rows)
        context = (caption,) if caption else ()
        for i, row in enumerate(body, 1):
            t = row_text(header, row)
            if t:
                self.raw.append(RawBlock(BlockKind.TABLE_ROW, t, location=f"table {self.n_table}, row {i}", context=context))


class HtmlBackend(ExtractingBackend):
    """Read an HTML file."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset({SourceFormat.HTML})

    def extract(self, path: Path, limits: Limits) -> Extraction:
        text, enc = _read(path)
        parser = _HtmlBlocks()
        parser.feed(text)
        parser.close()
        parser._flush()
        while parser.tables:
            t = parser.tables.pop()
            parser._emit_table(t["rows"])
        return Extraction(
            blocks=build_blocks(parser.raw),
            page_count=None,
            title=clean_line(parser.title) or None,
            warnings=_enc_warning(enc),
            meta={"encoding": enc},
        )

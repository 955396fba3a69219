"""Spreadsheet backends: XLSX (openpyxl, read-only, saved values) and CSV.

Risk registers and board assurance frameworks are spreadsheets with a title
or two, a header row, then one risk per row (sometimes spread over several
rows with merged cells). Each sheet is a page (``page`` = 1-based sheet
index, ``sheet`` = its name); each risk becomes one RECORD block that keeps
the field names ("Risk ID: BAF 3 | Risk: ... | Controls: ... | Score: 16"),
with the Excel row number and cell range as its location.

* Header row: the first of the first 20 rows with at least three short text
  cells, one of them a header word (risk, owner, score, controls ...).
  Rows above it are titles; a row below it with one filled cell is a section
  label (it goes into the heading path).
* Merged cells: read-only openpyxl gives the value only in the top-left
  cell, so merge ranges are read from the sheet XML and the value is carried
  over the range (header labels right, risk ids down). Rows that continue the
  risk above (same or no id) join that risk's record.
* Long records: a risk stays one block (and one passage) up to
  :data:`pipeline.split.RECORD_MAX_CHARS` characters; a longer one is cut at
  field ends into several RECORD blocks, each continuation starting with the
  risk id ("Risk ID: SR3 (cont.) | ..."), so every passage names its risk and
  passage text is still exactly the document's text (:func:`record_parts`).
* Formulas: the value Excel saved is used; a formula cell with no saved value
  is recorded as empty with a warning.
* Hidden sheets are read too, flagged in ``Document.meta["hidden_sheets"]``
  and in each record's location ("A7:H7 (hidden sheet)").
* CSV: the encoding is found (UTF-8, a BOM, else charset-normalizer, with
  Windows-1252 as the fallback) and the delimiter sniffed.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, ClassVar

from pipeline.document import BlockKind, SourceFormat
from pipeline.errors import DocumentLoadError, ResourceLimitError
from pipeline.ingest._blocks import RawBlock, build_blocks
from pipeline.ingest._ooxml import check_ooxml
from pipeline.ingest.base import Extraction, ExtractingBackend, clean_line
from pipeline.ingest.detect import utf16_without_bom
from pipeline.limits import Limits
from pipeline.split import RECORD_MAX_CHARS

__all__ = ["XlsxBackend", "CsvBackend", "find_header_row", "decode_text", "record_parts"]

log = logging.getLogger(__name__)

_HEADER_WORDS = re.compile(
    r"\b(?:risk|description|owner|score|controls?|gaps?|rating|id|ref(?:erence)?|no\.?|title|likelihood|"
    r"consequence|impact|target|current|residual|inherent|initial|assurances?|actions?|date|lead|committee|"
    r"objective|status|review(?:ed)?|trend|appetite|mitigations?|category|source|causes?|effects?|executive|"
    r"director|name|role|measure|indicator|value|cause|tolerance|progress|update|comments?|domain|theme|"
    r"directorate|division|type|level|l\s*x\s*c|rag)\b",
    re.I,
)
_ID_HEADER = re.compile(r"^(?:risk\s*)?(?:id|ref(?:erence)?|no\.?|number|#)$|^(?:baf|risk)\s*(?:id|ref|no\.?)$", re.I)
_NUMERIC = re.compile(r"^[\d.,%£$€ ()+-]+$")
_HEADER_SCAN_ROWS = 20
_MAX_WARN = 10


def _col_letter(idx: int) -> str:
    """0-based column index to Excel letters."""
    s = ""
    idx += 1
    while idx:
        idx, rem = divmod(idx - 1, 26)
        s = chr(65 + rem) + s
    return s


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


_REF_RE = re.compile(r"^([A-Z]{1,3})(\d+)$")


def _parse_ref(ref: str) -> tuple[int, int] | None:
    m = _REF_RE.match(ref.replace("$", ""))
    if not m:
        return None
    return int(m.group(2)), _col_index(m.group(1))


def format_value(value: Any, number_format: str | None = None) -> str:
    """A cell's saved value as text (numbers tidied, dates ISO, newlines joined)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        fmt = number_format or ""
        if isinstance(value, float) and "%" in fmt:
            return f"{value * 100:.6g}%"
        if "£" in fmt:
            return f"£{value:,.0f}" if float(value).is_integer() else f"£{value:,.2f}"
        if isinstance(value, float):
            if value.is_integer() and abs(value) < 1e15:
                return str(int(value))
            return f"{value:.6g}"
        return str(value)
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    parts = [clean_line(p) for p in text.split("\n")]
    parts = [p for p in parts if p]
    out = ""
    for p in parts:
        if not out:
            out = p
        elif out.endswith((".", ";", ":", ",", "!", "?")):
            out = f"{out} {p}"
        else:
            out = f"{out}; {p}"
    return out


def find_header_row(rows: list[tuple[int, list[str]]]) -> int | None:
    """Index (into ``rows``) of the header row, or None.

    A header row has at least three non-empty short text cells, at least one
    with a header word, and is followed by a row with data.
    """
    fallback = None
    for k, (_, cells) in enumerate(rows[:_HEADER_SCAN_ROWS]):
        texts = [c for c in cells if c]
        short = list(dict.fromkeys(c for c in texts if len(c) <= 60 and not _NUMERIC.match(c)))
        if len(short) < 3 or len(short) < len(set(texts)) * 0.7:
            continue
        has_data_below = any(any(c for c in r) for _, r in rows[k + 1 : k + 4])
        if not has_data_below:
            continue
        if sum(1 for c in short if _HEADER_WORDS.search(c)) >= 1:
            return k
        if fallback is None:
            fallback = k
    return fallback


@dataclass(slots=True)
class _Sheet:
    name: str
    index: int
    hidden: bool
    rows: list[tuple[int, list[str]]]  # (excel row number, cell texts)
    warnings: list[str] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # (r0, c0, r1, c1), 1-based rows, 0-based cols


def _records(sheet: _Sheet, *, location_suffix: str = "") -> Iterator[RawBlock]:
    """Title, section and record blocks of one sheet."""
    rows = sheet.rows
    if not rows:
        return
    page = sheet.index
    sheet_name = sheet.name
    yield RawBlock(BlockKind.HEADING, sheet_name, page=page, level=1, sheet=sheet_name)
    h = find_header_row(rows)
    if h is None:
        for rownum, cells in rows:
            filled = [(j, c) for j, c in enumerate(cells) if c]
            if not filled:
                continue
            loc = f"{_col_letter(filled[0][0])}{rownum}:{_col_letter(filled[-1][0])}{rownum}{location_suffix}"
            text = " | ".join(c for _, c in filled)
            kind = BlockKind.PARAGRAPH if len(filled) == 1 else BlockKind.RECORD
            yield RawBlock(kind, text, page=page, sheet=sheet_name, row=rownum, location=loc)
        return
    for rownum, cells in rows[:h]:
        title = " ".join(dict.fromkeys(c for c in cells if c))
        if title:
            yield RawBlock(BlockKind.HEADING, title, page=page, level=2, sheet=sheet_name, row=rownum)
    header_row, header_cells = rows[h]
    ncols = max(len(c) for _, c in rows)
    header = [header_cells[j] if j < len(header_cells) else "" for j in range(ncols)]
    by_row = {r: c for r, c in rows}
    for r0, c0, r1, c1 in sheet.merges:
        if r0 <= header_row <= r1 and c0 < ncols:
            top = by_row.get(r0, [])
            value = top[c0] if c0 < len(top) else ""
            for j in range(c0, min(c1, ncols - 1) + 1):
                if not header[j]:
                    header[j] = value  # merged header label: carried right
    # Merged cells below the header (one risk over several rows): carry the value down.
    for r0, c0, r1, c1 in sheet.merges:
        if r0 > header_row and r1 > r0 and r0 in by_row:
            value = by_row[r0][c0] if c0 < len(by_row[r0]) else ""
            for r in range(r0 + 1, r1 + 1):
                cells = by_row.get(r)
                if cells is not None and c0 < len(cells) and not cells[c0]:
                    cells[c0] = value
    # A blank header over a column with data: name it by its letter. (Columns with data
    # are found in one pass: a stray cell far right can make ncols 16,384.)
    used = {j for _, c in rows[h + 1 :] for j, v in enumerate(c) if v}
    for j in sorted(used):
        if not header[j]:
            header[j] = f"Column {_col_letter(j)}"
    id_col = next((j for j, name in enumerate(header) if _ID_HEADER.match(name.strip())), None)
    data = [(r, c) for r, c in rows[h + 1 :] if any(c)]
    with_id = sum(1 for _, c in data if id_col is not None and id_col < len(c) and c[id_col])
    use_continuation = id_col is not None and data and with_id >= 0.6 * len(data)

    record: dict[str, Any] | None = None

    def emit(rec: dict[str, Any]) -> Iterator[RawBlock]:
        fields: list[tuple[str, list[str]]] = []
        key: str | None = None
        for j in sorted(rec["values"]):  # only the columns this record fills, not all ncols
            vals = rec["values"][j]
            if vals:
                # a header carried right over merged cells: the columns' values make one field
                if fields and j > 0 and header[j] == header[j - 1]:
                    fields[-1][1].extend(v for v in vals if v not in fields[-1][1])
                else:
                    fields.append((header[j], list(vals)))
                    if j == id_col:
                        key = f"{header[j]}: {'; '.join(vals)}"
        parts = [f"{name}: {'; '.join(vals)}" for name, vals in fields]
        loc = f"{_col_letter(rec['c0'])}{rec['r0']}:{_col_letter(rec['c1'])}{rec['r1']}{location_suffix}"
        pieces = record_parts(parts, key, RECORD_MAX_CHARS)
        for k, text in enumerate(pieces, start=1):
            where = loc if len(pieces) == 1 else f"{loc} (part {k} of {len(pieces)})"
            yield RawBlock(BlockKind.RECORD, text, page=page, sheet=sheet_name, row=rec["r0"], location=where)

    for rownum, cells in data:
        filled = [(j, c) for j, c in enumerate(cells) if c]
        if len(filled) == 1 and ncols >= 3 and len(filled[0][1]) <= 150 and not (id_col is not None and filled[0][0] == id_col and record):
            if record:
                yield from emit(record)
                record = None
            yield RawBlock(BlockKind.HEADING, filled[0][1], page=page, level=3, sheet=sheet_name, row=rownum)
            continue
        rid = cells[id_col] if use_continuation and id_col is not None and id_col < len(cells) else None
        continues = record is not None and use_continuation and (not rid or rid == record["id"])
        if continues and record is not None:
            for j, c in filled:
                vals = record["values"].setdefault(j, [])
                if c not in vals:
                    vals.append(c)
            record["r1"] = rownum
            record["c0"] = min(record["c0"], filled[0][0])
            record["c1"] = max(record["c1"], filled[-1][0])
            continue
        if record:
            yield from emit(record)
        record = {
            "id": rid,
            "values": {j: [c] for j, c in filled},
            "r0": rownum,
            "r1": rownum,
            "c0": filled[0][0],
            "c1": filled[-1][0],
        }
    if record:
        yield from emit(record)


def record_parts(parts: list[str], key: str | None, limit: int) -> list[str]:
    """One record's fields as one text, or as several when longer than ``limit``.

    Each continuation starts with the record's key field marked "(cont.)"
    ("Risk ID: SR3 (cont.) | Controls: ..."), so every part says which risk
    it belongs to; the key is the id column, else the first field. A field
    too long for one part is cut at sentence ends, its name repeated
    ("Controls (cont.): ..."). Every part is at most ``limit`` characters
    unless one sentence is longer.

    Args:
        parts: "Name: value" strings in column order.
        key: The id field ("Risk ID: SR3"), or None to use the first field.
        limit: Most characters in one part.
    """
    whole = _SEP.join(parts)
    if len(whole) <= limit or not parts:
        return [whole]
    key = key or parts[0]
    if len(key) > 120:
        key = key[:117].rsplit(" ", 1)[0] + "..."
    head = f"{key} (cont.)"
    out: list[str] = []
    cur: list[str] = []

    def push(part: str) -> None:
        nonlocal cur
        if cur and len(_SEP.join([*cur, part])) > limit:
            out.append(_SEP.join(cur))
            cur = [head]
        cur.append(part)

    for part in parts:
        room = limit - len(head) - len(_SEP)
        if len(part) <= room:
            push(part)
            continue
        name, _, value = part.partition(": ")
        label = name if value else ""
        value = value or part
        for k, piece in enumerate(_cut_value(value, room - len(label) - 12)):
            push(f"{label}{' (cont.)' if k else ''}: {piece}" if label else piece)
    if cur and cur != [head]:
        out.append(_SEP.join(cur))
    return out


_SEP = " | "


def _cut_value(value: str, room: int) -> list[str]:
    """A long field value in pieces of at most ``room`` characters, at sentence ends, then spaces."""
    from pipeline.split import split_sentences

    room = max(room, 80)
    pieces: list[str] = []
    cur = ""
    for s, e in split_sentences(value):
        sentence = value[s:e]
        while len(sentence) > room:  # one sentence longer than a part: cut at a space
            cut = sentence.rfind(" ", room // 2, room)
            cut = cut if cut > 0 else room
            if cur:
                pieces.append(cur)
                cur = ""
            pieces.append(sentence[:cut].rstrip())
            sentence = sentence[cut:].lstrip()
        if cur and len(cur) + 1 + len(sentence) > room:
            pieces.append(cur)
            cur = sentence
        else:
            cur = f"{cur} {sentence}".strip()
    if cur:
        pieces.append(cur)
    return pieces


# ----------------------------------------------------------------------------- XLSX


def _scan_sheet_xml(zf: Any, part: str) -> tuple[list[tuple[int, int, int, int]], list[str]]:
    """Merged ranges (r0, c0, r1, c1) and cells with a formula but no saved value."""
    from defusedxml.ElementTree import iterparse

    merges: list[tuple[int, int, int, int]] = []
    no_value: list[str] = []
    try:
        fh = zf.open(part.lstrip("/"))
    except KeyError:
        return merges, no_value
    with fh:
        cell_ref = None
        has_f = has_v = False
        for event, el in iterparse(fh, events=("start", "end")):
            tag = el.tag.rsplit("}", 1)[-1]
            if event == "start":
                if tag == "c":
                    cell_ref = el.get("r")
                    has_f = has_v = False
                continue
            if tag == "f":
                has_f = True
            elif tag == "v":
                has_v = has_v or bool(el.text)
            elif tag == "is":
                has_v = True
            elif tag == "c":
                if has_f and not has_v and cell_ref:
                    no_value.append(cell_ref)
                el.clear()
            elif tag == "mergeCell":
                ref = el.get("ref", "")
                a, _, b = ref.partition(":")
                pa, pb = _parse_ref(a), _parse_ref(b or a)
                if pa and pb:
                    merges.append((pa[0], pa[1], pb[0], pb[1]))
            elif tag == "row":
                el.clear()
    return merges, no_value


class XlsxBackend(ExtractingBackend):
    """Read an Excel .xlsx workbook: every sheet, hidden ones flagged."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset({SourceFormat.XLSX})

    def extract(self, path: Path, limits: Limits) -> Extraction:
        check_ooxml(path, limits)
        import zipfile

        import openpyxl

        # An open file, not a path: openpyxl refuses a path by its extension, and the
        # format was decided from content (a workbook may be named .docx or .zip).
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below, after the workbook
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except MemoryError:
            fh.close()
            raise  # the runner names the limit
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds
            fh.close()
            raise DocumentLoadError(f"corrupt or unreadable Excel file ({type(exc).__name__}: {exc})") from exc
        warnings: list[str] = []
        raw: list[RawBlock] = []
        hidden: list[str] = []
        sheets_meta: list[dict[str, Any]] = []
        try:
            with zipfile.ZipFile(path) as zf:
                for idx, ws in enumerate(wb.worksheets, start=1):
                    sheet = self._read_sheet(ws, idx, zf, limits)
                    if sheet.hidden:
                        hidden.append(sheet.name)
                    warnings.extend(sheet.warnings)
                    before = len(raw)
                    raw.extend(_records(sheet, location_suffix=" (hidden sheet)" if sheet.hidden else ""))
                    sheets_meta.append(
                        {
                            "name": sheet.name,
                            "index": idx,
                            "hidden": sheet.hidden,
                            "records": sum(1 for b in raw[before:] if b.kind is BlockKind.RECORD),
                        }
                    )
        finally:
            wb.close()
            fh.close()
        if hidden:
            warnings.append(f"hidden sheet(s) read: {', '.join(hidden)}")
        title = None
        try:
            title = wb.properties.title or None
        except AttributeError:
            title = None
        return Extraction(
            blocks=build_blocks(raw, promote_minor=False),
            page_count=len(sheets_meta),
            title=title,
            warnings=warnings,
            meta={"sheets": sheets_meta, "hidden_sheets": hidden},
        )

    @staticmethod
    def _read_sheet(ws: Any, idx: int, zf: Any, limits: Limits) -> _Sheet:
        name = str(ws.title)
        hidden = getattr(ws, "sheet_state", "visible") != "visible"
        sheet = _Sheet(name, idx, hidden, [])
        part = getattr(ws, "_worksheet_path", None)
        merges, no_value = _scan_sheet_xml(zf, part) if part else ([], [])
        grid: dict[int, list[str]] = {}
        # Without a saved size, openpyxl pads each row only to its own last cell and skips
        # missing rows cheaply; with one (A1:XFD1048576 for a single stray cell in the far
        # corner) it yields every missing row as 16,384 empty cells, which never ends.
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()
        try:
            for row in ws.iter_rows():
                cells = [c for c in row if getattr(c, "value", None) is not None]
                if not cells:
                    continue
                rownum = cells[0].row
                if len(grid) >= limits.max_sheet_rows:
                    raise ResourceLimitError(
                        f"sheet {name!r} has more than {limits.max_sheet_rows} rows with data (max_sheet_rows)"
                    )
                width = max(c.column for c in cells)
                vals = [""] * width
                for c in cells:
                    vals[c.column - 1] = format_value(c.value, getattr(c, "number_format", None))
                grid[rownum] = vals
        except (ResourceLimitError, MemoryError):
            raise  # the runner names the limit
        except Exception as exc:  # noqa: BLE001
            raise DocumentLoadError(f"sheet {name!r} unreadable ({type(exc).__name__}: {exc})") from exc
        if no_value:
            shown = ", ".join(no_value[:_MAX_WARN])
            more = f" and {len(no_value) - _MAX_WARN} more" if len(no_value) > _MAX_WARN else ""
            sheet.warnings.append(
                f"sheet {name!r}: formula cell(s) {shown}{more} have no saved value (file not recalculated); recorded as empty"
            )
        sheet.rows = [(r, grid[r]) for r in sorted(grid) if any(grid[r])]
        sheet.merges = [m for m in merges if (m[2] - m[0] + 1) * (m[3] - m[1] + 1) <= 100_000]
        return sheet


# ----------------------------------------------------------------------------- CSV


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes of a text file: (text, encoding name).

    A BOM wins; then UTF-16 without a BOM (a NUL in every other byte); then
    strict UTF-8; then charset-normalizer's best guess when
    it is confident; else Windows-1252 (the usual encoding of CSVs saved by
    Excel in the UK).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    bomless = utf16_without_bom(data[:8192]) if b"\x00" in data[:8192] else None
    if bomless:
        return data.decode(bomless, errors="replace"), bomless
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        cp = data.decode("cp1252")
    except UnicodeDecodeError:
        cp = None
    if cp is not None:
        return cp, "cp1252"
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[: 1 << 20]).best()
        if best is not None and best.encoding:
            return data.decode(best.encoding, errors="replace"), best.encoding
    except Exception:  # noqa: BLE001 - detection is best effort
        log.debug("charset detection failed", exc_info=True)
    return data.decode("cp1252", errors="replace"), "cp1252"


class CsvBackend(ExtractingBackend):
    """Read a CSV (or TSV) file as one sheet of records."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset({SourceFormat.CSV})

    def extract(self, path: Path, limits: Limits) -> Extraction:
        data = path.read_bytes()
        text, encoding = decode_text(data)
        sample = text[:20000]
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        rows: list[tuple[int, list[str]]] = []
        # csv's default field limit is 128 KB; a long free-text cell may be bigger (the file is bounded anyway).
        old_limit = csv.field_size_limit(max(csv.field_size_limit(), min(limits.max_file_bytes, 2**31 - 1)))
        try:
            reader = csv.reader(io.StringIO(text, newline=""), dialect)
            for rownum, row in enumerate(reader, start=1):
                if len(rows) >= limits.max_sheet_rows:
                    raise ResourceLimitError(f"CSV has more than {limits.max_sheet_rows} rows (max_sheet_rows)")
                vals = [format_value(v) for v in row]
                if any(vals):
                    rows.append((rownum, vals))
        except csv.Error as exc:
            raise DocumentLoadError(f"malformed CSV ({exc})") from exc
        finally:
            csv.field_size_limit(old_limit)
        name = path.stem
        sheet = _Sheet(name, 1, False, rows)
        raw = [b for b in _records(sheet) if not (b.kind is BlockKind.HEADING and b.level == 1)]
        for b in raw:
            b.sheet = None
        return Extraction(
            blocks=build_blocks(raw, promote_minor=False),
            page_count=1,
            warnings=[] if encoding in ("utf-8", "ascii") else [f"read as {encoding}"],
            meta={"encoding": encoding, "delimiter": getattr(dialect, "delimiter", ",")},
        )


"""Decide a file's format from its bytes, not its name.

Magic bytes settle binary formats (PDF, zip-based Office files, plain zips,
legacy Office, images). Text formats are told apart by content (HTML tags,
delimited rows, Markdown marks); the name is only a tie-breaker between text
formats, and a name that disagrees with the content gives a warning.
"""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path, PurePosixPath

from pipeline.document import SourceFormat
from pipeline.errors import DocumentLoadError, UnsupportedFormatError
from pipeline.ingest.base import EXTENSION_FORMATS

__all__ = ["detect_format", "name_mismatch_warning", "is_zip_archive", "utf16_without_bom"]

_HEAD = 8192

#: Magic numbers of binary formats we do not read, with a plain description.
_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image, not a document"),
    (b"\xff\xd8\xff", "a JPEG image, not a document"),
    (b"GIF87a", "a GIF image, not a document"),
    (b"GIF89a", "a GIF image, not a document"),
    (b"II*\x00", "a TIFF image, not a document"),
    (b"MM\x00*", "a TIFF image, not a document"),
    (b"{\\rtf", "a Rich Text (RTF) file: save it as .docx"),
    (b"\x1f\x8b", "a gzip archive: only .zip archives are unpacked"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: only .zip archives are unpacked"),
    (b"Rar!\x1a\x07", "a RAR archive: only .zip archives are unpacked"),
    (b"\x7fELF", "an executable program, not a document"),
    (b"MZ", "a Windows executable, not a document"),
)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Stream names (UTF-16 in the OLE directory) that tell legacy Office files apart.
_OLE_KINDS: tuple[tuple[str, str, str], ...] = (
    ("__substg1.0_", "an Outlook e-mail, .msg", "save the e-mail and its attachments as PDF"),
    ("WordDocument", "a Word 97-2003 document, .doc", "save it as .docx"),
    ("Workbook", "an Excel 97-2003 workbook, .xls", "save it as .xlsx"),
    ("PowerPoint Document", "a PowerPoint 97-2003 file, .ppt", "save it as PDF"),
)
#: Relationships namespace of Strict Open XML (ISO 29500 Strict), which our parsers do not read.
_STRICT_RELS = b"http://purl.oclc.org/ooxml/officeDocument/relationships"
#: Text formats a name may promise; with one of these names, stray NUL bytes do not make a file binary.
_TEXT_EXTS = frozenset(ext for ext, f in EXTENSION_FORMATS.items() if f in (
    SourceFormat.CSV, SourceFormat.TEXT, SourceFormat.MARKDOWN, SourceFormat.HTML))  # fmt: skip
_HTML_RE = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
_HTML_TAGS_RE = re.compile(rb"<(?:p|div|h[1-6]|table|ul|ol|br|span)\b[^>]*>", re.I)
_MD_RE = re.compile(r"^(?:#{1,6} \S|\|.*\|\s*$|[-*+] \S|\d+\. \S|```|> )", re.M)


def is_zip_archive(path: Path) -> bool:
    """True when ``path`` is a zip that is not an Office (DOCX/XLSX) file."""
    try:
        return detect_format(path) is SourceFormat.ZIP
    except (DocumentLoadError, UnsupportedFormatError, OSError):
        return False


def _zip_kind(path: Path) -> SourceFormat:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            strict = _is_strict_ooxml(zf, names)
    except UnicodeDecodeError as exc:  # before ValueError, which it is
        raise DocumentLoadError(
            "corrupt zip container: entry names are marked as UTF-8 but are not (made by a faulty zip tool); "
            "zip the files again"
        ) from exc
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentLoadError(f"corrupt zip container ({exc})") from exc
    if "word/document.xml" in names or any(n.startswith("word/") and n.endswith("document.xml") for n in names):
        if strict:
            raise UnsupportedFormatError(
                "Strict Open XML Word file is not supported: save it in Word as an ordinary .docx (Word Document)"
            )
        return SourceFormat.DOCX
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        if "xl/workbook.bin" in names and "xl/workbook.xml" not in names:
            raise UnsupportedFormatError("Excel binary workbook (.xlsb) is not supported: save it as .xlsx")
        if strict:
            raise UnsupportedFormatError(
                "Strict Open XML spreadsheet is not supported: save it in Excel as an ordinary .xlsx (Excel Workbook)"
            )
        return SourceFormat.XLSX
    if "ppt/presentation.xml" in names:
        raise UnsupportedFormatError("PowerPoint (.pptx) files are not supported")
    if "[Content_Types].xml" in names and "mimetype" not in names and any(n.startswith("word/") for n in names):
        raise DocumentLoadError("Word file has no main document part (word/document.xml)")
    if "mimetype" in names:
        raise UnsupportedFormatError("OpenDocument file (.odt/.ods) is not supported: save it as .docx or .xlsx")
    return SourceFormat.ZIP


def _is_strict_ooxml(zf: zipfile.ZipFile, names: set[str]) -> bool:
    """True when the package's relationships use the Strict Open XML namespace."""
    if "_rels/.rels" not in names:
        return False
    info = zf.getinfo("_rels/.rels")
    if info.file_size > (1 << 20):
        return False
    try:
        return _STRICT_RELS in zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return False


def utf16_without_bom(head: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when ``head`` reads as mostly-ASCII UTF-16 text without a BOM, else None.

    Such text has a NUL byte in every other position (Excel's "Unicode Text"
    has a BOM; some exports leave it out).
    """
    sample = head[: len(head) - len(head) % 2][:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    half = len(sample) // 2
    if odd.count(0) >= 0.9 * half and even.count(0) <= 0.1 * half:
        return "utf-16-le"
    if even.count(0) >= 0.9 * half and odd.count(0) <= 0.1 * half:
        return "utf-16-be"
    return None


def _text_despite_nuls(head: bytes) -> bool:
    """True when ``head`` is text with stray NUL bytes (a broken export), not a binary file."""
    rest = head.replace(b"\x00", b"")
    if len(rest) < len(head) // 2 or not rest:
        return False
    text = rest.decode("utf-8", errors="ignore") or rest.decode("cp1252", errors="ignore")
    if not text:
        return False
    good = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n\f")
    return good >= 0.97 * len(text)


def _looks_delimited(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:10]), delimiters=",;\t|")
    except csv.Error:
        return False
    counts = [len(row) for row in csv.reader(lines[:10], dialect)]
    return min(counts) >= 2 and max(counts) - min(counts) <= 1 and counts.count(counts[0]) >= len(counts) * 0.6


def detect_format(path: Path, name: str | None = None) -> SourceFormat:
    """The format of the file at ``path``, read from its content.

    Args:
        path: File on disk.
        name: Name to use as a hint between text formats (defaults to the
            file's own name).

    Raises:
        DocumentLoadError: Empty, unreadable, or an encrypted Office file.
        UnsupportedFormatError: Content is a format no backend reads.
    """
    path = Path(path)
    name = name or path.name
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        raise DocumentLoadError("empty file (0 bytes)")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_kind(path)
    if b"%PDF-" in head[:1024]:
        return SourceFormat.PDF
    if head.startswith(_OLE_MAGIC):
        with open(path, "rb") as fh:
            blob = fh.read(4 << 20)
        if "EncryptionInfo".encode("utf-16-le") in blob or "EncryptedPackage".encode("utf-16-le") in blob:
            raise DocumentLoadError("encrypted Office file (password required)")
        found = sorted(
            (pos, kind, advice)
            for stream, kind, advice in _OLE_KINDS
            if (pos := blob.find(stream.encode("utf-16-le"))) >= 0
        )
        if found:  # the first stream named in the directory says what the file is (later ones may be embedded)
            _, kind, advice = found[0]
            raise UnsupportedFormatError(f"legacy Office binary file ({kind}) is not supported: {advice}")
        raise UnsupportedFormatError(
            "legacy Office binary file (.doc/.xls/.ppt) is not supported: save it as .docx or .xlsx"
        )
    for magic, what in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormatError(f"file is {what}")
    ext = PurePosixPath(name).suffix.lower()
    hinted = EXTENSION_FORMATS.get(ext)
    utf16: str | None = "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else None
    if not utf16 and b"\x00" in head:
        utf16 = utf16_without_bom(head)
        if utf16 is None and not (ext in _TEXT_EXTS and _text_despite_nuls(head)):
            raise UnsupportedFormatError("binary file of unknown type, not a document")
        if utf16 is None:
            head = head.replace(b"\x00", b"")  # stray NULs in a text file: the backend drops them too
    if utf16:
        sample = head.decode(utf16, errors="ignore")
        probe = sample.encode("utf-8", errors="ignore")
    else:
        sample = head.decode("utf-8", errors="ignore") or head.decode("cp1252", errors="ignore")
        probe = head
    if _HTML_RE.match(probe) or len(_HTML_TAGS_RE.findall(probe)) >= 3:
        return SourceFormat.HTML
    if hinted is SourceFormat.CSV:
        return SourceFormat.CSV
    if hinted is SourceFormat.MARKDOWN:
        return SourceFormat.MARKDOWN
    if hinted is SourceFormat.TEXT:
        return SourceFormat.TEXT
    if _looks_delimited(sample) and not _MD_RE.search(sample):
        return SourceFormat.CSV
    if len(_MD_RE.findall(sample)) >= 2:
        return SourceFormat.MARKDOWN
    return SourceFormat.TEXT


_TEXT_FAMILY = {SourceFormat.TEXT, SourceFormat.MARKDOWN, SourceFormat.CSV, SourceFormat.HTML}


def name_mismatch_warning(name: str, fmt: SourceFormat) -> str | None:
    """A warning when the file's extension says one format and the content another."""
    ext = PurePosixPath(name).suffix.lower()
    hinted = EXTENSION_FORMATS.get(ext)
    if hinted is None:
        if ext:
            return f"unrecognised extension {ext!r}; content read as {fmt.value}"
        return f"no file extension; content read as {fmt.value}"
    if hinted is fmt or (hinted in _TEXT_FAMILY and fmt in _TEXT_FAMILY):
        return None
    return f"file is named {ext} but its content is {fmt.value}; read as {fmt.value}"

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

__all__ = ["detect_format", "name_mismatch_warning", "is_zip_archive"]

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
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentLoadError(f"corrupt zip container ({exc})") from exc
    if "word/document.xml" in names or any(n.startswith("word/") and n.endswith("document.xml") for n in names):
        return SourceFormat.DOCX
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        if "xl/workbook.bin" in names and "xl/workbook.xml" not in names:
            raise UnsupportedFormatError("Excel binary workbook (.xlsb) is not supported: save it as .xlsx")
        return SourceFormat.XLSX
    if "ppt/presentation.xml" in names:
        raise UnsupportedFormatError("PowerPoint (.pptx) files are not supported")
    if "[Content_Types].xml" in names and "mimetype" not in names and any(n.startswith("word/") for n in names):
        raise DocumentLoadError("Word file has no main document part (word/document.xml)")
    if "mimetype" in names:
        raise UnsupportedFormatError("OpenDocument file (.odt/.ods) is not supported: save it as .docx or .xlsx")
    return SourceFormat.ZIP


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
        raise UnsupportedFormatError(
            "legacy Office binary file (.doc/.xls/.ppt) is not supported: save it as .docx or .xlsx"
        )
    for magic, what in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormatError(f"file is {what}")
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not utf16 and b"\x00" in head:
        raise UnsupportedFormatError("binary file of unknown type, not a document")
    if _HTML_RE.match(head) or len(_HTML_TAGS_RE.findall(head)) >= 3:
        return SourceFormat.HTML
    ext = PurePosixPath(name).suffix.lower()
    hinted = EXTENSION_FORMATS.get(ext)
    if utf16:
        sample = head.decode("utf-16", errors="ignore")
    else:
        sample = head.decode("utf-8", errors="ignore") or head.decode("cp1252", errors="ignore")
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

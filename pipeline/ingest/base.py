"""The backend interface, the format registry and the records of a run.

One backend per format sits behind :class:`Backend`: it exposes
``supported_formats`` and ``load(path) -> Document``. Backends here share
:class:`ExtractingBackend`, which turns an :class:`Extraction` (blocks in
reading order, with provenance) into a :class:`~pipeline.document.Document`:
it joins the block texts into ``Document.text`` and records each block's
character offsets, so every passage can be traced back exactly.

Which backend reads a format is looked up in data (:data:`BACKENDS`), not in
an if-chain, and the format itself is decided from content
(:mod:`pipeline.ingest.detect`); :data:`EXTENSION_FORMATS` is only used to
notice a mislabelled file.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pipeline.document import Block, BlockKind, Document, DocType, Passage, SourceFormat, fast_pickle
from pipeline.errors import UnsupportedFormatError
from pipeline.limits import Limits

__all__ = [
    "Backend",
    "ExtractingBackend",
    "Extraction",
    "SourceFile",
    "FileResult",
    "PackResult",
    "BACKENDS",
    "EXTENSION_FORMATS",
    "MANIFEST_FIELDS",
    "get_backend",
    "assemble_document",
    "file_sha256",
    "clean_line",
]

#: File-name extensions and the format a file so named should hold.
EXTENSION_FORMATS: dict[str, SourceFormat] = {
    ".pdf": SourceFormat.PDF,
    ".docx": SourceFormat.DOCX,
    ".docm": SourceFormat.DOCX,
    ".xlsx": SourceFormat.XLSX,
    ".xlsm": SourceFormat.XLSX,
    ".csv": SourceFormat.CSV,
    ".tsv": SourceFormat.CSV,
    ".txt": SourceFormat.TEXT,
    ".text": SourceFormat.TEXT,
    ".md": SourceFormat.MARKDOWN,
    ".markdown": SourceFormat.MARKDOWN,
    ".html": SourceFormat.HTML,
    ".htm": SourceFormat.HTML,
    ".zip": SourceFormat.ZIP,
}

#: Which backend class reads each format ("module:Class", imported on first use).
BACKENDS: dict[SourceFormat, str] = {
    SourceFormat.PDF: "pipeline.ingest.pdf:PdfBackend",
    SourceFormat.DOCX: "pipeline.ingest.docx:DocxBackend",
    SourceFormat.XLSX: "pipeline.ingest.xlsx:XlsxBackend",
    SourceFormat.CSV: "pipeline.ingest.xlsx:CsvBackend",
    SourceFormat.TEXT: "pipeline.ingest.text:TextBackend",
    SourceFormat.MARKDOWN: "pipeline.ingest.text:MarkdownBackend",
    SourceFormat.HTML: "pipeline.ingest.text:HtmlBackend",
}

#: Columns of manifest.csv (and keys of each manifest.json row), in order.
MANIFEST_FIELDS: tuple[str, ...] = (
    "path",
    "status",
    "reason",
    "format",
    "doc_type",
    "pages",
    "passages",
    "document_id",
    "title",
    "date",
    "size",
    "sha256",
    "container",
    "duplicate_of",
    "warnings",
    "redacted",
    "seconds",
)


@runtime_checkable
class Backend(Protocol):
    """What every format backend offers."""

    supported_formats: ClassVar[frozenset[SourceFormat]]

    def load(self, path: Path, *, source_path: str | None = None, limits: Limits | None = None) -> Document:
        """Read ``path`` into a Document.

        Raises:
            DocumentLoadError: The file cannot be read (bad input).
            ResourceLimitError: The file breaks a bound in ``limits``.
        """
        ...


@dataclass(slots=True)
class Extraction:
    """What a backend read from a file, before it becomes a Document.

    Block offsets are ignored here; :func:`assemble_document` sets them.
    """

    blocks: list[Block] = field(default_factory=list)
    page_count: int | None = None
    title: str | None = None
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class ExtractingBackend:
    """Base for backends: subclasses implement :meth:`extract`."""

    supported_formats: ClassVar[frozenset[SourceFormat]] = frozenset()
    #: Format recorded on the Document when a backend reads several.
    default_format: ClassVar[SourceFormat | None] = None

    def extract(self, path: Path, limits: Limits) -> Extraction:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(
        self,
        path: Path,
        *,
        source_path: str | None = None,
        limits: Limits | None = None,
        fmt: SourceFormat | None = None,
        sha256: str | None = None,
        warnings: tuple[str, ...] = (),
    ) -> Document:
        """Read ``path`` into a :class:`Document` (see :class:`Backend`)."""
        limits = Limits.resolve(limits)
        path = Path(path)
        extraction = self.extract(path, limits)
        extraction.warnings[:0] = list(warnings)
        fmt = fmt or self.default_format or next(iter(self.supported_formats))
        return assemble_document(
            extraction,
            source_path=source_path or path.name,
            fmt=fmt,
            document_id=sha256 or file_sha256(path),
        )


def get_backend(fmt: SourceFormat) -> ExtractingBackend:
    """Return a backend instance for ``fmt``.

    Raises:
        UnsupportedFormatError: No backend reads ``fmt``.
    """
    try:
        target = BACKENDS[SourceFormat(fmt)]
    except (KeyError, ValueError):
        raise UnsupportedFormatError(f"no backend reads format {fmt!r}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            h.update(data)
    return h.hexdigest()


_SPACE_RE = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def clean_line(text: str) -> str:
    """Collapse runs of spaces (and odd space characters) and drop control characters."""
    text = _CTRL_RE.sub("", text.replace("\u00ad", ""))
    return _SPACE_RE.sub(" ", text).strip()


def _clean_block_text(kind: str, text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if kind in (BlockKind.TABLE_ROW.value, BlockKind.RECORD.value):
        # Keep single newlines inside a record's field values out: one line each.
        return clean_line(text.replace("\n", " "))
    lines = [clean_line(line) for line in text.split("\n")]
    return " ".join(line for line in lines if line)


def _separator(prev: Block, cur: Block) -> str:
    rowlike = (BlockKind.TABLE_ROW.value, BlockKind.RECORD.value)
    if prev.kind in rowlike and cur.kind in rowlike:
        return "\n"
    return "\n\n"


#: Warn when headings hold more than this share of a document's text (usually they hold under a tenth).
HEADING_SHARE_WARN = 0.25
HEADING_SHARE_MIN_CHARS = 2000


def assemble_document(
    extraction: Extraction,
    *,
    source_path: str,
    fmt: SourceFormat | str,
    document_id: str,
) -> Document:
    """Join an extraction's blocks into a :class:`Document` with exact offsets.

    Block texts are normalised (spaces collapsed, control characters dropped);
    empty blocks are dropped. ``Document.text[b.char_start:b.char_end] == b.text``
    holds for every block. A document whose headings hold more than
    :data:`HEADING_SHARE_WARN` of its text gets a warning (headings are not
    passages, so that text would not be tagged). Document type, date and title are decided here
    (:mod:`pipeline.ingest.doctype`).
    """
    from pipeline.ingest.doctype import detect_date, detect_doc_type, detect_title

    parts: list[str] = []
    blocks: list[Block] = []
    pos = 0
    source = extraction.blocks
    for k, block in enumerate(source):
        source[k] = None  # type: ignore[call-overload]  # let the raw block go as we go (long files)
        text = _clean_block_text(block.kind, block.text)
        if not text:
            continue
        if blocks:
            sep = _separator(blocks[-1], block)
            parts.append(sep)
            pos += len(sep)
        parts.append(text)
        blocks.append(replace(block, text=text, char_start=pos, char_end=pos + len(text)))
        pos += len(text)
    source.clear()
    text = "".join(parts)
    del parts
    file_name = source_path.rsplit("/", 1)[-1]
    title = detect_title(extraction.title, blocks, file_name)
    doc_type = detect_doc_type(file_name, title, blocks, source_path=source_path)
    date, precision = detect_date(file_name, blocks, title)
    meta = dict(extraction.meta)
    if date and precision != "day":
        meta["date_precision"] = precision
    warnings = list(extraction.warnings)
    heading_chars = sum(len(b.text) for b in blocks if b.kind == BlockKind.HEADING.value)
    if len(text) >= HEADING_SHARE_MIN_CHARS and heading_chars > HEADING_SHARE_WARN * len(text):
        # Headings are not passages: text read as headings is missing from what gets tagged.
        warnings.append(
            f"headings hold {heading_chars / len(text):.0%} of the text: body text may have been read as headings"
        )
    return Document(
        document_id=document_id,
        source_path=source_path,
        file_name=file_name,
        format=SourceFormat(fmt).value,
        doc_type=doc_type.value if isinstance(doc_type, DocType) else str(doc_type),
        title=title,
        text=text,
        blocks=tuple(blocks),
        page_count=extraction.page_count,
        date=date,
        warnings=tuple(dict.fromkeys(warnings)),
        meta=meta,
    )


# --------------------------------------------------------------------------- records of a run


@fast_pickle
@dataclass(frozen=True, slots=True)
class SourceFile:
    """One input found in a pack: a file, a zip, or a zip member.

    Attributes:
        path_in_pack: "/"-separated path inside the pack; a zip member is
            ``<zip path>/<member path>`` so nested folders stay in the name.
        local_path: Where the bytes are on disk (None for refused members).
        sha256: Hex digest of the bytes ("" when not read).
        size: Size in bytes (declared size for refused members).
        status: None when the file is to be read; "failed" or "skipped" when
            discovery already decided (refused zip member, system file ...).
        reason: Plain reason for a pre-set status.
        container: ``path_in_pack`` of the zip this came from, if any.
        is_archive: True for a zip that was unpacked (its members follow).
        fmt: Format detected from content at discovery, when known.
    """

    path_in_pack: str
    local_path: Path | None
    sha256: str = ""
    size: int = 0
    status: str | None = None
    reason: str = ""
    container: str | None = None
    is_archive: bool = False
    fmt: str | None = None


@fast_pickle
@dataclass(frozen=True, slots=True)
class FileResult:
    """What became of one :class:`SourceFile`.

    ``status`` is "ingested", "failed", "skipped" or "duplicate"; ``reason``
    says why in plain words for every status but "ingested".
    """

    source: SourceFile
    status: str
    reason: str = ""
    document: Document | None = None
    passages: list[Passage] = field(default_factory=list)
    seconds: float = 0.0
    fmt: str | None = None
    duplicate_of: str | None = None  # path_in_pack of the first file with these bytes
    peak_rss_mb: float | None = None  # peak resident memory of the worker, when measured
    cpu_seconds: float | None = None  # CPU time of the worker, when measured

    @property
    def pages(self) -> int | None:
        return self.document.page_count if self.document else None

    def manifest_row(self) -> dict[str, Any]:
        """One manifest row (keys :data:`MANIFEST_FIELDS`)."""
        doc = self.document
        return {
            "path": self.source.path_in_pack,
            "status": self.status,
            "reason": self.reason,
            "format": (doc.format if doc else None) or self.fmt or self.source.fmt or "",
            "doc_type": doc.doc_type if doc else "",
            "pages": doc.page_count if doc and doc.page_count is not None else "",
            "passages": len(self.passages) if self.status == "ingested" else 0,
            "document_id": doc.document_id if doc else (self.source.sha256 if self.status == "duplicate" else ""),
            "title": doc.title if doc else "",
            "date": (doc.date or "") if doc else "",
            "size": self.source.size,
            "sha256": self.source.sha256,
            "container": self.source.container or "",
            "duplicate_of": self.duplicate_of or "",
            "warnings": " | ".join(doc.warnings) if doc else "",
            # personal data masked in this document's passages, e.g. "phone 2; email 1"
            "redacted": "; ".join(f"{k} {v}" for k, v in (doc.meta.get("redacted") or {}).items() if v)
            if doc
            else "",
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class PackResult:
    """Everything one ingest run produced, in discovery order."""

    results: list[FileResult]
    out_dir: Path | None = None
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """How many inputs ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def documents(self) -> list[Document]:
        return [r.document for r in self.results if r.status == "ingested" and r.document is not None]

    @property
    def passages(self) -> list[Passage]:
        return [p for r in self.results if r.status == "ingested" for p in r.passages]

    @property
    def pages(self) -> int:
        return sum(d.page_count or 0 for d in self.documents)

    def summary(self) -> dict[str, Any]:
        """Counts by status, pages and passages."""
        return {
            "files": len(self.results),
            "ingested": self.count("ingested"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "duplicate": self.count("duplicate"),
            "pages": self.pages,
            "passages": sum(len(r.passages) for r in self.results if r.status == "ingested"),
            "seconds": round(self.seconds, 2),
        }

"""Records that flow through the pipeline: Document, Block, Passage, Tag.

Data flows one way: a file is ingested into a :class:`Document` made of
:class:`Block` s, the splitter turns the blocks into :class:`Passage` s, the
classifier gives each passage :class:`Tag` s. Each record is immutable and
serialises to a plain dict (``to_dict``) and back (``from_dict``) so stages can
hand them over as JSON lines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from operator import attrgetter
from typing import Any, TypeVar

__all__ = [
    "DocType",
    "SourceFormat",
    "BlockKind",
    "Block",
    "Document",
    "Passage",
    "Tag",
    "PassageTags",
    "fast_pickle",
]

_C = TypeVar("_C", bound=type)


def fast_pickle(cls: _C) -> _C:
    """Give a frozen, slotted dataclass a quick pickled state: its field values as a tuple.

    Python's own state methods for such classes call ``dataclasses.fields``
    for every object pickled and unpickled; results of a 1,000-page pack hold
    tens of thousands of records and cross process and cache boundaries, where
    that cost showed (profiled in ``benchmarks/bench_flows.py``). The state is
    the field values in declaration order, as before, so records pickled by
    the old methods still load.
    """
    names = tuple(f.name for f in fields(cls))
    get = attrgetter(*names)
    setters = tuple(getattr(cls, n).__set__ for n in names)  # slot descriptors: no frozen __setattr__
    if len(names) == 1:

        def __getstate__(self: Any) -> tuple[Any, ...]:
            return (get(self),)

    else:

        def __getstate__(self: Any) -> tuple[Any, ...]:
            return get(self)

    def __setstate__(self: Any, state: Any) -> None:
        for set_, value in zip(setters, state):
            set_(self, value)

    cls.__getstate__ = __getstate__  # type: ignore[attr-defined]
    cls.__setstate__ = __setstate__  # type: ignore[attr-defined]
    return cls


class SourceFormat(str, Enum):
    """File formats the ingest stage reads (decided from content, not name)."""

    PDF = "pdf"
    DOCX = "docx"
    XLSX = "xlsx"
    CSV = "csv"
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    ZIP = "zip"


class DocType(str, Enum):
    """The kind of trust paper a document is."""

    BOARD_MINUTES = "board_minutes"
    ANNUAL_REPORT = "annual_report"
    RISK_REGISTER = "risk_register"
    STRATEGY = "strategy"
    COMMITTEE_REPORT = "committee_report"
    POLICY = "policy"
    OTHER = "other"


class BlockKind(str, Enum):
    """What a block of extracted text is."""

    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE_ROW = "table_row"
    RECORD = "record"  # one spreadsheet row (a risk) with its field names
    MINUTE_ITEM = "minute_item"


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    for key in ("heading_path",):
        if key in kwargs and kwargs[key] is not None:
            kwargs[key] = tuple(kwargs[key])
    return cls(**kwargs)


@fast_pickle
@dataclass(frozen=True, slots=True)
class Block:
    """A unit of extracted text in reading order, with where it came from.

    ``char_start``/``char_end`` index into :attr:`Document.text`.
    """

    kind: str
    text: str
    page: int | None = None
    sheet: str | None = None
    row: int | None = None
    location: str | None = None
    heading_path: tuple[str, ...] = ()
    char_start: int = 0
    char_end: int = 0
    page_end: int | None = None  # last page when the block runs over a page break

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Block:
        return _from_dict(cls, data)


@fast_pickle
@dataclass(frozen=True, slots=True)
class Document:
    """One input file, read.

    ``document_id`` is the sha256 of the file's bytes, so the same paper
    found twice in a pack has the same id.
    """

    document_id: str
    source_path: str  # path inside the pack, "/"-separated, zip folders kept
    file_name: str
    format: str
    doc_type: str
    title: str
    text: str
    blocks: tuple[Block, ...] = ()
    page_count: int | None = None
    date: str | None = None  # ISO date (YYYY-MM-DD) when the text or name gives one
    warnings: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, with_text: bool = False) -> dict[str, Any]:
        d = {
            "document_id": self.document_id,
            "source_path": self.source_path,
            "file_name": self.file_name,
            "format": self.format,
            "doc_type": self.doc_type,
            "title": self.title,
            "page_count": self.page_count,
            "date": self.date,
            "warnings": list(self.warnings),
            "meta": dict(self.meta),
        }
        if with_text:
            d["text"] = self.text
            d["blocks"] = [b.to_dict() for b in self.blocks]
        return d


@fast_pickle
@dataclass(frozen=True, slots=True)
class Passage:
    """A unit for tagging: one to five sentences, a minute item or a table row.

    Offsets index into the text of the document it came from, so an
    inspector can be taken back to the exact place.
    """

    passage_id: str
    document_id: str
    text: str
    source_path: str = ""
    doc_type: str = DocType.OTHER.value
    kind: str = BlockKind.PARAGRAPH.value
    page: int | None = None
    page_end: int | None = None
    sheet: str | None = None
    row: int | None = None
    location: str | None = None
    heading_path: tuple[str, ...] = ()
    char_start: int = 0
    char_end: int = 0
    duplicate_of: str | None = None  # passage_id of the first identical passage in the pack

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Passage:
        return _from_dict(cls, data)


@fast_pickle
@dataclass(frozen=True, slots=True)
class Tag:
    """One label given to one passage, with the evidence for it."""

    framework: str  # "kloe" or "qs"
    label: str  # area id, e.g. "W3" or "freedom-to-speak-up"
    score: float  # calibrated, in [0, 1]
    terms: tuple[str, ...] = ()  # terms and matched phrases that drove it

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.label, "score": round(self.score, 4), "terms": list(self.terms)}


@fast_pickle
@dataclass(frozen=True, slots=True)
class PassageTags:
    """Everything the classifier says about one passage."""

    passage_id: str
    kloe: tuple[Tag, ...] = ()
    qs: tuple[Tag, ...] = ()
    evidence: tuple[str, ...] = ()  # key-evidence item ids
    why: tuple[str, ...] = ()  # top terms over all tags
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # every label's score

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.passage_id,
            "kloe": [t.to_dict() for t in self.kloe],
            "qs": [t.to_dict() for t in self.qs],
            "evidence": list(self.evidence),
            "why": list(self.why),
        }

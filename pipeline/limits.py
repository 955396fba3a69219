"""Bounds on what one input file, or one pack, may cost to read.

A pre-inspection pack comes from many hands; a file may be corrupt, encrypted,
huge, a zip bomb or a PDF that makes a parser spin. :class:`Limits` holds every
bound the ingest stage enforces, so a run always finishes and each file that
breaks a bound is recorded as failed with a plain reason naming the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["Limits"]

_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource bounds for ingestion. Every field has a documented default.

    Attributes:
        max_file_bytes: Largest single input file (or zip member) read, in bytes.
            Default 200 MB.
        max_pages: Most pages read from one PDF; longer files fail. Default 5000.
        max_zip_total_bytes: Most bytes one zip (nested zips included) may expand
            to. Default 2 GB.
        max_zip_entries: Most entries one zip (nested zips included) may hold;
            entries past the limit are listed in one failed manifest row.
            Default 5000.
        max_zip_depth: How deep zips may nest: 1 means a zip is opened but a
            zip inside it is not. Default 3.
        max_zip_ratio: Largest expansion ratio (uncompressed / compressed) of a
            zip member bigger than 1 MB; above it the member is refused as a
            likely bomb. Default 200.
        max_xml_part_bytes: Largest uncompressed XML part in a DOCX or XLSX.
            Default 100 MB.
        max_sheet_rows: Most rows read from one spreadsheet sheet (or CSV).
            Default 100,000.
        per_file_seconds: Wall-clock time a worker may spend on one file before
            it is killed. Default 180 s.
        per_file_memory_mb: Address space (RLIMIT_AS) a worker may add on top of
            what it holds when it starts, in MB. Default 1024.
        max_passages_per_file: Most passages kept from one file; the rest are
            dropped with a warning. Default 50,000.
        ocr: OCR pages without a text layer when the tesseract binary and the
            ``pytesseract`` package are installed. Default True.
        max_ocr_pages: Most pages OCR'd in one file. Default 50.
    """

    max_file_bytes: int = 200 * _MB
    max_pages: int = 5000
    max_zip_total_bytes: int = 2048 * _MB
    max_zip_entries: int = 5000
    max_zip_depth: int = 3
    max_zip_ratio: float = 200.0
    max_xml_part_bytes: int = 100 * _MB
    max_sheet_rows: int = 100_000
    per_file_seconds: float = 180.0
    per_file_memory_mb: int = 1024
    max_passages_per_file: int = 50_000
    ocr: bool = True
    max_ocr_pages: int = 50

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "ocr":
                if not isinstance(value, bool):
                    raise ValueError(f"Limits.ocr must be a bool, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Limits.{f.name} must be a number, got {value!r}")
            if f.name in ("max_zip_depth", "max_ocr_pages"):
                if value < 0:
                    raise ValueError(f"Limits.{f.name} must be >= 0, got {value!r}")
            elif value <= 0:
                raise ValueError(f"Limits.{f.name} must be > 0, got {value!r}")
        if self.max_zip_ratio < 1:
            raise ValueError(f"Limits.max_zip_ratio must be >= 1, got {self.max_zip_ratio!r}")

    @classmethod
    def resolve(cls, limits: Limits | Mapping[str, Any] | None = None, **overrides: Any) -> Limits:
        """Return a :class:`Limits` from ``None`` (defaults), a mapping or a Limits.

        Args:
            limits: Existing limits, a mapping of field names to values, or None.
            **overrides: Fields to change on top.

        Raises:
            ValueError: A name is not a field, or a value breaks its rule.
        """
        if limits is None:
            base = cls()
        elif isinstance(limits, Limits):
            base = limits
        elif isinstance(limits, Mapping):
            unknown = set(limits) - {f.name for f in fields(cls)}
            if unknown:
                raise ValueError(f"Limits has no field(s) {sorted(unknown)}")
            base = cls(**dict(limits))
        else:
            raise ValueError(f"limits must be a Limits, a mapping or None, got {type(limits).__name__}")
        if overrides:
            unknown = set(overrides) - {f.name for f in fields(cls)}
            if unknown:
                raise ValueError(f"Limits has no field(s) {sorted(unknown)}")
            base = replace(base, **overrides)
        return base

    def to_dict(self) -> dict[str, Any]:
        """The limits as a plain dict (for run records)."""
        return asdict(self)

"""Ingestion: turn each file of a trust pack into a Document and Passages.

Public API::

    from pipeline.ingest import discover_pack, process_file, ingest_pack, SourceFile, FileResult, PackResult

    files = discover_pack(pack, staging, limits)       # every input, zips unpacked safely
    res = process_file(files[0], limits)               # one file, in a bounded worker process
    result = ingest_pack(pack, out_dir, limits, workers=2, progress=cb)   # all of it + outputs
    write_outputs(result.results, out_dir)             # the writing part on its own

One backend per format (:mod:`.pdf`, :mod:`.docx`, :mod:`.xlsx`, :mod:`.text`)
sits behind :class:`Backend`; :func:`load_document` reads one file in this
process (no isolation) and is what the worker runs.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.document import Document, SourceFormat
from pipeline.ingest.base import (
    BACKENDS,
    EXTENSION_FORMATS,
    MANIFEST_FIELDS,
    Backend,
    Extraction,
    FileResult,
    PackResult,
    SourceFile,
    get_backend,
)
from pipeline.ingest.detect import detect_format
from pipeline.ingest.pack import (
    SCRATCH_DIR,
    ProgressCallback,
    check_pack,
    discover_pack,
    ingest_pack,
    mark_duplicate_passages,
    write_outputs,
)
from pipeline.ingest.runner import process_file, remove_stale_scratch, run_file
from pipeline.limits import Limits

__all__ = [
    "BACKENDS",
    "EXTENSION_FORMATS",
    "MANIFEST_FIELDS",
    "SCRATCH_DIR",
    "Backend",
    "Extraction",
    "FileResult",
    "Limits",
    "PackResult",
    "ProgressCallback",
    "SourceFile",
    "check_pack",
    "detect_format",
    "discover_pack",
    "get_backend",
    "ingest_pack",
    "remove_stale_scratch",
    "load_document",
    "mark_duplicate_passages",
    "process_file",
    "run_file",
    "write_outputs",
]


def load_document(path: Path | str, *, source_path: str | None = None, limits: Limits | None = None) -> Document:
    """Read one file into a :class:`Document` in this process (format from content).

    Raises:
        DocumentLoadError: Bad input. UnsupportedFormatError: No backend reads it.
    """
    from pipeline.ingest.detect import name_mismatch_warning

    path = Path(path)
    fmt: SourceFormat = detect_format(path, name=source_path or path.name)
    warning = name_mismatch_warning(source_path or path.name, fmt)
    return get_backend(fmt).load(
        path, source_path=source_path or path.name, limits=limits, fmt=fmt, warnings=(warning,) if warning else ()
    )

"""The review's later stages as library calls over files in the run folder.

A review run folder holds, after ingestion, ``documents.jsonl``,
``passages.jsonl`` and the manifest. :func:`classify_run` adds
``tags.jsonl``; :func:`write_review_outputs` adds the coverage tables,
``coverage.xlsx``, ``excerpts.jsonl``, ``report.html`` and
``heatmap.png``. The Prefect flow and the tests call these.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from dataclasses import replace

from pipeline.classify import tag_passages
from pipeline.ingest import FileResult, SourceFile
from pipeline.ingest.pack import mark_duplicate_passages
from pipeline.redact import KINDS, redact_passage
from pipeline.coverage import Coverage, compute_coverage
from pipeline.framework import load_library
from pipeline.outputs import write_tables, write_xlsx
from pipeline.report import ReportContext, write_heatmap_png, write_report

__all__ = [
    "read_jsonl",
    "plan_sources",
    "finish_results",
    "classify_run",
    "write_review_outputs",
    "OUTPUT_FILES",
]

logger = logging.getLogger(__name__)

OUTPUT_FILES = (
    "coverage.csv",
    "coverage_prompts.csv",
    "coverage_evidence.csv",
    "request_list.csv",
    "lines_of_enquiry.csv",
    "crosswalk.csv",
    "coverage.xlsx",
    "excerpts.jsonl",
    "report.html",
    "heatmap.png",
)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-empty line of a JSONL file."""
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def plan_sources(files: list[SourceFile]) -> tuple[list[SourceFile], dict[str, FileResult]]:
    """Split discovered files into those to read and those already decided.

    Returns ``(to_read, decided)``: ``decided`` maps ``path_in_pack`` to a
    result for files refused at discovery (traversal, bomb, zip container)
    and for files whose bytes repeat an earlier file (status ``duplicate``).
    """
    first_by_sha: dict[str, str] = {}
    to_read: list[SourceFile] = []
    decided: dict[str, FileResult] = {}
    for sf in files:
        if sf.status is not None:
            decided[sf.path_in_pack] = FileResult(sf, sf.status, sf.reason, fmt=sf.fmt)
        elif sf.sha256 and sf.sha256 in first_by_sha:
            first = first_by_sha[sf.sha256]
            decided[sf.path_in_pack] = FileResult(sf, "duplicate", f"same content as {first}", duplicate_of=first)
        else:
            if sf.sha256:
                first_by_sha[sf.sha256] = sf.path_in_pack
            to_read.append(sf)
    return to_read, decided


def finish_results(results: list[FileResult], *, redact: bool = True) -> list[FileResult]:
    """Mark passages repeated across documents and mask personal data.

    With ``redact`` (the default), NHS numbers, dates of birth, emails, phone
    numbers and postcodes are masked in every passage before anything is
    written, and the counts per kind go into the document's
    ``meta["redacted"]`` (the manifest's ``redacted`` column).
    """
    results = mark_duplicate_passages(results)
    if not redact:
        return results
    out: list[FileResult] = []
    for res in results:
        if res.status != "ingested" or res.document is None:
            out.append(res)
            continue
        counts = {k: 0 for k in KINDS}
        passages = []
        for p in res.passages:
            new, c = redact_passage(p)
            passages.append(new)
            for k, v in c.items():
                counts[k] += v
        doc = replace(res.document, meta={**res.document.meta, "redacted": counts})
        out.append(replace(res, passages=passages, document=doc))
    return out


def classify_run(run_dir: str | Path, model: Any, *, batch_size: int = 2000) -> int:
    """Tag ``passages.jsonl`` of a run into ``tags.jsonl`` (atomically); return the count.

    Passages that repeat an earlier passage's text (``duplicate_of``) are
    still tagged so the report can show them, but coverage counts them once.
    """
    run = Path(run_dir)
    fd, tmp = tempfile.mkstemp(dir=run, prefix=".tags.", suffix=".tmp")
    n = 0
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for tags in tag_passages(model, read_jsonl(run / "passages.jsonl"), batch_size=batch_size):
            d = tags.to_dict()
            d["scores"] = tags.scores
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, run / "tags.jsonl")
    return n


def _manifest_rows(run: Path) -> list[dict[str, Any]]:
    path = run / "manifest.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        return list(data.get("files", []))
    return list(data)


def write_review_outputs(
    run_dir: str | Path,
    *,
    pack_name: str,
    model_label: str = "",
    trust_type: str | None = None,
) -> Coverage:
    """Compute coverage from a run folder's files and write every output table and the report."""
    run = Path(run_dir)
    library = load_library()
    documents = list(read_jsonl(run / "documents.jsonl")) if (run / "documents.jsonl").is_file() else []
    passages = list(read_jsonl(run / "passages.jsonl")) if (run / "passages.jsonl").is_file() else []
    tags = list(read_jsonl(run / "tags.jsonl")) if (run / "tags.jsonl").is_file() else []
    cov = compute_coverage(documents, passages, tags, library=library, trust_type=trust_type)
    write_tables(cov, run)
    write_xlsx(cov, run / "coverage.xlsx")
    ctx = ReportContext(pack_name=pack_name, trust_type=trust_type, model=model_label, files=_manifest_rows(run))
    write_report(cov, ctx, run, library)
    write_heatmap_png(cov, run / "heatmap.png", title=f"{pack_name}: passages per area and document")
    return cov

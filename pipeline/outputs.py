"""Write a review's tables: CSV, a formatted XLSX workbook and excerpts JSONL.

Every file is written to a temporary name in the output folder and renamed
into place, so a run killed half-way never leaves a half-written table.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from pipeline.coverage import Coverage

__all__ = [
    "atomic_write_text",
    "atomic_write_bytes",
    "remove_stale_temp_files",
    "write_tables",
    "write_xlsx",
    "TABLE_COLUMNS",
]

AREA_COLUMNS = [
    "framework", "id", "title", "passages", "documents", "doc_types", "best_score", "median_score",
    "latest_date", "evidence_found", "evidence_expected", "status", "reason", "stale", "linked", "document_names",
]
PROMPT_COLUMNS = ["framework", "area", "id", "text", "passages", "documents", "status", "best_passage"]
EVIDENCE_COLUMNS = [
    "framework", "area", "id", "text", "kind", "scope", "parent", "found", "found_by", "passages", "documents",
    "request",
]
REQUEST_COLUMNS = ["framework", "area", "id", "item", "request", "scope", "area_status"]
ENQUIRY_COLUMNS = ["framework", "area", "status", "kind", "id", "text"]
CROSSWALK_COLUMNS = ["kloe", "kloe_status", "qs", "qs_status", "strength", "rationale"]
EXCERPT_COLUMNS = [
    "passage_id", "source_path", "location", "doc_type", "kloe", "qs", "evidence", "prompts", "text",
    "correction_add", "correction_remove", "not_evidence", "reviewer", "comment",
]

TABLE_COLUMNS = {
    "coverage.csv": AREA_COLUMNS,
    "coverage_prompts.csv": PROMPT_COLUMNS,
    "coverage_evidence.csv": EVIDENCE_COLUMNS,
    "request_list.csv": REQUEST_COLUMNS,
    "lines_of_enquiry.csv": ENQUIRY_COLUMNS,
    "crosswalk.csv": CROSSWALK_COLUMNS,
}

STATUS_FILL = {"absent": "#d73027", "thin": "#fc8d59", "adequate": "#fee08b", "strong": "#1a9850"}
STATUS_FONT = {"absent": "#ffffff", "thin": "#000000", "adequate": "#000000", "strong": "#ffffff"}


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temp_files(out_dir: str | Path) -> list[str]:
    """Delete ``.<name>.*.tmp`` files a killed run left in ``out_dir``; return their names.

    Atomic writes go to such a temporary file and are renamed into place, so
    a leftover one is always a write that never finished.
    """
    removed = []
    folder = Path(out_dir)
    if folder.is_dir():
        for p in folder.glob(".*.tmp"):
            if p.is_file():
                p.unlink()
                removed.append(p.name)
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    return buf.getvalue()


def _excerpt_row(e: Any) -> dict[str, Any]:
    return {
        "passage_id": e.passage_id,
        "source_path": e.source_path,
        "location": e.location,
        "doc_type": e.doc_type,
        "kloe": ", ".join(f"{t['id']} ({t['score']:.2f})" for t in e.kloe),
        "qs": ", ".join(f"{t['id']} ({t['score']:.2f})" for t in e.qs),
        "evidence": ", ".join(e.evidence),
        "prompts": ", ".join(e.prompts),
        "text": e.text,
    }


def table_rows(cov: Coverage) -> dict[str, list[dict[str, Any]]]:
    return {
        "coverage.csv": [r.to_dict() for r in cov.areas],
        "coverage_prompts.csv": [r.to_dict() for r in cov.prompts],
        "coverage_evidence.csv": [r.to_dict() for r in cov.evidence],
        "request_list.csv": cov.requests,
        "lines_of_enquiry.csv": cov.enquiries,
        "crosswalk.csv": [r.to_dict() for r in cov.crosswalk],
    }


def write_tables(cov: Coverage, out_dir: str | Path) -> list[Path]:
    """Write the CSV tables and ``excerpts.jsonl``; return the paths written."""
    out = Path(out_dir)
    written = []
    for name, rows in table_rows(cov).items():
        atomic_write_text(out / name, _csv(rows, TABLE_COLUMNS[name]))
        written.append(out / name)
    lines = "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in cov.excerpts)
    atomic_write_text(out / "excerpts.jsonl", lines)
    written.append(out / "excerpts.jsonl")
    return written


def write_xlsx(cov: Coverage, path: str | Path) -> Path:
    """``coverage.xlsx``: one sheet per level, status colours, frozen headers, filters.

    The Excerpts sheet carries empty correction columns (``correction_add``,
    ``correction_remove``, ``not_evidence``, ``reviewer``, ``comment``) for
    inspectors who review offline; the app imports them back.
    """
    import xlsxwriter

    target = Path(path)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_urls": False})
    wb.set_properties({"title": "wellled coverage", "comments": f"framework version {cov.framework_version}"})
    header = wb.add_format({"bold": True, "bg_color": "#1f3864", "font_color": "#ffffff", "text_wrap": True,
                            "valign": "top", "border": 1})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    status_fmt = {s: wb.add_format({"bg_color": c, "font_color": STATUS_FONT[s], "bold": True})
                  for s, c in STATUS_FILL.items()}
    sheets = [
        ("Areas", [r.to_dict() for r in cov.areas], AREA_COLUMNS),
        ("Prompts", [r.to_dict() for r in cov.prompts], PROMPT_COLUMNS),
        ("Key evidence", [r.to_dict() for r in cov.evidence], EVIDENCE_COLUMNS),
        ("Request list", cov.requests, REQUEST_COLUMNS),
        ("Lines of enquiry", cov.enquiries, ENQUIRY_COLUMNS),
        ("Crosswalk", [r.to_dict() for r in cov.crosswalk], CROSSWALK_COLUMNS),
        ("Excerpts", [_excerpt_row(e) for e in cov.excerpts], EXCERPT_COLUMNS),
    ]
    widths = {"text": 70, "title": 30, "reason": 40, "request": 60, "item": 50, "rationale": 60,
              "document_names": 50, "documents": 40, "source_path": 40, "kloe": 22, "qs": 40}
    for name, rows, columns in sheets:
        ws = wb.add_worksheet(name)
        for c, col in enumerate(columns):
            ws.write(0, c, col, header)
            ws.set_column(c, c, widths.get(col, 14), wrap if widths.get(col, 0) >= 40 else None)
        for r, row in enumerate(rows, start=1):
            for c, col in enumerate(columns):
                value = row.get(col, "")
                if isinstance(value, (list, tuple)):
                    value = ", ".join(map(str, value))
                if value is None:
                    value = ""
                if isinstance(value, bool):
                    value = "yes" if value else "no"
                ws.write(r, c, value)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)
        for col_name in ("status", "kloe_status", "qs_status", "area_status"):
            if col_name in columns and rows:
                c = columns.index(col_name)
                for s, fmt in status_fmt.items():
                    ws.conditional_format(1, c, len(rows), c, {"type": "cell", "criteria": "==",
                                                               "value": f'"{s}"', "format": fmt})
        if name == "Key evidence" and rows:
            c = columns.index("found")
            ws.conditional_format(1, c, len(rows), c, {"type": "cell", "criteria": "==", "value": '"no"',
                                                       "format": status_fmt["absent"]})
    wb.close()
    atomic_write_bytes(target, buf.getvalue())
    return target

"""The inspector's report: one self-contained HTML file and a heatmap PNG.

``report.html`` opens from disk with no network: styles, script and data are
inlined. The summary (status per area, heatmap of areas by document, thin and
absent areas, the document request list, lines of enquiry, crosswalk, files
that failed) is rendered as HTML; each area's page lists its excerpts best
first with filters (document, document type, score), text search and
pagination, so packs with tens of thousands of excerpts stay responsive.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.coverage import Coverage
from pipeline.framework import Library, load_library
from pipeline.outputs import STATUS_FILL, atomic_write_bytes, atomic_write_text

__all__ = ["ReportContext", "render_report", "write_report", "write_heatmap_png"]


@dataclass
class ReportContext:
    """What the report says about the run, beside the coverage itself."""

    pack_name: str
    trust_type: str | None = None
    model: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    files: list[dict[str, Any]] = field(default_factory=list)  # manifest rows
    redacted: int = 0


def _short(path: str, n: int = 28) -> str:
    name = path.rsplit("/", 1)[-1]
    return name if len(name) <= n else name[: n - 1] + "…"


def _area_payload(cov: Coverage, library: Library) -> list[dict[str, Any]]:
    areas = []
    for row in cov.areas:
        area = library.area(row.id)
        areas.append(
            {
                "framework": row.framework,
                "id": row.id,
                "title": row.title,
                "question": getattr(area, "question", "") or "",
                "status": row.status,
                "reason": row.reason,
                "passages": row.passages,
                "documents": row.documents,
                "best": row.best_score,
                "median": row.median_score,
                "latest": row.latest_date,
                "evidence_found": row.evidence_found,
                "evidence_expected": row.evidence_expected,
                "linked": row.linked,
                "prompts": [p.to_dict() for p in cov.prompts if p.area == row.id],
                "evidence": [
                    {"id": e.id, "text": e.text, "found": e.found, "documents": e.documents, "kind": e.kind,
                     "parent": e.parent, "scope": e.scope}
                    for e in cov.evidence if e.area == row.id
                ],
            }
        )
    return areas


def _excerpt_payload(cov: Coverage) -> list[dict[str, Any]]:
    docs = {d["document_id"]: i for i, d in enumerate(cov.documents)}
    out = []
    for e in cov.excerpts:
        out.append(
            {
                "p": e.passage_id,
                "d": docs.get(e.document_id, -1),
                "t": e.text,
                "l": e.location,
                "h": " › ".join(e.heading_path),
                "k": [[t["id"], round(float(t["score"]), 3)] for t in e.kloe],
                "q": [[t["id"], round(float(t["score"]), 3)] for t in e.qs],
                "terms": {t["id"]: t.get("terms", []) for t in (*e.kloe, *e.qs)},
                "w": list(e.why),
                "pr": list(e.prompts),
                "ev": list(e.evidence),
                "dup": e.duplicate_of or "",
            }
        )
    return out


def render_report(cov: Coverage, ctx: ReportContext, library: Library | None = None) -> str:
    """The report as one HTML string (no external resources)."""
    library = library or load_library()
    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("report.html.j2")
    docs_payload = [
        {"id": d["document_id"], "path": d.get("source_path", ""), "type": d.get("doc_type", "other"),
         "title": d.get("title", ""), "date": d.get("date"), "pages": d.get("page_count")}
        for d in cov.documents
    ]
    data = {
        "areas": _area_payload(cov, library),
        "documents": docs_payload,
        "excerpts": _excerpt_payload(cov),
        "statusColours": STATUS_FILL,
    }
    # JSON inside <script>: make "</" and "<!--" harmless
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")
    heat_docs = sorted({p for row in cov.heatmap.values() for p in row}, key=str.lower)
    frameworks = [(fw, library.framework(fw)) for fw in library.frameworks]
    failed = [f for f in ctx.files if f.get("status") == "failed"]
    return template.render(
        ctx=ctx,
        cov=cov,
        frameworks=frameworks,
        areas_by_fw={fw: [r for r in cov.areas if r.framework == fw] for fw, _ in frameworks},
        heat_docs=heat_docs,
        short=_short,
        status_fill=STATUS_FILL,
        thin=[r for r in cov.areas if r.status in ("thin", "absent")],
        failed=failed,
        data_json=blob,
        max_heat=max((v for row in cov.heatmap.values() for v in row.values()), default=1),
        escape=html.escape,
    )


def write_report(cov: Coverage, ctx: ReportContext, out_dir: str | Path, library: Library | None = None) -> Path:
    """Write ``report.html`` (atomically) into ``out_dir``."""
    path = Path(out_dir) / "report.html"
    atomic_write_text(path, render_report(cov, ctx, library))
    return path


def write_heatmap_png(cov: Coverage, path: str | Path, title: str = "") -> Path:
    """A PNG of the areas-by-document heatmap, for slides."""
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt
    import numpy as np

    areas = [r for r in cov.areas]
    docs = sorted({p for row in cov.heatmap.values() for p in row}, key=str.lower) or ["(no tagged passages)"]
    M = np.array([[cov.heatmap.get(a.id, {}).get(d, 0) for d in docs] for a in areas], dtype=float)
    fig_h = max(4.0, 0.32 * len(areas) + 2.2)
    fig_w = max(8.0, 0.55 * len(docs) + 6.5)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=110)
    ax.imshow(np.log1p(M), aspect="auto", cmap="Blues", vmin=0)
    ax.set_xticks(range(len(docs)), [_short(d, 26) for d in docs], rotation=55, ha="right", fontsize=7)
    labels = [f"{a.id}  {a.title[:34]}" for a in areas]
    ax.set_yticks(range(len(areas)), labels, fontsize=7)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if M[i, j]:
                ax.text(j, i, int(M[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if M[i, j] > M.max() / 2 else "black")
    for i, a in enumerate(areas):
        ax.add_patch(plt.Rectangle((-0.5 - 0.02 * len(docs) - 0.4, i - 0.5), 0.35, 1, color=STATUS_FILL[a.status],
                                   clip_on=False, transform=ax.transData))
    ax.set_title(title or "Passages per area and document", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)

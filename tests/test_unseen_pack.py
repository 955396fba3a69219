"""Defects found by reviewing an unseen community trust pack (Thornbury Vale).

Each test builds the kind of file that showed the defect and checks the
behaviour an inspector needs.
"""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate

from pipeline.ingest import load_document

TRUST = "Thornbury Vale Community Health NHS Trust"


def _pdf(path: Path, paras: list[tuple[str, str]], header: str, title: str = "") -> Path:
    """A PDF of (style, text) paragraphs with a running header and a footer on every page."""
    ss = getSampleStyleSheet()

    def deco(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(2 * cm, A4[1] - 1.2 * cm, header)
        canvas.drawRightString(A4[0] - 2 * cm, A4[1] - 1.2 * cm, "OFFICIAL")
        canvas.drawString(2 * cm, 1.2 * cm, TRUST)
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"Page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(path), pagesize=A4, title=title, topMargin=2 * cm, bottomMargin=2 * cm)
    doc.build([Paragraph(t, ss[s]) for s, t in paras], onFirstPage=deco, onLaterPages=deco)
    return path


ARC_MINUTES = [
    ("Heading1", "Audit and Risk Committee"),
    ("BodyText", "Minutes of the meeting held on 17 June 2025"),
    ("Heading2", "ARC 25/031 Internal audit progress report"),
    (
        "BodyText",
        "The internal auditors presented four final reports. The review of community nursing activity "
        "recording gave partial assurance, with two high-priority recommendations on the timeliness of "
        "recording and the validation of contacts.",
    ),
]


def test_one_page_pdf_drops_header_and_footer(tmp_path: Path) -> None:
    """A one-page paper's header ("... OFFICIAL") and footer ("Trust   Page 1") are not text.

    Running lines were found only by repetition over pages, so a one-page
    committee paper kept "Thornbury Vale ... NHS Trust Page 1" as a passage.
    """
    path = _pdf(tmp_path / "arc-minutes.pdf", ARC_MINUTES, "Audit and Risk Committee - 17 June 2025")
    doc = load_document(path)
    texts = [b.text for b in doc.blocks]
    assert not any("Page 1" in t for t in texts), texts
    assert not any("OFFICIAL" in t for t in texts), texts
    assert any(t.startswith("The internal auditors presented") for t in texts)

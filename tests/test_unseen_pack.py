"""Defects found by reviewing an unseen community trust pack (Thornbury Vale).

Each test builds the kind of file that showed the defect and checks the
behaviour an inspector needs.
"""

from __future__ import annotations

import re
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


BOARD_MINUTES = [
    ("Heading1", TRUST),
    ("Heading2", "Minutes of the Trust Board meeting held in public"),
    ("BodyText", "Thursday 24 July 2025, 10:00, Board Room, Thornbury Vale House"),
    ("BodyText", "<b>Present:</b> Chair; Chief Executive; Chief Nurse; Director of Finance."),
    ("BodyText", "<b>Apologies:</b> Director of Estates and Facilities."),
    ("Heading2", "TB 25/060 Minutes of the previous meeting and action log"),
    (
        "BodyText",
        "The minutes of the meeting held on 22 May 2025 were approved as an accurate record. The Board "
        "noted that actions TB 25/031 and TB 25/044 were complete.",
    ),
    ("Heading2", "TB 25/068 Date and time of next meeting"),
    ("BodyText", "The next meeting in public will be held on Thursday 25 September 2025 at 10:00."),
]


def test_minutes_date_is_not_the_previous_meeting(tmp_path: Path) -> None:
    """Minutes approving "the meeting held on 22 May 2025" are dated by their own meeting (24 July)."""
    path = _pdf(tmp_path / "trust-board-minutes-public.pdf", BOARD_MINUTES, "Trust Board (Public) - Minutes")
    doc = load_document(path)
    assert doc.doc_type == "board_minutes"
    assert doc.date == "2025-07-24"


def test_hyphenated_file_name_gives_the_date(tmp_path: Path) -> None:
    """ "TB-Public-Minutes-24-July-2025.pdf" names its meeting's date."""
    undated = BOARD_MINUTES[:2] + BOARD_MINUTES[3:5]  # the date line left out: only the name gives it
    path = _pdf(tmp_path / "TB-Public-Minutes-24-July-2025.pdf", undated, "Trust Board (Public)")
    assert load_document(path).date == "2025-07-24"


def test_baf_is_not_dated_by_an_action_due_date(tmp_path: Path) -> None:
    """A BAF's rows carry their own due dates ("Oct 2025"); none of them is the framework's date."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "BAF Q1 2025-26"
    header = ["Risk ref", "Risk description", "Executive lead", "Current score", "Key controls", "Actions and due date"]
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.cell(1, 1, f"{TRUST} - Board Assurance Framework - Quarter 1 2025/26")
    for i, h in enumerate(header, 1):
        ws.cell(2, i, h)
    rows = [
        ("SR1", "If community nursing caseloads exceed safe levels, patients may come to harm.", "Chief Nurse", 16,
         "Caseload weighting tool; daily safety huddles.", "Roll out weighting tool to all localities - Oct 2025."),
        ("SR3", "If we cannot recruit and retain registered nurses, services cannot be staffed safely.", "Director of People", 20,
         "Workforce plan; international recruitment.", "Retention evaluation - Nov 2025."),
        ("SR5", "If data in the patient record is recorded late, decisions rest on inaccurate information.", "Chief Digital Information Officer", 12,
         "Data quality dashboard.", "Approve improvement plan - Sep 2025."),
    ]
    for r, row in enumerate(rows, 3):
        for c, v in enumerate(row, 1):
            ws.cell(r, c, v)
    path = tmp_path / "Board-Assurance-Framework-Q1-2025-26.xlsx"
    wb.save(path)
    doc = load_document(path)
    assert doc.doc_type == "risk_register"
    assert doc.date is None, doc.date


def test_strategy_is_not_dated_by_its_targets(tmp_path: Path) -> None:
    """ "We will reduce vacancies below 7% by March 2027" is a target, not the strategy's date."""
    import docx

    d = docx.Document()
    d.add_heading("Our Strategy 2025-2030: Care closer to home", 0)
    d.add_heading("Our strategic objectives", 1)
    d.add_paragraph("Great place to work: we will reduce nursing and therapy vacancies to below 7% by March 2027.",
                    style="List Bullet")
    d.add_paragraph("Each objective has an executive lead and a lead Board committee. Progress is reported to the "
                    "Board every six months, with the first report due in October 2025.")
    path = tmp_path / "Our-Strategy-summary.docx"
    d.save(path)
    doc = load_document(path)
    assert doc.doc_type == "strategy"
    assert doc.date is None, doc.date


def test_request_list_reads_as_requests_to_the_trust() -> None:
    """Requests built from the real 2018 framework items read as plain requests.

    The unseen pack's request list said "Please provide review balance score
    cards", "Please provide staff surveys – what do they say about the
    leadership?, or ..." and "Please provide duty of Candour policy".
    """
    import yaml

    from pipeline.coverage import _request_wording

    items: dict[str, str] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            if "id" in node and "text" in node and re.match(r"^W\d\.[a-z]", str(node["id"])):  # key evidence, not prompts
                items[node["id"]] = node["text"]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load((Path(__file__).parents[1] / "framework" / "kloe.yaml").read_text(encoding="utf-8")))
    requests = {i: _request_wording(t) for i, t in items.items()}
    assert requests["W5.balanced-scorecards"].startswith("Please provide balance score cards,")
    assert requests["W1.leadership-development-programmes"].startswith("Please provide leadership development")
    assert requests["W1.staff-survey-leadership"].startswith(
        "Please provide staff surveys (what do they say about the leadership?), or"
    )
    assert requests["W3.duty-of-candour-policy"].startswith("Please provide Duty of Candour policy,")
    assert requests["W3.appraisal-rates"].startswith("Please provide staff appraisal rates,")
    for request in requests.values():
        assert "Please provide review " not in request
        assert "?," not in request and ":," not in request


def test_lines_of_enquiry_leave_out_questions_for_other_trust_types(tmp_path: Path) -> None:
    """A community trust's enquiries hold no cancer-service or acute-only guidance questions.

    The unseen community pack's W1 enquiries asked about "leadership
    arrangements ... to support improvement of cancer services"; scoped key
    evidence was filtered by trust type but scoped guidance questions were not.
    """
    import docx

    from pipeline.coverage import compute_coverage
    from pipeline.framework import load_library
    from pipeline.split import split_passages

    d = docx.Document()
    d.add_heading("Green Plan Summary 2025-2028", 0)
    d.add_paragraph("We replaced 46 of our 120 pool cars with electric vehicles and installed 28 charging points.")
    path = tmp_path / "Green-Plan-Summary.docx"
    d.save(path)
    doc = load_document(path)
    passages = split_passages(doc)
    library = load_library()
    scoped = {
        g.id: set(g.scope)
        for fw in library.frameworks
        for g in library.guidance(fw)
        if set(g.scope) & {"cancer", "acute", "mental_health"}
    }
    assert scoped, "the 2018 framework scopes some guidance questions"

    def asked(trust_type: str) -> set[str]:
        cov = compute_coverage([doc], passages, [], library=library, trust_type=trust_type)
        return {e["id"] for e in cov.enquiries}

    community, acute = asked("community"), asked("acute")
    assert not set(scoped) & community, sorted(set(scoped) & community)
    assert {g for g, s in scoped.items() if s & {"cancer", "acute"}} <= acute

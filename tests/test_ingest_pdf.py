"""PDF backend on real PDFs made here with reportlab."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    FrameBreak,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Table,
    TableStyle,
)

from pipeline.document import BlockKind, DocType
from pipeline.errors import DocumentLoadError
from pipeline.ingest import load_document, run_file
from pipeline.ingest.base import SourceFile
from pipeline.ingest.pdf import fix_soft_hyphens, join_lines
from pipeline.split import split_passages

TRUST_HEADER = "Northvale Ambulance Service NHS Trust - Public Board, 27 March 2025"
LEFT = [
    f"Left column paragraph {i}: the Chief Executive reported on the governance arrangements for urgent care in quarter {i}."
    for i in range(1, 9)
]
RIGHT = [
    f"Right column paragraph {i}: members discussed the principal risks in the assurance framework for objective {i}."
    for i in range(1, 9)
]
TABLE_ROWS = [[f"Measure {i:02d}", f"{i}.0%", f"{i + 1}.5%"] for i in range(1, 61)]


def _header_footer(c: canvas.Canvas, doc: BaseDocTemplate) -> None:
    width, height = A4
    c.saveState()
    c.setFont("Helvetica", 8)
    c.drawString(50, height - 30, TRUST_HEADER)
    c.drawRightString(width - 50, 25, f"Page {doc.page} of 3")
    c.restoreState()


def make_board_paper(path: Path) -> Path:
    """Three pages: headings, a hyphenated paragraph, a table over a page break, two columns."""
    ss = getSampleStyleSheet()
    width, height = A4
    one = Frame(50, 50, width - 100, height - 100, id="one")
    left = Frame(50, 50, (width - 110) / 2, height - 100, id="left")
    right = Frame(60 + (width - 110) / 2, 50, (width - 110) / 2, height - 100, id="right")
    doc = BaseDocTemplate(
        str(path),
        pagesize=A4,
        title="Integrated performance report",
        pageTemplates=[
            PageTemplate("one", [one], onPage=_header_footer),
            PageTemplate("two", [left, right], onPage=_header_footer),
        ],
    )
    story = [
        Paragraph("Integrated performance report", ss["Title"]),
        Paragraph("1. Governance", ss["Heading1"]),
        Paragraph(
            "The Board reviewed the framework for govern-<br/>ance of the Trust and the well-<br/>led "
            "review planned for the autumn. The Chair thanked the Trust Secretary for the report.",
            ss["BodyText"],
        ),
        Paragraph("2. Performance scorecard", ss["Heading1"]),
        Paragraph("The table below sets out performance against each standard for the month.", ss["BodyText"]),
    ]
    table = Table([["Indicator", "Target", "Actual"], *TABLE_ROWS])  # no repeated header row
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    story += [table, NextPageTemplate("two"), PageBreak()]
    story += [Paragraph("3. Annual report extract", ss["Heading1"])]
    story += [Paragraph(t, ss["BodyText"]) for t in LEFT]
    story += [FrameBreak()]
    story += [Paragraph(t, ss["BodyText"]) for t in RIGHT]
    doc.build(story)
    return path


def make_image_page_pdf(path: Path) -> Path:
    """Page 1 has text, page 2 only a picture (a scanned page with no text layer)."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    img = Image.new("RGB", (200, 100), "white")
    for x in range(20, 180):
        img.putpixel((x, 50), (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    buf.seek(0)
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawString(72, 760, "Quality committee minutes: the committee noted the report on pressure ulcers.")
    c.showPage()
    c.drawImage(ImageReader(buf), 72, 400, width=400, height=200)
    c.showPage()
    c.save()
    return path


@pytest.fixture(scope="module")
def board_paper(tmp_path_factory: pytest.TempPathFactory):
    path = make_board_paper(tmp_path_factory.mktemp("pdf") / "2025-03-27 Integrated performance report.pdf")
    doc = load_document(path)
    return doc, split_passages(doc)


def test_pages_title_and_type(board_paper):
    doc, _ = board_paper
    assert doc.page_count == 3
    assert doc.format == "pdf"
    assert doc.title == "Integrated performance report"
    assert doc.date == "2025-03-27"
    assert doc.doc_type == DocType.COMMITTEE_REPORT.value


def test_running_header_and_page_numbers_removed(board_paper):
    doc, _ = board_paper
    assert "Northvale Ambulance Service" not in doc.text
    assert not re.search(r"Page \d of 3", doc.text)
    # body text on those pages is kept
    assert "The table below sets out performance" in doc.text


def test_hyphenation_joined_but_compounds_kept(board_paper):
    doc, _ = board_paper
    assert "framework for governance of the Trust" in doc.text
    assert "govern-" not in doc.text and "govern ance" not in doc.text
    assert "the well-led review planned" in doc.text


def test_two_columns_are_not_interleaved(board_paper):
    doc, passages = board_paper
    for text in LEFT + RIGHT:
        assert text in doc.text  # each paragraph whole, in one piece
    assert doc.text.index(LEFT[-1]) < doc.text.index(RIGHT[0])
    for p in passages:
        assert not ("Left column" in p.text and "Right column" in p.text)
    page3 = [p for p in passages if p.page == 3]
    assert page3 and all(p.heading_path[-1] == "3. Annual report extract" for p in page3)


def test_table_rows_keep_headers_across_page_break(board_paper):
    doc, passages = board_paper
    rows = [p for p in passages if p.kind == BlockKind.TABLE_ROW.value]
    assert len(rows) == 60
    by_measure = {re.search(r"Measure \d+", p.text).group(0): p for p in rows}
    first, last = by_measure["Measure 01"], by_measure["Measure 60"]
    assert first.text == "Indicator: Measure 01 | Target: 1.0% | Actual: 2.5%"
    assert last.text == "Indicator: Measure 60 | Target: 60.0% | Actual: 61.5%"
    assert first.page == 1 and last.page == 2  # the table ran over the page break
    assert last.location == "table 1, row 60"
    assert all(p.heading_path[-1] == "2. Performance scorecard" for p in rows)
    # the table's text is not also in the running text
    assert sum(1 for b in doc.blocks if "Measure 30" in b.text) == 1


def test_headings_are_paths_not_passages(board_paper):
    _, passages = board_paper
    assert all(p.text != "1. Governance" for p in passages)
    gov = next(p for p in passages if "governance of the Trust" in p.text)
    assert gov.heading_path[-1] == "1. Governance"
    assert gov.page == 1


def test_passage_offsets_index_document_text(board_paper):
    doc, passages = board_paper
    assert passages
    for p in passages:
        assert doc.text[p.char_start : p.char_end] == p.text
    for b in doc.blocks:
        assert doc.text[b.char_start : b.char_end] == b.text


def test_repeated_table_header_row_is_dropped(tmp_path: Path):
    ss = getSampleStyleSheet()
    table = Table([["Ward", "Fill rate"], *[[f"Ward {i}", f"{80 + i % 20}%"] for i in range(90)]], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    path = tmp_path / "staffing.pdf"
    doc = BaseDocTemplate(str(path), pagesize=A4, pageTemplates=[PageTemplate("one", [Frame(50, 50, 495, 742)])])
    doc.build([Paragraph("Safe staffing review", ss["Title"]), table])
    d = load_document(path)
    rows = [b for b in d.blocks if b.kind == BlockKind.TABLE_ROW.value]
    assert len(rows) == 90
    assert {b.page for b in rows} == {1, 2, 3}
    assert all(b.text.startswith("Ward: Ward ") for b in rows)
    assert not any("Ward: Ward | " in b.text or b.text == "Ward: Ward | Fill rate: Fill rate" for b in rows)


def test_page_without_text_layer_is_reported(tmp_path: Path):
    doc = load_document(make_image_page_pdf(tmp_path / "scanned.pdf"))
    assert doc.page_count == 2
    assert "pressure ulcers" in doc.text
    assert any("page 2 has no text layer (needs OCR)" in w for w in doc.warnings) or doc.meta.get("ocr_pages") == [2]


def test_encrypted_pdf_fails_with_plain_reason(tmp_path: Path):
    path = tmp_path / "locked.pdf"
    c = canvas.Canvas(str(path), encrypt="secret")
    c.drawString(100, 700, "Confidential board paper")
    c.save()
    with pytest.raises(DocumentLoadError, match="encrypted PDF"):
        load_document(path)
    res = run_file(SourceFile("locked.pdf", path, size=path.stat().st_size))
    assert res.status == "failed" and res.reason == "encrypted PDF (password required)"


def test_corrupt_pdf_fails(tmp_path: Path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref or pages")
    res = run_file(SourceFile("broken.pdf", path, size=path.stat().st_size))
    assert res.status == "failed"
    assert "PDF" in res.reason


def test_line_joining_rules():
    assert join_lines("the organi-", "sation agreed") == "the organisation agreed"
    assert join_lines("a well-", "led trust") == "a well-led trust"
    assert join_lines("in 2024-", "25 the") == "in 2024-25 the"
    assert join_lines("NHS-", "England") == "NHS-England"
    assert join_lines("first line", "second") == "first line second"
    assert fix_soft_hyphens("govern\ufffeance and self\ufffeassessment") == "governance and self-assessment"


def _draw_grid(c: canvas.Canvas, top: float, rows: list[list[str]], xs=(72, 250, 350, 450)) -> None:
    """A ruled table drawn line by line, rows of 18 pt from ``top`` down."""
    bottom = top - 18 * len(rows)
    for k in range(len(rows) + 1):
        c.line(xs[0], top - 18 * k, xs[-1], top - 18 * k)
    for x in xs:
        c.line(x, top, x, bottom)
    for k, row in enumerate(rows):
        for x, cell in zip(xs, row, strict=False):
            c.drawString(x + 4, top - 18 * k - 13, cell)


def test_header_row_alone_at_foot_of_page(tmp_path: Path):
    path = tmp_path / "ipr.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawString(72, 780, "The scorecard below shows performance for the month against each standard.")
    _draw_grid(c, 90, [["Indicator", "Target", "Actual"]])
    c.showPage()
    _draw_grid(c, 800, [["Sickness absence", "4.0%", "5.1%"], ["Staff turnover", "10.0%", "9.2%"]])
    c.drawString(72, 700, "The committee noted the scorecard and the actions to reduce sickness absence.")
    c.showPage()
    c.save()
    d = load_document(path)
    rows = [b for b in d.blocks if b.kind == BlockKind.TABLE_ROW.value]
    assert [b.text for b in rows] == [
        "Indicator: Sickness absence | Target: 4.0% | Actual: 5.1%",
        "Indicator: Staff turnover | Target: 10.0% | Actual: 9.2%",
    ]
    assert all(b.page == 2 for b in rows)
    assert "Indicator | Target | Actual" not in d.text


def _tesseract_available() -> bool:
    from pipeline.ingest.pdf import _ocr_available

    return _ocr_available()


@pytest.mark.skipif(not _tesseract_available(), reason="tesseract and pytesseract are an optional extra")
def test_scanned_page_is_ocrd(tmp_path: Path):
    import pypdfium2 as pdfium
    from reportlab.lib.utils import ImageReader

    text_pdf = tmp_path / "text.pdf"
    c = canvas.Canvas(str(text_pdf), pagesize=A4)
    c.setFont("Helvetica", 20)
    c.drawString(72, 700, "The Board approved the Freedom to Speak Up policy.")
    c.save()
    image = pdfium.PdfDocument(str(text_pdf))[0].render(scale=200 / 72).to_pil()
    scanned = tmp_path / "scanned.pdf"
    c = canvas.Canvas(str(scanned), pagesize=A4)
    c.drawImage(ImageReader(image), 0, 0, width=A4[0], height=A4[1])
    c.save()
    doc = load_document(scanned)
    assert doc.meta["ocr_pages"] == [1]
    assert "Freedom to Speak Up policy" in doc.text
    assert any("OCR'd with tesseract" in w for w in doc.warnings)


# --------------------------------------------------------------------------- table-heavy report (IPR body lost)

IPR_PARAGRAPHS = {
    "1. How to read this report": (
        "The report uses statistical process control charts to show whether a change in a measure is likely to be "
        "real or within the normal range of the process. Measures are grouped by the strategic objectives of the "
        "trust. Charts are included for measures with special cause variation or failing their target."
    ),
    "4. Data quality": (
        "Each measure in the scorecard carries a data quality rating assessed by the Head of Information against six "
        "dimensions. In August most measures were rated green, eight amber and two red. Both red measures have "
        "actions agreed with the data owners and will be re-rated in November."
    ),
    "5.2 Elective care": (
        "The number of patients waiting more than 65 weeks has fallen to 12, and all have a date for treatment in "
        "September. The number waiting more than 52 weeks remains above the planning trajectory, mainly in ENT and "
        "oral surgery."
    ),
    "8. Financial sustainability": (
        "The year to date deficit is 8.7 million pounds, 1.6 million adverse to plan. The adverse variance is driven "
        "by industrial action costs and slippage on cost improvement schemes."
    ),
}
IPR_FOOTER = "IPR Month 5 | Board of Directors | Page"


def _ipr_footer(c: canvas.Canvas, doc: BaseDocTemplate) -> None:
    c.saveState()
    c.setFont("Helvetica", 7)
    c.drawString(50, 25, f"{IPR_FOOTER} {doc.page}")
    c.restoreState()


def make_table_heavy_report(path: Path) -> Path:
    """Body 10 pt, scorecard cells 8 pt: the table holds far more characters than the prose."""
    from reportlab.lib.styles import ParagraphStyle

    body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=13, spaceAfter=6)
    head = ParagraphStyle("head", fontName="Helvetica-Bold", fontSize=13, leading=16, spaceBefore=8, spaceAfter=4)
    rows = [["Objective", "Measure", "Target", "Jun 25", "Jul 25", "Aug 25", "Variation", "Assurance"]]
    rows += [
        [f"Objective {i % 5}", f"Scorecard measure number {i}", f"{i}%", f"{i}.1%", f"{i}.2%", f"{i}.3%", "SC improving", "Hit and miss"]
        for i in range(1, 71)
    ]
    table = Table(rows, repeatRows=1)
    table.setStyle(
        TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONTSIZE", (0, 0), (-1, -1), 8)])
    )
    story = [Paragraph("Integrated Performance Report: Month 5", ParagraphStyle("t", parent=head, fontSize=18, leading=22))]
    for k, (heading, text) in enumerate(IPR_PARAGRAPHS.items()):
        story += [Paragraph(heading, head), Paragraph(text, body)]
        if k == 0:
            story += [Paragraph("3. Scorecard", head), table]
    doc = BaseDocTemplate(str(path), pagesize=A4, pageTemplates=[PageTemplate("one", [Frame(50, 50, 495, 742)], onPage=_ipr_footer)])
    doc.build(story)
    return path


def test_issue_ipr_table_heavy_report_keeps_body_text(tmp_path: Path):
    """Table text must not set the body size: prose stays prose, never a heading path."""
    import pdfplumber

    from pipeline.ingest._blocks import is_sentence_like

    path = make_table_heavy_report(tmp_path / "IPR M5.pdf")
    doc = load_document(path)
    passages = split_passages(doc)
    prose = [p for p in passages if p.kind == BlockKind.PARAGRAPH.value]
    for heading, text in IPR_PARAGRAPHS.items():
        holder = [p for p in prose if text[:60] in p.text]
        assert len(holder) == 1, heading
        assert " ".join(p.text for p in prose if p.heading_path[-1] == heading) == text
    for b in doc.blocks:
        if b.kind == BlockKind.HEADING.value:
            assert not is_sentence_like(b.text), b.text
    assert not any(is_sentence_like(h) for p in passages for h in p.heading_path)
    assert sum(1 for p in passages if p.kind == BlockKind.TABLE_ROW.value) == 70

    # Every line on every page (but the footer) ends up in a passage or a heading.
    def words(text: str) -> set[str]:
        return set(re.findall(r"\w+", text))

    units = [words(p.text) for p in passages] + [words(b.text) for b in doc.blocks if b.kind == BlockKind.HEADING.value]
    with pdfplumber.open(path) as pdf:
        lines = [ln for page in pdf.pages for ln in (page.extract_text() or "").splitlines()]
    lines = [ln for ln in lines if ln.strip() and not ln.startswith(IPR_FOOTER)]
    assert len(lines) > 80
    lost = [ln for ln in lines if not any(words(ln) <= u for u in units)]
    assert lost == []


# --------------------------------------------------------------------------- numbers at the start of a wrapped line

#: Paragraphs whose text wraps so that the second part starts a line (the issue's cases).
WRAPPED = [
    ("The Board reviewed the action log and noted good progress on the open actions. Action TB", "25/047 (board development session on the incident response framework) was closed; the rest were on track."),
    ("Detention rates for Black residents remain higher than for White residents (3.6 times for sections 2 and 3, and", "4.2 times for CTOs). This is a strategic priority in the strategy."),
    ("The relative likelihood of White applicants being appointed from shortlisting has improved to", "1.52 (2024: 1.71), the best position in five years but still outside the equitable range."),
    ("Our people have been remarkable throughout a very long and difficult winter. They answered", "1.02 million calls and responded to 821,600 incidents, and we thank every one of them."),
    ("The Director presented the Category 2 trajectory with each assumption shown separately (action", "TB25/095). The Board noted that half of the planned improvement depended on handover times."),
]
#: A real minute item: its number starts a line after a sentence end.
REAL_ITEM = "TB 25/048 Chief Executive's report: the Chief Executive presented her report and the Board noted it."


def _wrap(c: canvas.Canvas, lines: list[str], x: float, y: float, leading: float = 13) -> float:
    for line in lines:
        c.drawString(x, y, line)
        y -= leading
    return y


def _fill(words: list[str], width: float, font: str = "Helvetica", size: float = 10) -> list[str]:
    """Greedy line breaking, as a typesetter does."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, cur = [], ""
    for w in words:
        trial = f"{cur} {w}".strip()
        if cur and stringWidth(trial, font, size) > width:
            lines.append(cur)
            cur = w
        else:
            cur = trial
    return [*lines, cur] if cur else lines


def _lines_breaking_before(first: str, second: str, width: float) -> list[str]:
    """Lines of ``first + second`` where ``second`` starts a line: filler words go before the break."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    filler = "and the committee discussed the matter at some length".split()
    words = first.split()
    k = 0
    while True:
        head = _fill(words, width)
        if stringWidth(f"{head[-1]} {second.split()[0]}", "Helvetica", 10) > width:
            break
        words.insert(len(words) - 2, filler[k % len(filler)])  # before the last two words: mid-sentence
        k += 1
    return head + _fill(second.split(), width)


def make_wrapped_minutes(path: Path) -> Path:
    width = 440
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("Helvetica", 10)
    y = 780.0
    for first, second in WRAPPED:
        y = _wrap(c, _lines_breaking_before(first, second, width), 72, y) - 10
    y = _wrap(c, _fill(REAL_ITEM.split(), width), 72, y) - 10
    # A sentence cut by the page break, the next page starting with a minute reference.
    last = _lines_breaking_before("The Chair confirmed that she had written to the member of the public (BoD", "25/060) and the action was closed.", width)
    _wrap(c, last[:-1], 72, 80)
    c.showPage()
    c.setFont("Helvetica", 10)
    _wrap(c, last[-1:], 72, 780)
    _wrap(c, _fill("The Board moved to the next item of business after a short break for the members.".split(), width), 72, 760)
    c.showPage()
    c.save()
    return path


def test_issue_number_at_line_start_mid_sentence_is_not_an_item(tmp_path: Path):
    doc = load_document(make_wrapped_minutes(tmp_path / "2025-07-31 Board minutes.pdf"))
    passages = split_passages(doc)
    for first, second in WRAPPED:
        number = second.split()[0]
        assert any(number in b.text and b.text.index(number) > 0 for b in doc.blocks), number
        assert not any(p.text.startswith(number) for p in passages), number
        joined = next(b.text for b in doc.blocks if number in b.text)
        assert joined.endswith(second) and joined.startswith(first.split()[0])
    item = next(b for b in doc.blocks if b.text.startswith("TB 25/048"))
    assert item.kind == BlockKind.MINUTE_ITEM.value and item.text == REAL_ITEM
    cut = next(b for b in doc.blocks if "(BoD 25/060)" in b.text)
    assert (cut.page, cut.page_end) == (1, 2)


# --------------------------------------------------------------------------- cover sheets and year headers

COVER = [
    ["Report to", "Board of Directors (Public)"],
    ["Date of meeting", "31 July 2025"],
    ["Agenda item", "BoD 25/081"],
    ["Executive lead", "Director of People and Culture"],
    ["Purpose", "For approval"],
    ["Link to CQC domain", "Well-led"],
    ["Previously considered by", "People and Culture Committee (9 July 2025)"],
]
WRES_HEADER = ["Indicator", "2023", "2024", "2025", "Direction"]
WRES_ROWS = [[f"{i}. Relative likelihood measure number {i}", f"1.{i}0", f"1.{i}5", f"1.{i}2", "Improving"] for i in range(2, 40)]


def make_wres(path: Path) -> Path:
    ss = getSampleStyleSheet()
    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)])
    cover, wres = Table(COVER), Table([WRES_HEADER, *WRES_ROWS], repeatRows=1)  # runs over a page, header repeated
    cover.setStyle(grid)
    wres.setStyle(grid)
    doc = BaseDocTemplate(str(path), pagesize=A4, pageTemplates=[PageTemplate("one", [Frame(50, 50, 495, 742)])])
    doc.build([
        Paragraph("WRES annual report 2025", ss["Title"]), cover,
        Paragraph("2.2 Indicators 2 to 9", ss["Heading2"]), wres,
    ])  # fmt: skip
    return path


def test_issue_cover_sheet_and_year_header_tables(tmp_path: Path):
    doc = load_document(make_wres(tmp_path / "WRES annual report 2025.pdf"))
    rows = [b for b in doc.blocks if b.kind == BlockKind.TABLE_ROW.value]
    # A cover sheet is read as key/value pairs, its first row not a header.
    assert [b.text for b in rows[: len(COVER)]] == [f"{k}: {v}" for k, v in COVER]
    # A header of years is a header: every row keeps the field names, on both pages.
    data = rows[len(COVER) :]
    assert len(data) == len(WRES_ROWS)
    assert {b.page for b in data} == {1, 2}
    for b, row in zip(data, WRES_ROWS, strict=True):
        assert b.text == f"Indicator: {row[0]} | 2023: {row[1]} | 2024: {row[2]} | 2025: {row[3]} | Direction: {row[4]}"
    assert "Indicator | 2023" not in doc.text


# --------------------------------------------------------------------------- lists

ARC_ITEMS = [
    "reviewed the design of the Board Assurance Framework twice and recommended that each gap in control carry a named action and target date;",
    "received the internal audit of the BAF and of the corporate risk register, the latter finding that some risks had passed their review date;",
    "tested the link between the BAF and the corporate risk register for two strategic risks;",
    "reviewed the Board's risk appetite statement before its approval by the Board in April 2025.",
]
ARC_AFTER = "The committee concluded that the risk management arrangements were adequately designed and mostly operating as intended."


def test_issue_pdf_list_stays_with_lead_in_and_keeps_markers(tmp_path: Path):
    from reportlab.lib.styles import ParagraphStyle

    body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=13, spaceAfter=6)
    bullet = ParagraphStyle("bullet", parent=body, leftIndent=14, bulletIndent=0, spaceAfter=2)
    story = [
        Paragraph("3. Risk management", ParagraphStyle("h", fontName="Helvetica-Bold", fontSize=13, leading=16)),
        Paragraph("The committee seeks assurance that risk management is effective. During the year the committee:", body),
        *[Paragraph(item, bullet, bulletText="•") for item in ARC_ITEMS],
        Paragraph(ARC_AFTER, body),
    ]
    path = tmp_path / "Audit and Risk Committee annual report.pdf"
    BaseDocTemplate(str(path), pagesize=A4, pageTemplates=[PageTemplate("one", [Frame(50, 50, 495, 742)])]).build(story)
    doc = load_document(path)
    passages = split_passages(doc)
    items = [b.text for b in doc.blocks if b.kind == BlockKind.LIST_ITEM.value]
    assert items == [f"• {item}" for item in ARC_ITEMS]
    (listed,) = [p for p in passages if "During the year the committee:" in p.text]
    assert listed.text.endswith("\n\n".join(["During the year the committee:", *items]))
    assert listed.kind == BlockKind.LIST_ITEM.value
    assert [p.text for p in passages if ARC_AFTER[:30] in p.text] == [ARC_AFTER]  # not glued to the last item

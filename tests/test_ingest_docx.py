"""DOCX backend on Word files made here with python-docx."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
import pytest

from pipeline.document import BlockKind, DocType
from pipeline.errors import DocumentLoadError
from pipeline.ingest import load_document
from pipeline.limits import Limits
from pipeline.split import split_passages

BODY_SCOPE = (
    "This strategy sets out how the Trust will improve the quality of care over the next three years. "
    "It was developed with patients, carers, staff and system partners through a programme of engagement."
)
BODY_GOV = (
    "The Quality Committee will receive a quarterly report on delivery of the strategy. "
    "Each priority has an executive lead and measurable outcomes reported through the integrated performance report."
)


def make_strategy(path: Path) -> Path:
    d = docx.Document()
    section = d.sections[0]
    section.header.paragraphs[0].text = "OFFICIAL - HEADER TEXT FOR EVERY PAGE"
    section.footer.paragraphs[0].text = "Footer: Quality Strategy v1.0 page"
    d.add_heading("Quality Strategy 2025-2028", level=0)
    d.add_heading("1. Introduction", level=1)
    d.add_heading("1.1 Scope", level=2)
    d.add_paragraph(BODY_SCOPE)
    d.add_paragraph("Our three quality priorities are:")
    for item in ("reducing harm from falls;", "improving the experience of carers;", "learning from deaths."):
        d.add_paragraph(item, style="List Bullet")
    d.add_heading("2. Delivering the strategy", level=1)
    p = d.add_paragraph()
    p.add_run("2.3 Governance arrangements").bold = True
    d.add_paragraph(BODY_GOV)
    table = d.add_table(rows=4, cols=3)
    table.style = "Table Grid"
    hdr = table.rows[0].cells
    hdr[0].text, hdr[1].text = "Priority", "Measures"
    hdr[1].merge(hdr[2])  # "Measures" spans two columns
    data = [
        ("Falls", "Falls per 1,000 bed days", "Target 5.5"),
        ("Carers", "Carer survey score", "Target 80%"),
        ("Deaths", "Structured judgement reviews done", "Target 90%"),
    ]
    for row, (a, b, c) in zip(table.rows[1:], data, strict=True):
        row.cells[0].text, row.cells[1].text, row.cells[2].text = a, b, c
    d.add_paragraph("The Board approved the strategy on 27 March 2025 after consultation with the Council of Governors.")
    d.core_properties.title = "Quality Strategy 2025-2028"
    d.save(path)
    return path


def make_minutes(path: Path) -> Path:
    d = docx.Document()
    d.add_heading("Minutes of the Trust Board meeting held in public", level=1)
    d.add_paragraph("Present")
    d.add_paragraph("Ms A.K., Chair; Mr D.O., Chief Executive; Dr N.C., Medical Director; and four Non-Executive Directors.")
    d.add_paragraph("Apologies")
    d.add_paragraph("Apologies were received from the Director of Finance, who was represented by the Deputy Director.")
    d.add_paragraph("TB 24/031 Chief Executive's report").runs[0].bold = True
    d.add_paragraph("The Chief Executive presented his report. The Board noted the report.")
    d.add_paragraph(
        "TB 24/032 Freedom to Speak Up: the Guardian presented the half-year report. 87 concerns were raised, "
        "a third about behaviours. The Board noted the report and asked for a deep dive into the themes from the wards."
    )
    d.save(path)
    return path


@pytest.fixture(scope="module")
def strategy(tmp_path_factory: pytest.TempPathFactory):
    path = make_strategy(tmp_path_factory.mktemp("docx") / "Quality Strategy 2025-2028.docx")
    doc = load_document(path)
    return doc, split_passages(doc)


def test_metadata(strategy):
    doc, _ = strategy
    assert doc.format == "docx"
    assert doc.title == "Quality Strategy 2025-2028"
    assert doc.doc_type == DocType.STRATEGY.value


def test_header_and_footer_not_in_body(strategy):
    doc, _ = strategy
    assert "HEADER TEXT" not in doc.text
    assert "Footer:" not in doc.text
    assert BODY_SCOPE in doc.text


def test_heading_paths(strategy):
    _, passages = strategy
    scope = next(p for p in passages if p.text.startswith("This strategy sets out"))
    assert scope.heading_path == ("Quality Strategy 2025-2028", "1. Introduction", "1.1 Scope")
    gov = next(p for p in passages if "Quality Committee will receive" in p.text)
    assert gov.heading_path == ("Quality Strategy 2025-2028", "2. Delivering the strategy", "2.3 Governance arrangements")
    assert not any(p.text in ("1. Introduction", "1.1 Scope", "2.3 Governance arrangements") for p in passages)


def test_list_items_kept_with_their_lead_in(strategy):
    doc, passages = strategy
    items = [b for b in doc.blocks if b.kind == BlockKind.LIST_ITEM.value]
    assert [b.text for b in items] == ["• reducing harm from falls;", "• improving the experience of carers;", "• learning from deaths."]
    lead = next(p for p in passages if p.text.startswith("Our three quality priorities are:"))
    assert lead.text == (
        "Our three quality priorities are:\n\n• reducing harm from falls;\n\n• improving the experience of carers;"
        "\n\n• learning from deaths."
    )  # the lead-in and its list form one passage, markers kept
    assert lead.kind == BlockKind.LIST_ITEM.value


def test_table_rows_with_merged_header(strategy):
    doc, passages = strategy
    rows = [p for p in passages if p.kind == BlockKind.TABLE_ROW.value]
    assert [p.text for p in rows] == [
        "Priority: Falls | Measures: Falls per 1,000 bed days; Target 5.5",
        "Priority: Carers | Measures: Carer survey score; Target 80%",
        "Priority: Deaths | Measures: Structured judgement reviews done; Target 90%",
    ]
    assert rows[0].location == "table 1, row 1"
    # the table sits where it is in the body: after the governance paragraph, before the closing one
    assert doc.text.index(BODY_GOV) < doc.text.index("Priority: Falls") < doc.text.index("The Board approved")


def test_offsets(strategy):
    doc, passages = strategy
    for p in passages:
        assert doc.text[p.char_start : p.char_end] == p.text


def test_minutes_items_and_attendance(tmp_path: Path):
    doc = load_document(make_minutes(tmp_path / "2024-05-30 Trust Board minutes.docx"))
    passages = split_passages(doc)
    assert doc.doc_type == DocType.BOARD_MINUTES.value
    assert doc.date == "2024-05-30"
    ceo = next(p for p in passages if p.text.startswith("The Chief Executive presented"))
    assert ceo.heading_path[-1] == "TB 24/031 Chief Executive's report"
    assert "Apologies" not in ceo.heading_path  # minute items are not inside the attendance section
    ftsu = next(p for p in passages if p.text.startswith("TB 24/032"))
    assert ftsu.kind == BlockKind.MINUTE_ITEM.value
    assert ftsu.text.endswith("themes from the wards.")  # a short minute item stays whole
    present = next(p for p in passages if p.text.startswith("Ms A.K., Chair"))
    assert present.heading_path[-1] == "Present"


def _rewrite_part(src: Path, dst: Path, part: str, transform) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == part:
                data = transform(data)
            zout.writestr(info, data)
    return dst


def test_entity_declarations_refused(tmp_path: Path):
    good = make_minutes(tmp_path / "good.docx")

    def add_dtd(xml: bytes) -> bytes:
        head, _, rest = xml.partition(b"?>")
        dtd = b'<!DOCTYPE w:document [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        return head + b"?>" + dtd + rest

    bad = _rewrite_part(good, tmp_path / "bad.docx", "word/document.xml", add_dtd)
    with pytest.raises(DocumentLoadError, match="XML entity declarations are not allowed"):
        load_document(bad)


def test_oversized_part_refused(tmp_path: Path):
    good = make_minutes(tmp_path / "good.docx")
    with pytest.raises(DocumentLoadError, match="max_xml_part_bytes"):
        load_document(good, limits=Limits(max_xml_part_bytes=1000))


def test_corrupt_docx(tmp_path: Path):
    good = make_minutes(tmp_path / "good.docx")
    bad = _rewrite_part(good, tmp_path / "corrupt.docx", "word/document.xml", lambda x: x[: len(x) // 2])
    with pytest.raises(DocumentLoadError, match="Word"):
        load_document(bad)


def test_issue_cover_sheet_table_is_key_value(tmp_path: Path):
    d = docx.Document()
    d.add_heading("Patient and Carer Experience Report: Quarter 4 2024/25", level=1)
    cover = d.add_table(rows=0, cols=2)
    for key, value in [("Meeting", "Quality and Safety Committee"), ("Date", "21 May 2025"),
                       ("Author:", "Head of Patient and Carer Experience"), ("Purpose", "For assurance"),
                       ("Link to strategic ambition", "Ambition 1: Care close to home")]:  # fmt: skip
        cells = cover.add_row().cells
        cells[0].text, cells[1].text = key, value
    staffing = d.add_table(rows=0, cols=2)  # an ordinary two-column table keeps its header row
    for ward, rate in [("Ward", "Fill rate"), ("Ash ward", "94%"), ("Beech ward", "88%")]:
        cells = staffing.add_row().cells
        cells[0].text, cells[1].text = ward, rate
    path = tmp_path / "Patient and Carer Experience report Q4 2024-25.docx"
    d.save(path)
    doc = load_document(path)
    rows = [b.text for b in doc.blocks if b.kind == BlockKind.TABLE_ROW.value]
    assert rows == [
        "Meeting: Quality and Safety Committee",
        "Date: 21 May 2025",
        "Author: Head of Patient and Carer Experience",
        "Purpose: For assurance",
        "Link to strategic ambition: Ambition 1: Care close to home",
        "Ward: Ash ward | Fill rate: 94%",
        "Ward: Beech ward | Fill rate: 88%",
    ]


DUTIES = [
    f"Seek assurance on duty {i}: that the trust's systems for this area of quality are effective, review the themes "
    f"and learning from investigations and reports, and escalate any concern about duty {i} to the Board of Directors."
    for i in range(1, 10)
]


def test_issue_lists_keep_markers_and_lead_in(tmp_path: Path):
    d = docx.Document()
    d.add_heading("Our vision for quality", level=1)
    d.add_paragraph("For quality, this means that every patient should be able to say:")
    for s in ("I was kept safe from avoidable harm.", "I received care based on the best evidence.",
              "I was treated with kindness and respect.", "When things went wrong, I was told honestly."):  # fmt: skip
        d.add_paragraph(s, style="List Bullet")
    d.add_paragraph("These four statements were written by members of our Patient Partners Group.")
    d.add_heading("7. Duties", level=1)
    d.add_paragraph("The committee shall:")
    for duty in DUTIES:
        d.add_paragraph(duty, style="List Number")
    path = tmp_path / "Quality Committee Terms of Reference.docx"
    d.save(path)
    doc = load_document(path)
    passages = split_passages(doc)
    vision = next(p for p in passages if p.text.startswith("For quality"))
    assert vision.text == (
        "For quality, this means that every patient should be able to say:\n\n• I was kept safe from avoidable harm."
        "\n\n• I received care based on the best evidence.\n\n• I was treated with kindness and respect."
        "\n\n• When things went wrong, I was told honestly."
    )
    assert any(p.text.startswith("These four statements") for p in passages)  # not glued to the list
    duties = [p for p in passages if p.heading_path[-1] == "7. Duties"]
    assert len(duties) >= 2 and all(len(p.text) <= 1200 for p in duties)
    assert duties[0].text.startswith("The committee shall:\n\n1. Seek assurance on duty 1:")  # lead-in with the first items
    assert all(p.kind == BlockKind.LIST_ITEM.value for p in duties)
    items = [item for p in duties for item in p.text.split("\n\n") if item != "The committee shall:"]
    assert items == [f"{i}. {duty}" for i, duty in enumerate(DUTIES, 1)]  # every item whole, numbered, in one passage


# --------------------------------------------------------------------------- pages (issue: page null, page_count 1)

PARA = "The committee reviewed the quality and safety report and the actions taken on each ward this quarter. " * 5  # 80 words


def test_issue_docx_pages_from_explicit_breaks(tmp_path: Path):
    d = docx.Document()
    for section in ("1. Summary", "2. Safety", "3. Experience"):
        d.add_heading(section, level=1)
        d.add_paragraph(f"{section[3:]}: {PARA}")
        if section != "3. Experience":
            d.add_page_break()
    path = tmp_path / "breaks.docx"
    d.save(path)
    doc = load_document(path)
    passages = split_passages(doc)
    assert doc.page_count == 3
    assert doc.meta["page_basis"] == "explicit page breaks" and "pages_estimated" not in doc.meta
    pages = {p.text.split(":")[0]: p.page for p in passages}
    assert pages == {"Summary": 1, "Safety": 2, "Experience": 3}


def test_issue_docx_pages_estimated_without_breaks(tmp_path: Path):
    d = docx.Document()
    for i in range(20):  # 20 x 80 = 1,600 words: about four pages
        d.add_paragraph(f"Paragraph {i}. {PARA}")
    path = tmp_path / "no breaks.docx"
    d.save(path)
    doc = load_document(path)
    passages = split_passages(doc)
    assert doc.page_count == 4
    assert doc.meta["pages_estimated"] is True and "estimated" in doc.meta["page_basis"]
    assert all(p.page is not None for p in passages)
    assert passages[0].page == 1 and passages[-1].page == 4
    assert [p.page for p in passages] == sorted(p.page for p in passages)


def test_issue_docx_rendered_page_breaks(tmp_path: Path):
    """Word's own layout (w:lastRenderedPageBreak) wins; a break mid-paragraph gives it a page_end."""
    d = docx.Document()
    first = d.add_paragraph("Opening paragraph of the report, on the first page.")
    spans = d.add_paragraph("This paragraph starts on page one")
    spans.add_run(" and runs on to page two.")
    d.add_paragraph("Last paragraph, on page two.")
    from docx.oxml import OxmlElement

    spans.runs[1]._r.insert(0, OxmlElement("w:lastRenderedPageBreak"))
    first.add_run().add_break()  # a plain line break is not a page break
    path = tmp_path / "rendered.docx"
    d.save(path)
    doc = load_document(path)
    assert doc.meta["page_basis"] == "rendered page breaks"
    blocks = {b.text.split()[0]: (b.page, b.page_end) for b in doc.blocks}
    assert blocks == {"Opening": (1, None), "This": (1, 2), "Last": (2, None)}
    assert doc.page_count == 2


def test_two_column_year_row_is_not_a_header(tmp_path: Path):
    d = docx.Document()
    table = d.add_table(rows=0, cols=2)
    for key, value in [("Financial year", "2024/25"), ("Surplus", "£1.2m"), ("Capital spend", "£31.0m")]:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = key, value
    path = tmp_path / "finance.docx"
    d.save(path)
    rows = [b.text for b in load_document(path).blocks if b.kind == BlockKind.TABLE_ROW.value]
    assert rows == ["Financial year: 2024/25", "Surplus: £1.2m", "Capital spend: £31.0m"]

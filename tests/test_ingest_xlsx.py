"""Spreadsheet backends on workbooks and CSVs made here."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from pipeline.document import BlockKind, DocType
from pipeline.ingest import load_document
from pipeline.ingest.xlsx import decode_text, find_header_row, format_value
from pipeline.split import split_passages

TITLE = "Board Assurance Framework 2025/26 - Quarter 2"
HEADER = ["Risk ID", "Principal risk", "Controls", None, "Gaps in control", "Owner", "Likelihood", "Consequence", "Score"]


def make_baf(path: Path) -> Path:
    """A BAF: merged title, merged header cell, section row, a risk over two rows, formulas, a hidden sheet."""
    wb = xlsxwriter.Workbook(str(path))
    bold = wb.add_format({"bold": True})
    pct = wb.add_format({"num_format": "0%"})
    date_fmt = wb.add_format({"num_format": "dd/mm/yyyy"})
    ws = wb.add_worksheet("BAF")
    ws.merge_range("A1:I1", TITLE, bold)
    ws.write_row("A3", ["Risk ID", "Principal risk"], bold)
    ws.merge_range("C3:D3", "Controls", bold)
    ws.write_row("E3", ["Gaps in control", "Owner", "Likelihood", "Consequence", "Score"], bold)
    ws.write("A4", "Strategic objective 1: Safe and effective care")
    ws.write_row("A5", ["BAF 1", "Failure to reduce harm from long waits", "Harm review process", "Clinical hub",
                        "No real-time harm data", "Chief Operating Officer", 4, 4])  # fmt: skip
    ws.write_formula("I5", "=G5*H5", None, 16)  # cached value saved with the formula
    ws.merge_range("A6:A7", "BAF 2")
    ws.merge_range("B6:B7", "Insufficient workforce to staff services safely")
    ws.write_row("C6", ["Recruitment plan", "Rostering policy", "Agency spend above cap", "Director of People", 3, 4])
    ws.write_formula("I6", "=G6*H6", None, 12)
    ws.write("C7", "International recruitment")
    ws.write_row("A8", ["BAF 3", "Financial plan not delivered", "Monthly CIP review", None, "Gap of 12%", "Director of Finance"])
    ws.write("E9", 0.12, pct)
    ws.write("A9", "BAF 4")
    ws.write("B9", "Review date")
    ws.write_datetime("F9", datetime(2025, 9, 25), date_fmt)
    hidden = wb.add_worksheet("Archive")
    hidden.write_row("A1", ["Risk ID", "Risk description", "Status", "Closed"])
    hidden.write_row("A2", ["BAF 0", "Legacy estates risk", "Closed", "Yes"])
    hidden.hide()
    wb.close()
    return path


@pytest.fixture(scope="module")
def baf(tmp_path_factory: pytest.TempPathFactory):
    path = make_baf(tmp_path_factory.mktemp("xlsx") / "BAF Q2 2025-26.xlsx")
    doc = load_document(path)
    return doc, split_passages(doc)


def _records(passages, sheet="BAF"):
    return [p for p in passages if p.kind == BlockKind.RECORD.value and p.sheet == sheet]


def test_document(baf):
    doc, _ = baf
    assert doc.format == "xlsx"
    assert doc.page_count == 2
    assert doc.doc_type == DocType.RISK_REGISTER.value


def test_one_record_per_risk_with_field_names(baf):
    _, passages = baf
    recs = _records(passages)
    assert [r.text.split(" | ")[0] for r in recs] == ["Risk ID: BAF 1", "Risk ID: BAF 2", "Risk ID: BAF 3", "Risk ID: BAF 4"]
    assert recs[0].text == (
        "Risk ID: BAF 1 | Principal risk: Failure to reduce harm from long waits | "
        "Controls: Harm review process; Clinical hub | Gaps in control: No real-time harm data | "
        "Owner: Chief Operating Officer | Likelihood: 4 | Consequence: 4 | Score: 16"
    )
    assert recs[0].row == 5 and recs[0].location == "A5:I5" and recs[0].page == 1


def test_risk_over_merged_rows_is_one_record(baf):
    _, passages = baf
    baf2 = _records(passages)[1]
    assert baf2.location == "A6:I7"
    assert "Controls: Recruitment plan; International recruitment; Rostering policy" in baf2.text
    assert "Principal risk: Insufficient workforce to staff services safely" in baf2.text
    assert baf2.text.count("Insufficient workforce") == 1


def test_numbers_dates_and_percentages(baf):
    _, passages = baf
    baf4 = _records(passages)[3]
    assert "Gaps in control: 12%" in baf4.text
    assert "Owner: 2025-09-25" in baf4.text


def test_title_and_section_in_heading_path(baf):
    _, passages = baf
    rec = _records(passages)[0]
    assert rec.heading_path == ("BAF", TITLE, "Strategic objective 1: Safe and effective care")
    assert not any(p.text == TITLE for p in passages)


def test_hidden_sheet_read_and_flagged(baf):
    doc, passages = baf
    assert doc.meta["hidden_sheets"] == ["Archive"]
    (rec,) = _records(passages, "Archive")
    assert rec.text == "Risk ID: BAF 0 | Risk description: Legacy estates risk | Status: Closed | Closed: Yes"
    assert rec.location == "A2:D2 (hidden sheet)"
    assert rec.page == 2


def test_formula_without_saved_value_warns(tmp_path: Path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Risks"
    ws.append(["Risk ref", "Risk title", "Likelihood", "Consequence", "Score"])
    ws.append(["R1", "Cyber attack on clinical systems", 4, 5, "=C2*D2"])
    path = tmp_path / "register.xlsx"
    wb.save(path)
    doc = load_document(path)
    assert any("E2" in w and "no saved value" in w for w in doc.warnings)
    (rec,) = [b for b in doc.blocks if b.kind == BlockKind.RECORD.value]
    assert rec.text == "Risk ref: R1 | Risk title: Cyber attack on clinical systems | Likelihood: 4 | Consequence: 5"


CP1252_ROWS = [
    "Corporate risk register export 19/09/2025",
    "Risk ref,Risk title,Risk description,Owner,Current score",
    "CRR 0412,Handover delays,Patients wait \x93too long\x94 \x96 crews held >45 mins,Chief Operating Officer,16",
    "CRR 0486,Cost improvement,Failure to deliver the \xa312.0m CIP; caf\xe9 income \x96 risk to plan,Director of Finance,12",
]


def test_cp1252_csv(tmp_path: Path):
    path = tmp_path / "Corporate Risk Register.csv"
    path.write_bytes("\r\n".join(CP1252_ROWS).encode("latin-1"))
    doc = load_document(path)
    assert doc.meta["encoding"] == "cp1252"
    assert doc.format == "csv"
    recs = [b for b in doc.blocks if b.kind == BlockKind.RECORD.value]
    assert recs[0].text == (
        "Risk ref: CRR 0412 | Risk title: Handover delays | "
        "Risk description: Patients wait \u201ctoo long\u201d \u2013 crews held >45 mins | "
        "Owner: Chief Operating Officer | Current score: 16"
    )
    assert "\u00a312.0m CIP; caf\u00e9 income \u2013 risk to plan" in recs[1].text
    assert recs[1].row == 4 and recs[1].location == "A4:E4"
    assert recs[0].heading_path == ("Corporate risk register export 19/09/2025",)
    assert doc.doc_type == DocType.RISK_REGISTER.value


def test_semicolon_csv_utf8(tmp_path: Path):
    path = tmp_path / "risks.csv"
    path.write_text("ID;Risk;Owner;Score\nR1;Ligature risk on Cedar Ward;Director of Nursing;15\n", encoding="utf-8")
    doc = load_document(path)
    (rec,) = [b for b in doc.blocks if b.kind == BlockKind.RECORD.value]
    assert rec.text == "ID: R1 | Risk: Ligature risk on Cedar Ward | Owner: Director of Nursing | Score: 15"


def test_header_row_detection_skips_titles():
    rows = [
        (1, ["Trust Board - risk register", "", ""]),
        (2, ["", "", ""]),
        (3, ["Ref", "Description", "Owner"]),
        (4, ["R1", "Something", "CEO"]),
    ]
    assert find_header_row(rows) == 2
    assert find_header_row([(1, ["a", "b"]), (2, ["1", "2"])]) is None


def test_decode_and_format():
    assert decode_text("caf\u00e9".encode("utf-8")) == ("caf\u00e9", "utf-8")
    assert decode_text(b"\xa3100") == ("\u00a3100", "cp1252")
    assert format_value(16.0) == "16"
    assert format_value(0.051, "0.0%") == "5.1%"
    assert format_value("Line one\nLine two") == "Line one; Line two"
    assert format_value(True) == "Yes"


# --------------------------------------------------------------------------- long risk records (BAF rows cut mid-row)

LONG_HEADER = ["Risk ID", "Risk description", "Controls", "Assurances", "Gaps in control", "Actions", "Score"]


def _prose(topic: str, n: int) -> str:
    return " ".join(f"The {topic} measure {i} is reviewed monthly by the lead committee and reported to the Board." for i in range(n))


def make_long_baf(path: Path) -> Path:
    """Eight risks of 1,300-2,000 characters (each must stay one passage) and one of about 9,000."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "BAF Q2"
    ws.append(["Board Assurance Framework Q2 2025/26"])
    ws.append(LONG_HEADER)
    for i in range(1, 9):
        ws.append([f"SR{i}", _prose("harm", 3), _prose("control", 4 + i % 3), _prose("assurance", 3), _prose("gap", 2), _prose("action", 2), 16])
    ws.append(["SR9", _prose("harm", 4), _prose("control", 60), _prose("assurance", 12), "None identified", _prose("action", 5), 12])
    wb.save(path)
    return path


def test_issue_baf_record_whole_or_cut_with_risk_id(tmp_path: Path):
    doc = load_document(make_long_baf(tmp_path / "Board Assurance Framework Q2.xlsx"))
    passages = split_passages(doc)
    recs = [p for p in passages if p.kind == BlockKind.RECORD.value]
    for i in range(1, 9):
        (one,) = [p for p in recs if f"Risk ID: SR{i} " in p.text + " "]
        assert 1200 < len(one.text) <= 3000
        assert one.text.startswith(f"Risk ID: SR{i} | Risk description: ") and one.text.endswith("| Score: 16")
    sr9 = [p for p in recs if p.text.startswith("Risk ID: SR9")]
    assert len(sr9) >= 3
    assert sr9[0].text.startswith("Risk ID: SR9 | Risk description: ")
    assert all(p.text.startswith("Risk ID: SR9 (cont.) | ") for p in sr9[1:])
    assert all(len(p.text) <= 3000 for p in sr9)
    assert sr9[-1].text.endswith("| Score: 12")
    assert [p.location for p in sr9] == [f"A11:G11 (part {k} of {len(sr9)})" for k in range(1, len(sr9) + 1)]
    assert any(p.text.startswith("Risk ID: SR9 (cont.) | Controls (cont.): ") for p in sr9)  # a field cut at a sentence end
    # Every sentence of the long record is in one passage, whole.
    body = " ".join(p.text for p in sr9)
    for sentence in _prose("control", 60).split(". "):
        assert sentence.rstrip(".") in body
    for p in passages:
        assert doc.text[p.char_start : p.char_end] == p.text

"""Format from content, document type, date and title."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest

from pipeline.document import Block, BlockKind, DocType, SourceFormat
from pipeline.errors import DocumentLoadError, UnsupportedFormatError
from pipeline.ingest.detect import detect_format, name_mismatch_warning
from pipeline.ingest.doctype import detect_date, detect_doc_type, detect_title


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _docx_bytes() -> bytes:
    buf = io.BytesIO()
    d = docx.Document()
    d.add_paragraph("Policy text.")
    d.save(buf)
    return buf.getvalue()


def _xlsx_bytes() -> bytes:
    buf = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    wb.save(buf)
    return buf.getvalue()


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.pdf", b"%PDF-1.4 inside a zip")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("paper.pdf", b"%PDF-1.7\n...", SourceFormat.PDF),
        ("paper.docx", b"junk header\n%PDF-1.4\n", SourceFormat.PDF),  # PDF with leading junk, mislabelled
        ("paper.pdf", "docx", SourceFormat.DOCX),
        ("register.xlsx", "xlsx", SourceFormat.XLSX),
        ("pack.zip", "zip", SourceFormat.ZIP),
        ("export", b"Ref,Risk,Owner,Score\nR1,Cyber,CDO,16\nR2,Fleet,DoF,12\n", SourceFormat.CSV),
        ("notes.txt", b"Ref,Risk\nR1,Cyber\n", SourceFormat.TEXT),  # extension breaks a tie between text formats
        ("report", b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", SourceFormat.HTML),
        ("report.txt", b"<html><body><p>named .txt</p></body></html>", SourceFormat.HTML),
        ("readme", b"# Title\n\nSome text.\n\n- item one\n- item two\n", SourceFormat.MARKDOWN),
        ("minutes", b"The Board met on 3 March.\nIt noted the report.\n", SourceFormat.TEXT),
    ],
)
def test_detect_format(tmp_path: Path, name: str, data, fmt: SourceFormat):
    payload = {"docx": _docx_bytes, "xlsx": _xlsx_bytes, "zip": _zip_bytes}[data]() if isinstance(data, str) else data
    assert detect_format(_write(tmp_path, name, payload)) is fmt


def test_detect_bad_inputs(tmp_path: Path):
    with pytest.raises(DocumentLoadError, match="empty file"):
        detect_format(_write(tmp_path, "e.pdf", b""))
    with pytest.raises(UnsupportedFormatError, match="PNG image"):
        detect_format(_write(tmp_path, "i.pdf", b"\x89PNG\r\n\x1a\n\0\0"))
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100
    with pytest.raises(UnsupportedFormatError, match="legacy Office"):
        detect_format(_write(tmp_path, "old.doc", ole))
    with pytest.raises(DocumentLoadError, match="encrypted Office file"):
        detect_format(_write(tmp_path, "locked.docx", ole + "EncryptionInfo".encode("utf-16-le")))
    with pytest.raises(UnsupportedFormatError, match="binary file"):
        detect_format(_write(tmp_path, "blob.bin", b"\x00\x01\x02\x03" * 10))


def test_name_mismatch_warning():
    assert name_mismatch_warning("a.pdf", SourceFormat.PDF) is None
    assert name_mismatch_warning("a.txt", SourceFormat.MARKDOWN) is None
    assert name_mismatch_warning("a.docx", SourceFormat.PDF) == "file is named .docx but its content is pdf; read as pdf"
    assert name_mismatch_warning("README", SourceFormat.TEXT) == "no file extension; content read as text"


def _blocks(*texts: str, kind: str = BlockKind.PARAGRAPH.value) -> list[Block]:
    return [Block(kind=kind, text=t, page=1) for t in texts]


@pytest.mark.parametrize(
    ("name", "title", "doc_type"),
    [
        ("2025-05-29 Board of Directors minutes (public).pdf", "", DocType.BOARD_MINUTES),
        ("Quality Committee minutes March 2025.docx", "", DocType.COMMITTEE_REPORT),
        ("CHFT Annual Report and Accounts 2024-25.pdf", "", DocType.ANNUAL_REPORT),
        ("Mental Health Act Committee annual report 2024-25.pdf", "", DocType.COMMITTEE_REPORT),
        ("Freedom to Speak Up Guardian annual report 2024-25.docx", "", DocType.COMMITTEE_REPORT),
        ("Board Assurance Framework Q2.xlsx", "", DocType.RISK_REGISTER),
        ("Corporate Risk Register Sept 2025.csv", "", DocType.RISK_REGISTER),
        ("Better Lives Together - Trust Strategy 2024-2029.docx", "", DocType.STRATEGY),
        ("Duty of Candour and Being Open Policy v4.1.pdf", "", DocType.POLICY),
        ("TB 25-109 Quality Committee Chair's Assurance Report.docx", "", DocType.COMMITTEE_REPORT),
        ("document1.pdf", "Standing Financial Instructions", DocType.POLICY),
        ("scan0001.pdf", "", DocType.OTHER),
    ],
)
def test_doc_type_from_name_and_title(name: str, title: str, doc_type: DocType):
    assert detect_doc_type(name, title, _blocks("Introductory text.")) is doc_type


def test_doc_type_from_structure():
    minutes = _blocks(
        "Present: the Chair, the Chief Executive, the Medical Director.",
        "Apologies: the Director of Finance.",
        "TB 24/031 Chief Executive's report",
        "TB 24/032 Finance report",
    )
    assert detect_doc_type("meeting 12.pdf", "", minutes) is DocType.BOARD_MINUTES
    records = [Block(kind=BlockKind.RECORD.value, text=f"Risk ID: R{i} | Controls: x | Score: 12") for i in range(6)]
    assert detect_doc_type("export.xlsx", "", records) is DocType.RISK_REGISTER


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("2025-05-29 Board minutes.pdf", "", ("2025-05-29", "day")),
        ("Board minutes 25.09.2025.pdf", "", ("2025-09-25", "day")),
        ("Board papers March 2025.pdf", "Meeting held on Thursday 27 March 2025 at 10:00", ("2025-03-27", "day")),
        ("Board papers March 2025.pdf", "", ("2025-03-01", "month")),
        ("IPR 2025-08.pdf", "", ("2025-08-01", "month")),
        ("Strategy 2024-2029.docx", "Approved by the Board on 28 March 2024.", ("2024-03-28", "day")),
        ("Annual report 2024-25.pdf", "Our year in numbers", ("2025-03-31", "year_end")),
        ("Annual report 2024-25.pdf", "In September 2024 we opened the new unit.", ("2025-03-31", "year_end")),
        ("Board papers.pdf", "Our year in numbers", (None, None)),
        ("IPR August 2025.pdf", "Meeting: Trust Board (Part 1), 25 September 2025, agenda item 7", ("2025-09-25", "day")),
        ("WRES 2025.pdf", "Data to 31 March 2025. Meeting: Board of Directors (Public), 31 July 2025", ("2025-07-31", "day")),
        ("BAF Q2.xlsx", "Position at 30 September 2025 (Q2). Presented to the Board on 25 September 2025", ("2025-09-25", "day")),
        ("Report.pdf", "Purpose: For approval (publication by 31 October 2025)", ("2025-10-31", "day")),
    ],
)
def test_dates(name: str, text: str, expected):
    assert detect_date(name, _blocks(text) if text else []) == expected


def test_issue_document_dates_prefer_meeting_over_period(tmp_path: Path):
    """Meeting or publication dates on the first page beat period ends; an annual report falls back to its year end."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from pipeline.ingest import load_document

    wres = tmp_path / "WRES and WDES annual report 2025.pdf"
    c = canvas.Canvas(str(wres), pagesize=A4)
    c.setFont("Helvetica-Bold", 16)
    c.drawString(60, 780, "WRES and WDES: Annual Report 2025 (data to 31 March 2025)")
    c.setFont("Helvetica", 10)
    c.drawString(60, 750, "Meeting: Board of Directors (Public), 31 July 2025, agenda item 10")
    c.drawString(60, 735, "Purpose: For approval (publication by 31 October 2025)")
    c.drawString(60, 700, "This report presents the workforce race and disability equality data for the year.")
    c.save()
    assert load_document(wres).date == "2025-07-31"

    d = docx.Document()
    d.add_heading("Patient and Carer Experience Report: Quarter 4 2024/25 (January to March 2025)", level=1)
    cover = d.add_table(rows=0, cols=2)
    for key, value in [("Meeting", "Quality and Safety Committee"), ("Date of meeting", "21 May 2025"), ("Purpose", "For assurance")]:
        cells = cover.add_row().cells
        cells[0].text, cells[1].text = key, value
    d.add_paragraph("In the quarter to 31 March 2025 the Trust received 61 formal complaints.")
    experience = tmp_path / "Patient and Carer Experience report Q4 2024-25.docx"
    d.save(experience)
    assert load_document(experience).date == "2025-05-21"

    annual = tmp_path / "Annual Report 2024-25 - Performance report extract.pdf"
    c = canvas.Canvas(str(annual), pagesize=A4)
    c.setFont("Helvetica-Bold", 16)
    c.drawString(60, 780, "Annual Report and Accounts 2024/25")
    c.setFont("Helvetica", 10)
    c.drawString(60, 750, "In September 2024 we opened a new emergency operations centre at Fellgate.")
    c.save()
    doc = load_document(annual)
    assert doc.date == "2025-03-31" and doc.meta["date_precision"] == "year_end"


def test_title_choice():
    blocks = [
        Block(kind=BlockKind.HEADING.value, text="Northvale NHS Foundation Trust"),
        Block(kind=BlockKind.HEADING.value, text="Quality Account 2024/25"),
    ]
    assert detect_title(None, blocks, "qa.pdf") == "Quality Account 2024/25"
    assert detect_title("Microsoft Word - qa.docx", blocks, "qa.pdf") == "Quality Account 2024/25"
    assert detect_title("Quality Account", blocks, "qa.pdf") == "Quality Account"
    assert detect_title(None, [], "board_pack_march.pdf") == "board pack march"

"""Plain text, Markdown and HTML backends."""

from __future__ import annotations

from pathlib import Path

from pipeline.document import BlockKind, DocType
from pipeline.ingest import load_document
from pipeline.ingest.text import strip_markdown
from pipeline.split import split_passages

MARKDOWN = """---
title: "Freedom to Speak Up Guardian report Q1 2025/26"
---

# Freedom to Speak Up Guardian report

## 1. Summary

The Guardian received **42 concerns** in the quarter, compared with 35 in the
previous quarter. Most were raised by [nursing staff](https://example.org/x) on the
inpatient wards.

Themes were:

- attitudes and behaviours of senior staff;
- staffing levels on night shifts;
- the process for raising concerns about bullying.

## 2. Concerns by staff group

| Staff group | Concerns | Anonymous |
|---|---|---|
| Nursing and midwifery | 19 | 4 |
| Medical | 6 | 1 |

The Board is asked to note the report.
"""

HTML = """<!DOCTYPE html>
<html><head><title>Patient experience report</title><style>p {color: red}</style>
<script>var tracking = "should not appear";</script></head>
<body>
<nav>Home | Reports | Contact</nav>
<header><p>Site banner text</p></header>
<main>
<h1>Patient experience report</h1>
<h2>Complaints</h2>
<p>The Trust received 112 formal complaints in the quarter &amp; responded to 87% within 25 working days.</p>
<ul><li>Communication was the most common theme.</li><li>Waiting times came second.</li></ul>
<ol><li>Reply within 25 days.</li><li>Share the learning.</li></ol>
<table>
<tr><th>Division</th><th colspan="2">Complaints</th></tr>
<tr><td>Surgery</td><td>41</td><td>up 5</td></tr>
<tr><td>Medicine</td><td>52</td><td>down 3</td></tr>
</table>
</main>
<footer>Copyright and cookie notice</footer>
</body></html>
"""

PLAIN = """QUALITY COMMITTEE ASSURANCE REPORT

1. Purpose

This report provides assurance to the Board on the work of the Quality
Committee at its meeting on 16 April 2025. The committee received the
infection prevention and control report and the maternity safety report.

2. Matters for escalation

The committee gave limited assurance on sepsis screening in the emergency
department, where compliance was 71% against a target of 90%.
\f
3. Recommendation

The Board is asked to note the report.
"""


def test_markdown(tmp_path: Path):
    path = tmp_path / "ftsu-report.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load_document(path)
    passages = split_passages(doc)
    assert doc.format == "markdown"
    assert doc.title == "Freedom to Speak Up Guardian report Q1 2025/26"
    assert doc.doc_type == DocType.COMMITTEE_REPORT.value
    summary = next(p for p in passages if "42 concerns" in p.text)
    assert summary.text.startswith("The Guardian received 42 concerns in the quarter, compared with 35 in the previous quarter.")
    assert "Most were raised by nursing staff on the inpatient wards." in summary.text
    assert summary.heading_path == ("Freedom to Speak Up Guardian report", "1. Summary")
    items = [b.text for b in doc.blocks if b.kind == BlockKind.LIST_ITEM.value]
    assert items == [
        "• attitudes and behaviours of senior staff;",
        "• staffing levels on night shifts;",
        "• the process for raising concerns about bullying.",
    ]
    themes = next(p for p in passages if "Themes were:" in p.text)
    assert themes.text.endswith("Themes were:\n\n• attitudes and behaviours of senior staff;\n\n• staffing levels on night "
                                "shifts;\n\n• the process for raising concerns about bullying.")  # lead-in with its whole list
    rows = [p.text for p in passages if p.kind == BlockKind.TABLE_ROW.value]
    assert rows == [
        "Staff group: Nursing and midwifery | Concerns: 19 | Anonymous: 4",
        "Staff group: Medical | Concerns: 6 | Anonymous: 1",
    ]
    for p in passages:
        assert doc.text[p.char_start : p.char_end] == p.text


def test_html(tmp_path: Path):
    path = tmp_path / "patient-experience.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load_document(path)
    passages = split_passages(doc)
    assert doc.format == "html"
    assert doc.title == "Patient experience report"
    for junk in ("tracking", "Site banner", "Home | Reports", "cookie", "color: red"):
        assert junk not in doc.text
    para = next(p for p in passages if "112 formal complaints" in p.text)
    assert "complaints in the quarter & responded to 87%" in para.text
    assert para.heading_path == ("Patient experience report", "Complaints")
    rows = [p.text for p in passages if p.kind == BlockKind.TABLE_ROW.value]
    assert rows == ["Division: Surgery | Complaints: 41; up 5", "Division: Medicine | Complaints: 52; down 3"]
    items = [b.text for b in doc.blocks if b.kind == BlockKind.LIST_ITEM.value]
    assert items == [
        "• Communication was the most common theme.",
        "• Waiting times came second.",
        "1. Reply within 25 days.",
        "2. Share the learning.",
    ]


def test_plain_text_pages_and_headings(tmp_path: Path):
    path = tmp_path / "quality committee report.txt"
    path.write_text(PLAIN, encoding="utf-8")
    doc = load_document(path)
    passages = split_passages(doc)
    assert doc.format == "text"
    assert doc.page_count == 2
    assert doc.title == "QUALITY COMMITTEE ASSURANCE REPORT"
    purpose = next(p for p in passages if p.text.startswith("This report provides assurance"))
    assert purpose.heading_path == ("QUALITY COMMITTEE ASSURANCE REPORT", "1. Purpose")
    assert "the work of the Quality Committee at its meeting" in purpose.text  # hard-wrapped lines joined
    rec = next(p for p in passages if p.text.startswith("The Board is asked"))
    assert rec.page == 2 and rec.heading_path[-1] == "3. Recommendation"
    assert doc.date == "2025-04-16"


def test_strip_markdown():
    assert strip_markdown("**Bold** and _em_ and `code` and [link](http://x)") == "Bold and em and code and link"
    assert strip_markdown("snake_case_name stays") == "snake_case_name stays"


def test_issue_number_at_line_start_mid_sentence_stays_in_paragraph(tmp_path: Path):
    path = tmp_path / "wres.txt"
    path.write_text(
        "The relative likelihood of White applicants being appointed from shortlisting has improved to\n"
        "1.52 (2024: 1.71), the best position in five years.\n"
        "2. The disciplinary ratio worsened this year.\n"
        "\n"
        "Headlines:\n"
        "- representation rose;\n"
        "- the ratio improved.\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    texts = [b.text for b in doc.blocks]
    assert texts[0] == (
        "The relative likelihood of White applicants being appointed from shortlisting has improved to "
        "1.52 (2024: 1.71), the best position in five years."
    )
    assert texts[1] == "2. The disciplinary ratio worsened this year."  # a number after a sentence end starts an item
    assert [b.kind for b in doc.blocks[-2:]] == [BlockKind.LIST_ITEM.value] * 2


def test_markdown_cover_sheet_and_numeric_header(tmp_path: Path):
    path = tmp_path / "report.md"
    path.write_text(
        "| Report to | Board of Directors (Public) |\n|---|---|\n| Purpose | For assurance |\n| Author | Head of Quality |\n\n"
        "| Band | 5 | 6 |\n|---|---|---|\n| Nurses | 120 | 80 |\n",
        encoding="utf-8",
    )
    rows = [b.text for b in load_document(path).blocks if b.kind == BlockKind.TABLE_ROW.value]
    assert rows == [
        "Report to: Board of Directors (Public)",
        "Purpose: For assurance",
        "Author: Head of Quality",
        "Band: Nurses | 5: 120 | 6: 80",  # a Markdown table's first row is its header, and is not also a row
    ]

"""Tests for corpus_samples/build_packs.py: the sample-pack renderer.

Each test builds a tiny pack from source written into tmp_path and reads the
rendered files back with the libraries our ingest uses.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import docx
import openpyxl
import pdfplumber
import pytest

from pipeline.errors import CorpusError

ROOT = Path(__file__).resolve().parents[1]


def _load_module():
    spec = importlib.util.spec_from_file_location("build_packs", ROOT / "corpus_samples" / "build_packs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["build_packs"] = mod
    spec.loader.exec_module(mod)
    return mod


bp = _load_module()

PACK_YAML = """\
trust: "Testvale Hospitals NHS Trust"
trust_type: acute
zip: true
zip_name: "Testvale pack.zip"
description: "tiny test pack"
"""

README = "# Testvale pack\n\nW5: strong. environmental-sustainability: absent.\n"

TABLE_ROWS = "\n".join(
    f"| IPR-{i:03d} | Metric number {i} for the month | {90 + i % 10}% | 95% | Narrative for row {i} |"
    for i in range(80)
)

IPR_MD = f"""\
---
output: "Board/Integrated performance report.pdf"
layout: single
running_header: "Testvale Hospitals NHS Trust | Integrated performance report"
running_footer: "Page {{page}} of {{pages}}"
title: "Integrated performance report"
---
# Summary

The Board is asked to **note** the position at month 6.

- Cost pressure of £1.2m – mainly agency
- Second bullet

1. First numbered item
2. Second numbered item

| Ref | Indicator | Actual | Target | Comment |
|---|---|---|---|---|
{TABLE_ROWS}

<!-- pagebreak -->
## After the table

TB 25/101 Minutes of the previous meeting
"""

PARA = ("The trust continued to deliver against its annual plan during the year "
        "while operating under significant pressure in urgent and emergency care. ") * 12

AR_MD = f"""\
---
output: "Annual report/Annual report 2024-25 extract.pdf"
layout: two-column
running_header: "Testvale Hospitals NHS Trust Annual Report 2024/25"
running_footer: "{{page}}"
---
# Chair's statement

{PARA}

{PARA}

{PARA}

{PARA}

{PARA}

{PARA}
"""

STRATEGY_MD = """\
---
output: "Strategy/Quality strategy 2025-2028.docx"
running_header: "Quality strategy 2025-2028"
running_footer: "Page {page} of {pages}"
title: "Quality strategy"
---
# Our ambition
## Priorities
### Priority 1: safety
A paragraph with **bold words** in it.
- A bullet
1. A number

Between the lists.

1. Second list first item
2. Second list second item

| Measure | Target |
|---|---|
| Falls per 1,000 bed days | 5.0 |
"""

BAF_YAML = """\
output: "Risk/Board Assurance Framework Q2.xlsx"
sheets:
  - name: "BAF 2025-26"
    title_rows: ["Board Assurance Framework 2025/26", "Position at 30 September 2025"]
    columns: [Risk ID, Likelihood, Consequence, Current score, Review date]
    rows:
      - [BAF 1, 4, 4, 16, 2025-09-30]
      - [BAF 2, 3, 5, 15, 2025-09-30]
    formulas: true
    formula_columns:
      - {header: "Current score (calc)", formula: "={Likelihood}*{Consequence}"}
  - name: "Scoring matrix"
    hidden: true
    columns: [Score, Rating]
    rows: [[1, Low], [25, Extreme]]
"""

CRR_YAML = """\
output: "Risk/Corporate risk register.csv"
encoding: cp1252
sheets:
  - name: CRR
    columns: [Risk ID, Description, Financial impact]
    rows:
      - [CRR-01, "Agency spend above plan – nursing", "£2.4m"]
"""


def write_pack(root: Path, slug: str = "acute-testvale", **extra: str) -> Path:
    src = root / "src" / slug
    (src / "board").mkdir(parents=True)
    (src / "pack.yaml").write_text(PACK_YAML, encoding="utf-8")
    (src / "README.md").write_text(README, encoding="utf-8")
    (src / "board" / "ipr.md").write_text(IPR_MD, encoding="utf-8")
    (src / "annual-report.md").write_text(AR_MD, encoding="utf-8")
    (src / "strategy.md").write_text(STRATEGY_MD, encoding="utf-8")
    (src / "baf.yaml").write_text(BAF_YAML, encoding="utf-8")
    (src / "crr.yaml").write_text(CRR_YAML, encoding="utf-8")
    for name, text in extra.items():
        (src / name).write_text(text, encoding="utf-8")
    return src


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    src = write_pack(root)
    res = bp.build_pack(src, root / "out")
    z = zipfile.ZipFile(res.output)
    return res, z


def _member(z: zipfile.ZipFile, name: str) -> io.BytesIO:
    return io.BytesIO(z.read(name))


def test_zip_holds_documents_in_folders_and_readme_beside(built):
    res, z = built
    assert res.output.name == "acute-testvale.zip"
    files = [n for n in z.namelist() if not n.endswith("/")]
    assert sorted(files) == [
        "Annual report/Annual report 2024-25 extract.pdf",
        "Board/Integrated performance report.pdf",
        "Risk/Board Assurance Framework Q2.xlsx",
        "Risk/Corporate risk register.csv",
        "Strategy/Quality strategy 2025-2028.docx",
    ]
    assert z.namelist() == sorted(z.namelist(), key=lambda n: (not n.endswith("/"), n))
    assert res.readme.name == "acute-testvale.README.md"
    assert res.readme.read_text(encoding="utf-8") == README


def test_pdf_running_header_footer_and_list_text(built):
    _, z = built
    with pdfplumber.open(_member(z, "Board/Integrated performance report.pdf")) as pdf:
        n = len(pdf.pages)
        assert n >= 3
        first = pdf.pages[0].extract_text()
        assert first.startswith("Testvale Hospitals NHS Trust | Integrated performance report")
        assert f"Page 1 of {n}" in first
        assert f"Page {n} of {n}" in pdf.pages[-1].extract_text()
        assert "• Cost pressure of £1.2m – mainly agency" in first
        assert "1. First numbered item" in first
        assert "TB 25/101 Minutes of the previous meeting" in pdf.pages[-1].extract_text()


def test_pdf_table_repeats_header_row_on_next_page(built):
    _, z = built
    with pdfplumber.open(_member(z, "Board/Integrated performance report.pdf")) as pdf:
        t1 = pdf.pages[0].extract_tables()
        t2 = pdf.pages[1].extract_tables()
    header = ["Ref", "Indicator", "Actual", "Target", "Comment"]
    assert t1 and t1[-1][0] == header
    assert t2 and t2[0][0] == header
    # the rows continue, not restart
    last_p1 = t1[-1][-1][0]
    first_p2 = t2[0][1][0]
    assert int(first_p2.split("-")[1]) == int(last_p1.split("-")[1]) + 1


def test_pdf_two_column_layout_has_two_text_columns(built):
    _, z = built
    with pdfplumber.open(_member(z, "Annual report/Annual report 2024-25 extract.pdf")) as pdf:
        page = pdf.pages[0]
        mid = page.width / 2
        body = [w for w in page.extract_words() if w["top"] > 70 and w["bottom"] < page.height - 60]
        left = [w for w in body if w["x1"] < mid]
        right = [w for w in body if w["x0"] > mid]
        straddling = [w for w in body if w["x0"] < mid < w["x1"]]
        assert len(left) > 100 and len(right) > 100
        assert not straddling
        # the two columns share text lines (side by side, not one after another)
        assert min(w["top"] for w in right) < max(w["top"] for w in left) - 300
        assert pdf.metadata["CreationDate"].startswith("D:2000")  # invariant metadata


def test_docx_heading_list_table_and_running_fields(built):
    _, z = built
    d = docx.Document(_member(z, "Strategy/Quality strategy 2025-2028.docx"))
    styles = [(p.style.name, p.text) for p in d.paragraphs if p.text]
    assert ("Heading 1", "Our ambition") in styles
    assert ("Heading 2", "Priorities") in styles
    assert ("Heading 3", "Priority 1: safety") in styles
    assert ("List Bullet", "A bullet") in styles
    assert ("List Number", "A number") in styles
    num_ids = {p.text: p._p.pPr.numPr.numId.val for p in d.paragraphs if p.style.name == "List Number"}
    assert num_ids["Second list first item"] == num_ids["Second list second item"]
    assert num_ids["A number"] != num_ids["Second list first item"]  # each list restarts at 1
    para = next(p for p in d.paragraphs if p.text.startswith("A paragraph"))
    assert [r.text for r in para.runs if r.bold] == ["bold words"]
    assert len(d.tables) == 1
    assert d.tables[0].cell(1, 0).text == "Falls per 1,000 bed days"
    assert d.sections[0].header.paragraphs[0].text == "Quality strategy 2025-2028"
    footer_xml = d.sections[0].footer._element.xml
    assert 'w:instr="PAGE"' in footer_xml and 'w:instr="NUMPAGES"' in footer_xml


def test_xlsx_title_rows_merged_hidden_sheet_and_formula(built):
    _, z = built
    wb = openpyxl.load_workbook(_member(z, "Risk/Board Assurance Framework Q2.xlsx"))
    baf = wb["BAF 2025-26"]
    assert baf.sheet_state == "visible"
    assert wb["Scoring matrix"].sheet_state == "hidden"
    assert baf["A1"].value == "Board Assurance Framework 2025/26"
    assert "A1:F1" in {str(r) for r in baf.merged_cells.ranges}
    assert [c.value for c in baf[4]] == ["Risk ID", "Likelihood", "Consequence",
                                          "Current score", "Review date", "Current score (calc)"]
    assert baf["D5"].value == 16
    assert baf["F5"].value == "=B5*C5"
    assert baf["F6"].value == "=B6*C6"
    assert baf["E5"].value.year == 2025 and baf["E5"].number_format == "DD/MM/YYYY"
    # the value column survives a reader that does not recalculate
    values = openpyxl.load_workbook(_member(z, "Risk/Board Assurance Framework Q2.xlsx"), data_only=True)
    assert values["BAF 2025-26"]["D6"].value == 15


def test_csv_is_cp1252_with_pound_and_dash(built):
    _, z = built
    raw = z.read("Risk/Corporate risk register.csv")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw.decode("cp1252"), newline="")))
    assert rows[0] == ["Risk ID", "Description", "Financial impact"]
    assert rows[1] == ["CRR-01", "Agency spend above plan – nursing", "£2.4m"]
    assert b"\xa3" in raw and b"\r\n" in raw


def test_building_twice_gives_identical_bytes(tmp_path):
    src = write_pack(tmp_path)
    a = bp.build_pack(src, tmp_path / "a")
    b = bp.build_pack(src, tmp_path / "b")
    assert a.output.read_bytes() == b.output.read_bytes()
    for info in zipfile.ZipFile(a.output).infolist():
        assert info.date_time == bp.FIXED_ZIP_TIME
    # the OOXML members inside are normalised too
    inner = zipfile.ZipFile(io.BytesIO(zipfile.ZipFile(a.output).read(
        "Strategy/Quality strategy 2025-2028.docx")))
    assert {i.date_time for i in inner.infolist()} == {bp.FIXED_ZIP_TIME}
    assert bp.FIXED_W3CDTF.encode() in inner.read("docProps/core.xml")


def test_folder_pack_when_zip_false(tmp_path):
    src = write_pack(tmp_path, slug="mh-testvale")
    (src / "pack.yaml").write_text(PACK_YAML.replace("zip: true", "zip: false"), encoding="utf-8")
    res = bp.build_pack(src, tmp_path / "out")
    assert res.output.is_dir()
    assert (res.output / "Risk" / "Corporate risk register.csv").is_file()
    assert not (res.output / "README.md").exists(), "the README must not be read as part of the pack"
    assert (tmp_path / "out" / "mh-testvale.README.md").read_text(encoding="utf-8") == README


def test_row_with_wrong_cell_count_is_rejected(tmp_path):
    bad = CRR_YAML.replace('"£2.4m"]', '"£2.4m", extra]')
    src = write_pack(tmp_path)
    (src / "crr.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(CorpusError, match="row 1 has 4 cells, expected 3"):
        bp.build_pack(src, tmp_path / "out")


def test_two_sources_writing_one_output_are_rejected(tmp_path):
    src = write_pack(tmp_path, **{"dup.md": STRATEGY_MD})
    with pytest.raises(CorpusError, match="both write"):
        bp.build_pack(src, tmp_path / "out")


def test_parse_markdown_blocks():
    blocks = bp.parse_markdown(
        "# H\n\nline one\nline two\n- a\n- b\n  continued\n\n| x | y |\n|---|---|\n| 1 | 2 \\| 3 |\n"
        "\n<!-- pagebreak -->\n<!-- comment -->\n1. n\n")
    kinds = [b.kind for b in blocks]
    assert kinds == ["heading", "para", "bullets", "table", "pagebreak", "numbers"]
    assert blocks[1].text == "line one line two"
    assert blocks[2].items == ("a", "b continued")
    assert blocks[3].items == (("x", "y"), ("1", "2 \\| 3"))
    assert bp.plain(blocks[3].items[1][1]) == "2 | 3"

"""More odd and hostile inputs, beyond tests/test_hostile.py: each found a defect.

One pack, read once with :func:`ingest_pack`: a file name that is not UTF-8,
a zip holding one name three times, Word files whose text sits in tracked
insertions, content controls, smart tags, fields and text boxes, macro and
template Word files, a workbook named .docx, Strict Open XML, a workbook
with one stray cell in its last cell (XFD1048576) or at the end of its header
row, CSVs with NUL
bytes, UTF-16 without a BOM and a field over 128 KB, an Outlook .msg, a zip
whose names are flagged UTF-8 but are not, a PDF form with no other text. Plus discovery refusing a named
pipe as the pack and an output folder that is the pack itself.
"""

from __future__ import annotations

import binascii
import io
import json
import os
import struct
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest

from pipeline.errors import DocumentLoadError
from pipeline.ingest import discover_pack, ingest_pack
from pipeline.limits import Limits

LIMITS = Limits(per_file_seconds=30, ocr=False)

MINUTES = "The Board received the quality report and noted the improvement in staff survey results."
AUDIT = "The Audit Committee reviewed the internal audit plan and the counter fraud report."
_W_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Word body XML: what each run of text is wrapped in.
TRACKED = (
    '<w:r><w:t xml:space="preserve">The Board approved the </w:t></w:r>'
    '<w:ins w:id="1" w:author="CS" w:date="2025-01-01T00:00:00Z"><w:r><w:t xml:space="preserve">revised </w:t></w:r></w:ins>'
    '<w:del w:id="2" w:author="CS" w:date="2025-01-01T00:00:00Z"><w:r><w:delText xml:space="preserve">draft </w:delText></w:r></w:del>'
    "<w:r><w:t>people strategy.</w:t></w:r>"
)
INLINE_WRAPPERS = (
    '<w:r><w:t xml:space="preserve">The Chief Nurse presented </w:t></w:r>'
    '<w:smartTag w:uri="urn:x" w:element="place"><w:r><w:t>the safer staffing review</w:t></w:r></w:smartTag>'
    '<w:r><w:t xml:space="preserve"> and </w:t></w:r>'
    '<w:fldSimple w:instr="REF paper"><w:r><w:t>the establishment paper</w:t></w:r></w:fldSimple>'
    '<w:sdt><w:sdtPr/><w:sdtContent><w:r><w:t xml:space="preserve"> to the Board in public.</w:t></w:r></w:sdtContent></w:sdt>'
)
BOX_TEXT = "The Trust met its four-hour target for the third quarter running."
_BOX = f"<w:txbxContent><w:p><w:r><w:t>{BOX_TEXT}</w:t></w:r></w:p></w:txbxContent>"
TEXT_BOX = (  # as Word saves it: a DrawingML copy and a VML copy of one text box
    "<w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:drawing><wp:anchor><a:graphic "
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData uri="wps"><wps:wsp><wps:txbx>'
    f"{_BOX}</wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>"
    f"<mc:Fallback><w:pict><v:shape><v:textbox>{_BOX}</v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>"
)
COVER = "Board of Directors meeting in public, item 7: the Quality Committee chair's assurance report."
CONTENT_CONTROL = f'<w:sdt><w:sdtPr><w:alias w:val="Cover"/></w:sdtPr><w:sdtContent><w:p><w:r><w:t>{COVER}</w:t></w:r></w:p></w:sdtContent></w:sdt>'
CELL_INSERT = '<w:ins w:id="3" w:author="CS" w:date="2025-01-01T00:00:00Z"><w:r><w:t>Chief Operating Officer</w:t></w:r></w:ins>'


def _docx_bytes(*paragraphs: str, table: list[list[str]] | None = None) -> bytes:
    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    if table:
        t = d.add_table(rows=0, cols=len(table[0]))
        for row in table:
            for cell, text in zip(t.add_row().cells, row, strict=True):
                cell.text = text
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _rewrite(data: bytes, edit) -> bytes:
    """The same zip with each part passed through ``edit(name, bytes)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, edit(info.filename, src.read(info)))
    return out.getvalue()


def _word_body_docx() -> bytes:
    """Paragraphs whose text python-docx's Paragraph.text leaves out, plus a content control and a text box."""
    base = _docx_bytes("P-TRACKED", "P-INLINE", "P-BODY-SDT", "P-BOX", table=[["Risk", "Owner"], ["Delayed discharge", "CELL"]])

    def edit(name: str, xml: bytes) -> bytes:
        if name != "word/document.xml":
            return xml
        text = xml.decode()
        text = text.replace("<w:r><w:t>P-TRACKED</w:t></w:r>", TRACKED)
        text = text.replace("<w:r><w:t>P-INLINE</w:t></w:r>", INLINE_WRAPPERS)
        text = text.replace("<w:p><w:r><w:t>P-BODY-SDT</w:t></w:r></w:p>", CONTENT_CONTROL)
        text = text.replace("<w:r><w:t>P-BOX</w:t></w:r>", TEXT_BOX)
        text = text.replace("<w:r><w:t>CELL</w:t></w:r>", CELL_INSERT)
        assert "P-" not in text and "CELL<" not in text
        return text.encode()

    return _rewrite(base, edit)


def _header_only_docx() -> bytes:
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "Board of Directors - Part 1 - Public"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _with_main_type(data: bytes, content_type: str) -> bytes:
    return _rewrite(data, lambda n, x: x.replace(_W_MAIN.encode(), content_type.encode()) if n == "[Content_Types].xml" else x)


def _xlsx_bytes() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Risk's & <register> 🙂"
    ws.append(["Risk ID", "Risk", "Owner"])
    ws.append(["CRR 4", "Cyber attack on clinical systems", "Chief Digital Officer"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _far_corner_xlsx() -> bytes:
    """A small register plus one stray cell in the sheet's last cell (XFD1048576)."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf)
    ws = wb.add_worksheet("Register")
    ws.write_row(0, 0, ["Risk ID", "Risk", "Owner"])
    ws.write_row(1, 0, ["CRR 7", "Loss of the pathology network", "Chief Operating Officer"])
    ws.write(1_048_575, 16_383, "x")
    wb.close()
    return buf.getvalue()


STRAY_ROWS = 40_000


def _stray_header_cell_xlsx() -> bytes:
    """A long register whose header row has one stray cell in the last column (XFD1)."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"constant_memory": True})
    ws = wb.add_worksheet("Register")
    ws.write_row(0, 0, ["Risk ID", "Risk", "Owner"])
    for i in range(1, STRAY_ROWS + 1):
        ws.write_row(i, 0, [f"R{i}", "Delayed discharge affecting flow", "COO"])
    wb.close()
    stray = b'<c r="XFD1" t="inlineStr"><is><t>x</t></is></c></row>'  # added to the XML: xlsxwriter pads every row to it

    def edit(name: str, xml: bytes) -> bytes:
        return xml.replace(b"</row>", stray, 1) if name == "xl/worksheets/sheet1.xml" else xml

    return _rewrite(buf.getvalue(), edit)


def _strict(data: bytes) -> bytes:
    """A workbook with its namespaces moved to Strict Open XML (ISO 29500 Strict)."""
    pairs = (
        (b"http://schemas.openxmlformats.org/spreadsheetml/2006/main", b"http://purl.oclc.org/ooxml/spreadsheetml/main"),
        (b"http://schemas.openxmlformats.org/officeDocument/2006/relationships", b"http://purl.oclc.org/ooxml/officeDocument/relationships"),
    )  # fmt: skip

    def edit(_name: str, xml: bytes) -> bytes:
        for old, new in pairs:
            xml = xml.replace(old, new)
        return xml

    return _rewrite(data, edit)


def _form_only_pdf() -> bytes:
    """A fillable form: its only text is in form fields (widget annotations)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.acroForm.textfield(name="risk", value="Workforce risk owned by the Chief People Officer", x=72, y=700, width=400)
    c.showPage()
    c.save()
    return buf.getvalue()


def _hand_zip(members: list[tuple[bytes, bytes, int]]) -> bytes:
    """A stored zip written byte by byte: (name bytes, data, general-purpose flags) per entry."""
    out, central = bytearray(), bytearray()
    for name, data, flags in members:
        crc = binascii.crc32(data)
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 0, 0, 0, crc, len(data), len(data), len(name), 0)
        out += name + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, 0, 0, 0, crc, len(data), len(data), len(name), 0, 0, 0, 0, 0, offset
        )
        central += name
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0)
    return bytes(out)


def _ole(*streams: str) -> bytes:
    """An OLE2 (legacy Office) file whose directory names ``streams`` (UTF-16), in that order."""
    return _OLE_MAGIC + b"\0" * 504 + b"".join(s.encode("utf-16-le") + b"\0" * 40 for s in streams)


CSV_ROWS = "Risk ID,Risk,Owner,Score\nCRR 1,Cyber attack on clinical systems,CDIO,16\nCRR 2,Workforce shortfall in theatres,CPO,12\n"
LONG_NOTE = "The committee noted the mitigation. " * 6000  # ~216 KB in one cell


def build_pack(pack: Path) -> dict[str, str]:
    """Write the pack; return the paths in it that need a name made outside Python's str."""
    files: dict[str, bytes] = {
        "same name.zip": _hand_zip(
            [
                (b"Board/minutes.txt", MINUTES.encode(), 0),
                (b"Board/minutes.txt", AUDIT.encode(), 0),
                (b"Board/minutes.txt", MINUTES.encode(), 0),
            ]
        ),
        "bad flag.zip": _hand_zip([("caf\xe9.txt".encode("latin-1"), MINUTES.encode(), 0x800)]),
        "word/wrapped text.docx": _word_body_docx(),
        "word/header only.docx": _header_only_docx(),
        "word/macro.docm": _with_main_type(_docx_bytes(MINUTES + " (macro file)"), "application/vnd.ms-word.document.macroEnabled.main+xml"),
        "word/template.dotx": _with_main_type(
            _docx_bytes(MINUTES + " (template)"), "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"
        ),
        "word/workbook.docx": _xlsx_bytes(),
        "sheets/strict.xlsx": _strict(_xlsx_bytes()),
        "sheets/far corner.xlsx": _far_corner_xlsx(),
        "sheets/stray header cell.xlsx": _stray_header_cell_xlsx(),
        "sheets/nul.csv": CSV_ROWS.replace("Cyber", "Cy\0ber").encode(),
        "sheets/utf16 no bom.csv": CSV_ROWS.replace("CPO", "Chief People Officer – interim").encode("utf-16-le"),
        "sheets/long note.csv": f"Risk ID,Risk,Notes\nCRR 9,Estates backlog,{LONG_NOTE}\n".encode(),
        "forms/declaration form.pdf": _form_only_pdf(),
        "legacy/e-mail.msg": _ole("Root Entry", "__substg1.0_0037001F", "__substg1.0_1000001F", "WordDocument"),
        "legacy/old minutes.doc": _ole("Root Entry", "WordDocument", "1Table"),
    }  # fmt: skip
    for rel, data in files.items():
        path = pack / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    try:  # a Latin-1 name, as copied from an old Windows share
        with open(os.fsencode(pack) + b"/caf\xe9 minutes.txt", "wb") as fh:
            fh.write(("The café review was noted. " + AUDIT).encode())
    except OSError:  # pragma: no cover - a file system that only takes UTF-8 names
        pytest.skip("this file system refuses names that are not UTF-8")
    return files


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile_more")
    build_pack(root / "pack")
    out = root / "out"
    result = ingest_pack(root / "pack", out, LIMITS, workers=2)  # must not raise: every name is writable
    by_path = {r.source.path_in_pack: r for r in result.results}
    return out, result, by_path


def _text(res) -> str:
    return "\n".join(p.text for p in res.passages)


def test_every_input_once_in_the_manifest(run):
    out, result, _ = run
    rows = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)) == len(result.results)
    assert (out / "manifest.csv").read_text(encoding="utf-8").count("\n") >= len(rows) + 1


def test_file_name_not_utf8(run):
    _, _, by_path = run
    res = by_path["caf\\xe9 minutes.txt"]  # bad bytes shown escaped; the file is still read
    assert res.status == "ingested" and "café review" in _text(res)
    assert all(p.source_path == "caf\\xe9 minutes.txt" for p in res.passages)


def test_zip_with_one_name_three_times(run):
    _, _, by_path = run
    first = by_path["same name.zip/Board/minutes.txt"]
    second = by_path["same name.zip/Board/minutes (2).txt"]
    third = by_path["same name.zip/Board/minutes (3).txt"]
    assert first.status == "ingested" and MINUTES in _text(first)
    assert second.status == "ingested" and AUDIT in _text(second)  # a different file behind the same name
    assert third.status == "duplicate" and third.duplicate_of == "same name.zip/Board/minutes.txt"
    assert by_path["same name.zip"].reason == "zip archive: 3 of 3 entries unpacked (listed separately)"


def test_word_text_in_tracked_changes_fields_controls_and_text_boxes(run):
    _, _, by_path = run
    res = by_path["word/wrapped text.docx"]
    assert res.status == "ingested", res.reason
    text = _text(res)
    assert "The Board approved the revised people strategy." in text  # insertion kept, deletion left out
    assert "draft" not in text
    assert "The Chief Nurse presented the safer staffing review and the establishment paper to the Board in public." in text
    assert COVER in text  # a paragraph inside a block-level content control
    assert text.count(BOX_TEXT) == 1  # the text box, read once although Word saved it twice
    assert "Owner: Chief Operating Officer" in text  # an insertion inside a table cell


def test_word_body_empty_says_where_the_text_is(run):
    _, _, by_path = run
    res = by_path["word/header only.docx"]
    assert res.status == "failed" and "headers" in res.reason and "not read" in res.reason


@pytest.mark.parametrize("path", ["word/macro.docm", "word/template.dotx"])
def test_macro_and_template_word_files(run, path):
    res = run[2][path]
    assert res.status == "ingested", res.reason
    assert MINUTES in _text(res)


def test_workbook_named_docx_read_by_content(run):
    res = run[2]["word/workbook.docx"]
    assert res.status == "ingested", res.reason
    assert any("named .docx but its content is xlsx" in w for w in res.document.warnings)
    assert "Risk ID: CRR 4 | Risk: Cyber attack on clinical systems" in _text(res)
    assert res.passages[0].sheet == "Risk's & <register> 🙂"


def test_strict_open_xml_named_plainly(run):
    res = run[2]["sheets/strict.xlsx"]
    assert res.status == "failed" and "Strict Open XML" in res.reason and "save it" in res.reason


def test_xlsx_with_a_stray_cell_in_the_far_corner(run):
    res = run[2]["sheets/far corner.xlsx"]  # 5 KB, but openpyxl padded a million rows to 16,384 cells: timed out
    assert res.status == "ingested", res.reason
    assert "Risk ID: CRR 7 | Risk: Loss of the pathology network" in _text(res)


def test_xlsx_register_with_a_stray_header_cell_far_right(run):
    res = run[2]["sheets/stray header cell.xlsx"]  # every record walked 16,384 columns: over the time limit
    assert res.status == "ingested", res.reason
    assert len(res.passages) == STRAY_ROWS
    assert res.passages[-1].text == f"Risk ID: R{STRAY_ROWS} | Risk: Delayed discharge affecting flow | Owner: COO"


def test_csv_with_nul_bytes(run):
    res = run[2]["sheets/nul.csv"]
    assert res.status == "ingested", res.reason
    assert "Risk: Cyber attack on clinical systems" in _text(res)


def test_csv_utf16_without_bom(run):
    res = run[2]["sheets/utf16 no bom.csv"]
    assert res.status == "ingested", res.reason
    assert "Owner: Chief People Officer – interim" in _text(res)
    assert "read as utf-16-le" in res.document.warnings


def test_csv_field_over_128_kb(run):
    res = run[2]["sheets/long note.csv"]
    assert res.status == "ingested", res.reason
    assert sum(len(p.text) for p in res.passages) > len(LONG_NOTE) * 0.99


def test_legacy_office_kinds_named(run):
    _, _, by_path = run
    msg = by_path["legacy/e-mail.msg"]
    assert msg.status == "failed"  # an e-mail is a document the trust sent: failed, not skipped
    assert "Outlook e-mail" in msg.reason and "PDF" in msg.reason
    assert "Word 97-2003" in by_path["legacy/old minutes.doc"].reason


def test_pdf_with_only_form_fields_says_so(run):
    res = run[2]["forms/declaration form.pdf"]
    assert res.status == "failed" and "form fields" in res.reason  # not just "the file holds no text"


def test_zip_names_flagged_utf8_but_not(run):
    res = run[2]["bad flag.zip"]
    assert res.status == "failed" and "marked as UTF-8" in res.reason


def test_named_pipe_as_pack_refused(tmp_path: Path):
    fifo = tmp_path / "pack"
    os.mkfifo(fifo)
    with pytest.raises(DocumentLoadError, match="neither a folder nor a regular file"):
        discover_pack(fifo, tmp_path / "out" / "staging")


def test_output_folder_is_the_pack(tmp_path: Path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "minutes.txt").write_text(MINUTES, encoding="utf-8")
    (pack / "manifest.csv").write_text("path,status\nminutes.txt,ingested\n", encoding="utf-8")  # an earlier run's output
    with pytest.raises(DocumentLoadError, match="output folder is the pack folder"):
        discover_pack(pack, pack / ".staging")
    assert [f.path_in_pack for f in discover_pack(pack, pack / "out" / ".staging")] == ["manifest.csv", "minutes.txt"]


def test_review_command_refuses_unusable_pack_or_out_before_starting(tmp_path: Path):
    from typer.testing import CliRunner

    from flows.cli import app

    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "minutes.txt").write_text(MINUTES, encoding="utf-8")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", encoding="utf-8")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    bad_name = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    os.mkdir(bad_name)
    cases = [
        ([str(fifo), "--out", str(tmp_path / "o1")], "neither a folder nor a regular file"),
        ([str(pack), "--out", str(a_file)], "is an existing file"),  # was a FileExistsError traceback
        ([str(pack), "--out", str(pack)], "output folder is the pack folder"),
        ([bad_name, "--out", str(tmp_path / "o2")], "not valid UTF-8"),  # was a UnicodeEncodeError traceback
    ]
    for args, words in cases:
        res = CliRunner().invoke(app, ["review", *args])
        assert res.exit_code == 1, (args, res.output)
        assert words in " ".join(res.output.split()), (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pack", "notes.txt", "pipe", os.path.basename(bad_name)])


def test_check_pack_accepts_an_output_folder_inside_the_pack(tmp_path: Path):
    from pipeline.ingest import check_pack

    (tmp_path / "pack").mkdir()
    check_pack(tmp_path / "pack", tmp_path / "pack" / "out")
    check_pack(tmp_path / "pack", tmp_path / "elsewhere")


def test_unreadable_folder_and_file_listed(tmp_path: Path):
    """A folder that cannot be listed is a failed row, not silently left out (root is run without DAC override)."""
    import shutil
    import subprocess
    import sys

    pack = tmp_path / "pack"
    (pack / "locked folder").mkdir(parents=True)
    (pack / "locked folder" / "hidden minutes.txt").write_text(MINUTES, encoding="utf-8")
    (pack / "locked.txt").write_text(MINUTES, encoding="utf-8")
    (pack / "open.txt").write_text(AUDIT, encoding="utf-8")
    os.chmod(pack / "locked folder", 0)
    os.chmod(pack / "locked.txt", 0)
    script = (
        "import json, sys\n"
        "from pipeline.ingest import discover_pack\n"
        "files = discover_pack(sys.argv[1], sys.argv[2])\n"
        "print(json.dumps([[f.path_in_pack, f.status, f.reason] for f in files]))\n"
    )
    cmd = [sys.executable, "-c", script, str(pack), str(tmp_path / "out" / "staging")]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=root, env=env)
    finally:
        os.chmod(pack / "locked folder", 0o755)
        os.chmod(pack / "locked.txt", 0o644)
    if proc.returncode != 0 and "setpriv" in proc.stderr:
        pytest.skip(f"setpriv not permitted here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    rows = {path: (status, reason) for path, status, reason in json.loads(proc.stdout)}
    assert rows["open.txt"][0] is None
    assert rows["locked.txt"][0] == "failed" and "unreadable" in rows["locked.txt"][1]
    assert rows["locked folder/"][0] == "failed" and "folder unreadable" in rows["locked folder/"][1]


def test_xlsx_too_wide_for_memory_names_the_limit(tmp_path: Path):
    """5,000 rows each with a cell in column XFD: a small file that needs gigabytes as a grid."""
    import xlsxwriter

    from pipeline.ingest import SourceFile, process_file

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"constant_memory": True})
    ws = wb.add_worksheet("Register")
    for i in range(5000):
        ws.write_row(i, 0, [f"R{i}", "Delayed discharge", "COO"])
    wb.close()

    def edit(name: str, xml: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return xml
        out, pos = [], 0
        for k in range(1, 5001):
            end = xml.index(b"</row>", pos)
            out.append(xml[pos:end] + f'<c r="XFD{k}" t="inlineStr"><is><t>x</t></is></c></row>'.encode())
            pos = end + len(b"</row>")
        return b"".join(out) + xml[pos:]

    path = tmp_path / "wide.xlsx"
    path.write_bytes(_rewrite(buf.getvalue(), edit))
    res = process_file(SourceFile("wide.xlsx", path, "x", path.stat().st_size), Limits(per_file_memory_mb=200, per_file_seconds=60))
    assert res.status == "failed" and "ran out of memory" in res.reason and "per_file_memory_mb" in res.reason

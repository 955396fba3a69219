"""One pack holding every kind of hostile file at once, read with tight limits.

The run must finish, list every input exactly once with a plain reason for
anything not read, read the two normal files, and write nothing outside its
output folder.
"""

from __future__ import annotations

import io
import os
import random
import threading
import uuid
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from pipeline.ingest import ingest_pack
from pipeline.limits import Limits

#: Tight limits for the test: a stuck parser is stopped after 20 s.
LIMITS = Limits(per_file_seconds=20, per_file_memory_mb=768, max_zip_depth=3, max_zip_ratio=200, ocr=False)

NORMAL_DOCX_TEXT = "The Board approved the Freedom to Speak Up policy after review by the People Committee."
NORMAL_PDF_TEXT = "The Quality Committee received the learning from deaths report and noted the themes."
ABSOLUTE_TARGET = Path(f"/tmp/wellled-hostile-{uuid.uuid4().hex}.txt")  # an absolute zip entry must not land here


def _pdf_bytes(lines: list[str], *, encrypt: str | None = None) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, encrypt=encrypt)
    y = 760
    for line in lines:
        c.drawString(72, y, line)
        y -= 14
    c.showPage()
    c.save()
    return buf.getvalue()


def _truncated(data: bytes) -> bytes:
    """The first two thirds of a file, as an interrupted upload leaves it."""
    return data[: len(data) * 2 // 3]


def _scanned_pdf_bytes() -> bytes:
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    img = Image.new("RGB", (300, 120), "white")
    for x in range(20, 280):
        img.putpixel((x, 60), (0, 0, 0))
    png = io.BytesIO()
    img.save(png, format="PNG")
    png.seek(0)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.drawImage(ImageReader(png), 72, 400, width=400, height=160)
    c.showPage()
    c.save()
    return buf.getvalue()


def _docx_bytes(text: str) -> bytes:
    d = docx.Document()
    d.add_heading("Freedom to Speak Up policy", level=1)
    d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _billion_laughs_docx() -> bytes:
    """A real DOCX whose word/document.xml declares nested entities (entity expansion)."""
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    src = zipfile.ZipFile(io.BytesIO(_docx_bytes("Laughing matter.")))
    out = io.BytesIO()
    with src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml":
                head, _, rest = data.partition(b"?>")
                data = head + b"?>" + f"<!DOCTYPE w:document [{entities}]>".encode() + rest.replace(
                    b"Laughing matter.", b"&lol9;"
                )
            dst.writestr(info, data)
    return out.getvalue()


def _xlsx_bytes() -> bytes:
    """Formulas with no saved value, merged cells and a hidden sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "BAF"
    ws.append(["Board Assurance Framework Q2"])
    ws.merge_cells("A1:E1")
    ws.append(["Risk ID", "Risk", "Likelihood", "Consequence", "Score"])
    ws.append(["BAF 1", "Cyber attack on clinical systems", 4, 5, "=C3*D3"])
    ws.append(["BAF 2", "Workforce supply", 3, 4, "=C4*D4"])
    ws.merge_cells("B5:B6")
    ws.append(["BAF 3", "Financial plan not delivered", 4, 4, "=C5*D5"])
    ws.append(["BAF 3", None, 4, 4, None])
    hidden = wb.create_sheet("Archive")
    hidden.append(["Risk ID", "Risk", "Status"])
    hidden.append(["BAF 0", "Legacy estates risk", "Closed"])
    hidden.sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def _nested_zip(depth: int) -> bytes:
    data = _zip([("deep.txt", b"The innermost board paper.")])
    for level in range(depth - 1, 0, -1):
        data = _zip([(f"level{level}.zip", data)])
    return data


def build_hostile_pack(pack: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Write the pack; return what each input must end as: path -> (status, words in the reason)."""
    pack.mkdir(parents=True)
    rng = random.Random(7)
    good_pdf = _pdf_bytes([NORMAL_PDF_TEXT, "The committee asked for a follow-up report in six months."])
    files: dict[str, bytes] = {
        "Board/normal policy.docx": _docx_bytes(NORMAL_DOCX_TEXT),
        "Board/normal report.pdf": good_pdf,
        "Board/corrupt.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without pages or xref\n%%EOF\n",
        "Board/truncated.pdf": _truncated(_pdf_bytes([f"Line {i} of a long board paper." for i in range(40)])),
        "Board/encrypted.pdf": _pdf_bytes(["Confidential board paper"], encrypt="secret"),
        "Board/empty.pdf": b"",
        "Board/scanned.pdf": _scanned_pdf_bytes(),
        "Board/notes renamed.pdf": b"These are plain text notes of the meeting, saved with the wrong extension.\n",
        "Board/random.docx": bytes([0]) + rng.randbytes(4095),
        "Board/laughs.docx": _billion_laughs_docx(),
        "Board/one line.txt": (" ".join(rng.choice(["the", "board", "noted", "assurance", "ward"]) for _ in range(1_000_000))).encode()[: 5 * 1024 * 1024],
        "Risk/register cp1252.csv": "Risk ref,Risk title,Owner,Score\r\nCRR 1,Cyber security – ransomware,Chief Digital Officer,16\r\nCRR 2,Estates “backlog”,Director of Estates,12\r\n".encode("cp1252"),
        "Risk/BAF formulas.xlsx": _xlsx_bytes(),
        "Zips/bomb.zip": _zip([("bomb.txt", b"\0" * (30 << 20))]),
        "Zips/traversal.zip": _zip([("../../escape.txt", b"escaped"), ("..\\..\\escape2.txt", b"escaped"), ("fine.txt", b"A fine board note.")]),
        "Zips/absolute.zip": _zip([(zipfile.ZipInfo(str(ABSOLUTE_TARGET)), b"absolute")]),
        "Zips/nested.zip": _nested_zip(10),
    }  # fmt: skip
    for rel, data in files.items():
        path = pack / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert len(files["Board/one line.txt"]) == 5 * 1024 * 1024 and b"\n" not in files["Board/one line.txt"]
    nested = "Zips/nested.zip/level1.zip/level2.zip"
    return {
        "Board/normal policy.docx": ("ingested", ()),
        "Board/normal report.pdf": ("ingested", ()),
        "Board/corrupt.pdf": ("failed", ("corrupt", "PDF")),
        "Board/truncated.pdf": ("failed", ("truncated PDF", "incomplete")),
        "Board/encrypted.pdf": ("failed", ("encrypted", "password")),
        "Board/empty.pdf": ("failed", ("empty", "0 bytes")),
        "Board/scanned.pdf": ("failed", ("no text", "no text layer", "OCR")),
        "Board/notes renamed.pdf": ("ingested", ()),
        "Board/random.docx": ("failed", ("binary", "not a document")),
        "Board/laughs.docx": ("failed", ("entity", "not allowed")),
        "Board/one line.txt": ("ingested", ()),
        "Risk/register cp1252.csv": ("ingested", ()),
        "Risk/BAF formulas.xlsx": ("ingested", ()),
        "Zips/bomb.zip": ("skipped", ("zip archive", "0 of 1")),
        "Zips/bomb.zip/bomb.txt": ("failed", ("ratio", "zip bomb", "max_zip_ratio")),
        "Zips/traversal.zip": ("skipped", ("zip archive", "1 of 3")),
        "Zips/traversal.zip/../../escape.txt": ("failed", ("traversal",)),
        "Zips/traversal.zip/../../escape2.txt": ("failed", ("traversal",)),
        "Zips/traversal.zip/fine.txt": ("ingested", ()),
        "Zips/absolute.zip": ("skipped", ("zip archive", "0 of 1")),
        f"Zips/absolute.zip/{ABSOLUTE_TARGET}": ("failed", ("absolute path",)),
        "Zips/nested.zip": ("skipped", ("zip archive",)),
        "Zips/nested.zip/level1.zip": ("skipped", ("zip archive",)),
        nested: ("skipped", ("zip archive",)),
        f"{nested}/level3.zip": ("failed", ("nested 4 deep", "max_zip_depth")),
    }


def _listing(root: Path, skip: Path) -> set[tuple[str, int]]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != skip]
        for name in [*dirnames, *filenames]:
            p = here / name
            out.add((p.relative_to(root).as_posix(), p.stat().st_size if p.is_file() else -1))
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile")
    expected = build_hostile_pack(root / "pack")
    out = root / "out"
    before = _listing(root, out)
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = ingest_pack(root / "pack", out, LIMITS, workers=4)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=150)  # the run must finish: every bound holds
    assert not worker.is_alive(), "ingest_pack did not finish within 150 s"
    assert "error" not in box, box.get("error")
    return root, out, expected, box["result"], before


def test_every_input_once_with_a_plain_reason(hostile):
    _, _, expected, result, _ = hostile
    paths = [r.source.path_in_pack for r in result.results]
    assert len(paths) == len(set(paths))  # no input twice
    assert set(paths) == set(expected)  # every input, and nothing else
    for r in result.results:
        status, words = expected[r.source.path_in_pack]
        assert r.status == status, (r.source.path_in_pack, r.status, r.reason)
        if status == "ingested":
            assert r.passages, r.source.path_in_pack
        else:
            assert r.reason, r.source.path_in_pack
            assert all(w.lower() in r.reason.lower() for w in words), (r.source.path_in_pack, r.reason)


def test_manifest_on_disk_matches(hostile):
    import json

    _, out, expected, _, _ = hostile
    rows = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(r["path"] for r in rows) == sorted(expected)
    assert {r["path"]: r["status"] for r in rows} == {p: s for p, (s, _) in expected.items()}


def test_normal_files_read_with_their_text(hostile):
    _, _, _, result, _ = hostile
    by_path = {r.source.path_in_pack: r for r in result.results}
    assert any(NORMAL_DOCX_TEXT in p.text for p in by_path["Board/normal policy.docx"].passages)
    assert any(NORMAL_PDF_TEXT in p.text for p in by_path["Board/normal report.pdf"].passages)


def test_hostile_but_readable_files(hostile):
    _, _, _, result, _ = hostile
    by_path = {r.source.path_in_pack: r for r in result.results}
    renamed = by_path["Board/notes renamed.pdf"].document
    assert any("named .pdf but its content is text" in w for w in renamed.warnings)
    csv_doc = by_path["Risk/register cp1252.csv"].document
    assert "Cyber security – ransomware" in csv_doc.text and "“backlog”" in csv_doc.text
    assert "read as cp1252" in csv_doc.warnings
    xlsx = by_path["Risk/BAF formulas.xlsx"]
    assert xlsx.document.meta["hidden_sheets"] == ["Archive"]
    assert any("no saved value" in w for w in xlsx.document.warnings)
    assert any(p.text.startswith("Risk ID: BAF 3 | Risk: Financial plan not delivered") for p in xlsx.passages)
    assert any("Legacy estates risk" in p.text for p in xlsx.passages)
    one_line = by_path["Board/one line.txt"]
    assert all(len(p.text) <= 1200 for p in one_line.passages)
    assert sum(len(p.text) for p in one_line.passages) >= 5 * 1024 * 1024 - len(one_line.passages) - 1


def test_nothing_written_outside_the_output_folder(hostile):
    root, out, _, _, before = hostile
    assert _listing(root, out) == before
    assert not ABSOLUTE_TARGET.exists()
    assert not (root / "escape.txt").exists() and not (root.parent / "escape.txt").exists()
    staged = [p for p in (out / "staging").rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in staged)

"""One file in a bounded worker process: time and memory limits, bad input, mislabelled files."""

from __future__ import annotations

import zlib
from pathlib import Path

from reportlab.pdfgen import canvas

from pipeline.ingest import SourceFile, process_file, run_file
from pipeline.limits import Limits


def make_spinning_pdf(path: Path, ops: int = 5_000_000) -> Path:
    """A ~200 KB PDF whose one page holds five million text operations.

    pdfium needs about five seconds (on a fast machine) and several hundred
    MB to lay the page out: the kind of file that makes a parser spin. (With
    1.5 million operations it took only ~1.4 s, so a 1.5 s limit was a race.)
    """
    content = b"BT /F1 1 Tf " + b"(a) Tj 0.001 0 Td " * ops + b"ET"
    stream = zlib.compress(content, 9)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def make_pdf(path: Path, text: str = "The Board approved the annual governance statement.") -> Path:
    c = canvas.Canvas(str(path))
    c.drawString(72, 720, text)
    c.save()
    return path


def _sf(path: Path, name: str | None = None) -> SourceFile:
    return SourceFile(name or path.name, path, size=path.stat().st_size)


def test_normal_file_in_worker(tmp_path: Path):
    res = process_file(_sf(make_pdf(tmp_path / "ags.pdf")))
    assert res.status == "ingested", res.reason
    assert res.document is not None and res.document.page_count == 1
    assert [p.text for p in res.passages] == ["The Board approved the annual governance statement."]
    assert res.peak_rss_mb and 10 < res.peak_rss_mb < 1024
    assert res.seconds > 0


def test_spinning_pdf_is_stopped_on_time(tmp_path: Path):
    sf = _sf(make_spinning_pdf(tmp_path / "spin.pdf"))
    assert sf.size < 300_000
    # The spinner also allocates: on a fast core it can pass the default 1 GB memory limit before
    # 1.5 s. A high memory limit leaves the clock as the only limit this test is about.
    res = process_file(sf, Limits(per_file_seconds=1.5, per_file_memory_mb=8192))
    assert res.status == "failed"
    assert res.reason.startswith("timed out after 1.5 s (per_file_seconds)"), res.reason
    assert res.seconds < 15


def test_memory_limit(tmp_path: Path):
    sf = _sf(make_spinning_pdf(tmp_path / "spin.pdf"))
    res = process_file(sf, Limits(per_file_memory_mb=64, per_file_seconds=60))
    assert res.status == "failed"
    assert "memory" in res.reason and "64 MB" in res.reason


def test_bad_inputs_never_raise(tmp_path: Path):
    empty = tmp_path / "empty.docx"
    empty.write_bytes(b"")
    png = tmp_path / "logo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    fake_pdf = tmp_path / "scan.pdf"
    fake_pdf.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    ole = tmp_path / "old minutes.doc"
    ole.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    assert run_file(_sf(empty)).reason == "empty file (0 bytes)"
    skipped = process_file(_sf(png))
    assert skipped.status == "skipped" and "PNG image" in skipped.reason
    failed = process_file(_sf(fake_pdf))  # named as a document we read: a failure, not a skip
    assert failed.status == "failed" and "PNG image" in failed.reason
    legacy = run_file(_sf(ole))
    assert legacy.status == "failed" and "legacy Office" in legacy.reason


def test_oversized_file(tmp_path: Path):
    res = run_file(_sf(make_pdf(tmp_path / "big.pdf")), Limits(max_file_bytes=100))
    assert res.status == "failed" and "max_file_bytes" in res.reason


def test_too_many_pages(tmp_path: Path):
    path = tmp_path / "long.pdf"
    c = canvas.Canvas(str(path))
    for i in range(5):
        c.drawString(72, 720, f"Page {i} of the annual report.")
        c.showPage()
    c.save()
    res = run_file(_sf(path), Limits(max_pages=3))
    assert res.status == "failed" and res.reason == "PDF has 5 pages, over the limit of 3 (max_pages)"


def test_mislabelled_file_is_read_by_content(tmp_path: Path):
    pdf = make_pdf(tmp_path / "Board paper.docx", "The committee reviewed the risk register in detail.")
    res = process_file(_sf(pdf))
    assert res.status == "ingested"
    assert res.document.format == "pdf"
    assert "file is named .docx but its content is pdf; read as pdf" in res.document.warnings
    assert res.passages[0].text == "The committee reviewed the risk register in detail."


def test_pre_failed_source_returned_without_worker():
    sf = SourceFile("pack.zip/../evil", None, status="failed", reason="path traversal ('..') in zip entry (refused)")
    res = process_file(sf)
    assert res.status == "failed" and res.reason == sf.reason and res.document is None


def test_passage_cap(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("\n\n".join(f"Paragraph {i} is about a different topic, long enough to stand alone as a passage of its own here." for i in range(20)))
    res = run_file(_sf(path), Limits(max_passages_per_file=5))
    assert res.status == "ingested" and len(res.passages) == 5
    assert any("max_passages_per_file" in w for w in res.document.warnings)

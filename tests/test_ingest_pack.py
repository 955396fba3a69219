"""A whole pack: manifest for every input, duplicates, outputs, the CLI."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest
import typer
from reportlab.pdfgen import canvas
from typer.testing import CliRunner

from flows.commands.extract import register
from pipeline.document import Passage
from pipeline.ingest import MANIFEST_FIELDS, discover_pack, ingest_pack

SHARED = (
    "The Board received the Freedom to Speak Up Guardian's report and noted that concerns about behaviours had risen. "
    "The Board asked the People Committee to oversee the action plan."
)


def _pdf(path: Path, lines: list[str]) -> Path:
    c = canvas.Canvas(str(path))
    y = 760
    for line in lines:
        c.drawString(72, y, line)
        y -= 14
    c.save()
    return path


def build_pack(root: Path) -> Path:
    pack = root / "pack"
    (pack / "Board").mkdir(parents=True)
    (pack / "Risk").mkdir()
    minutes = _pdf(
        pack / "Board" / "2025-05-29 Board minutes.pdf",
        ["BoD 25/041 Welcome and apologies", "The Chair welcomed members. Apologies were noted.", "Present: the Chair."],
    )
    (pack / "Board" / "Copy of 2025-05-29 Board minutes.pdf").write_bytes(minutes.read_bytes())
    (pack / "Risk" / "Corporate risk register.csv").write_bytes(
        "Risk ref,Risk title,Owner,Current score\r\nCRR 1,Cyber security \x96 ransomware,Chief Digital Officer,16\r\n".encode("latin-1")
    )
    (pack / "ftsu.md").write_text(f"# FTSU update\n\n{SHARED}\n", encoding="utf-8")
    (pack / "Board" / "empty.docx").write_bytes(b"")
    (pack / "Board" / "broken.docx").write_bytes(b"PK\x03\x04 this is not really a word file")
    (pack / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    with zipfile.ZipFile(pack / "Committees.zip", "w") as zf:
        zf.writestr("Quality/2025-06 quality committee.txt", f"Quality committee chair's report\n\n{SHARED}\n")
        zf.writestr("Board/minutes again.pdf", minutes.read_bytes())
        zf.writestr("../outside.txt", "traversal")
    return pack


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("pack")
    pack = build_pack(root)
    out = root / "out"
    ticks: list[tuple[str, int, int]] = []
    result = ingest_pack(pack, out, workers=2, progress=lambda r, done, total: ticks.append((r.status, done, total)))
    return pack, out, result, ticks


def test_every_input_in_manifest(ingested):
    pack, out, result, _ = ingested
    rows = json.loads((out / "manifest.json").read_text())
    by_path = {r["path"]: r for r in rows}
    assert len(rows) == len(result.results) == 11
    expected = {
        "Board/2025-05-29 Board minutes.pdf": "ingested",
        "Board/Copy of 2025-05-29 Board minutes.pdf": "duplicate",
        "Board/empty.docx": "failed",
        "Board/broken.docx": "failed",
        "Committees.zip": "skipped",
        "Committees.zip/Quality/2025-06 quality committee.txt": "ingested",
        "Committees.zip/Board/minutes again.pdf": "duplicate",
        "Committees.zip/../outside.txt": "failed",
        "Risk/Corporate risk register.csv": "ingested",
        "ftsu.md": "ingested",
        "logo.png": "skipped",
    }
    for path, status in expected.items():
        assert by_path[path]["status"] == status, (path, by_path[path])
    assert by_path["Board/empty.docx"]["reason"] == "empty file (0 bytes)"
    assert "corrupt" in by_path["Board/broken.docx"]["reason"]
    assert "path traversal" in by_path["Committees.zip/../outside.txt"]["reason"]
    assert by_path["Committees.zip/Board/minutes again.pdf"]["reason"] == "same content as Board/2025-05-29 Board minutes.pdf"
    minutes = by_path["Board/2025-05-29 Board minutes.pdf"]
    assert minutes["doc_type"] == "board_minutes" and minutes["pages"] == 1 and minutes["passages"] >= 1
    assert minutes["format"] == "pdf" and len(minutes["document_id"]) == 64
    assert all(r["reason"] for r in rows if r["status"] != "ingested")


def test_manifest_csv_matches_json(ingested):
    _, out, _, _ = ingested
    with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == MANIFEST_FIELDS
        csv_rows = list(reader)
    json_rows = json.loads((out / "manifest.json").read_text())
    assert [(r["path"], r["status"]) for r in csv_rows] == [(r["path"], r["status"]) for r in json_rows]


def test_passages_jsonl_provenance(ingested):
    _, out, result, _ = ingested
    lines = (out / "passages.jsonl").read_text(encoding="utf-8").splitlines()
    passages = [Passage.from_dict(json.loads(line)) for line in lines]
    assert len(passages) == result.summary()["passages"]
    assert len({p.passage_id for p in passages}) == len(passages)
    docs = {d.document_id: d for d in result.documents}
    for p in passages:
        assert docs[p.document_id].text[p.char_start : p.char_end] == p.text
        assert p.passage_id.startswith(p.document_id[:12] + "-")
        assert p.source_path and p.doc_type
    risk = next(p for p in passages if p.source_path.endswith(".csv"))
    assert risk.text == "Risk ref: CRR 1 | Risk title: Cyber security \u2013 ransomware | Owner: Chief Digital Officer | Current score: 16"
    assert risk.row == 2 and risk.location == "A2:D2"
    documents = [json.loads(line) for line in (out / "documents.jsonl").read_text().splitlines()]
    assert len(documents) == result.count("ingested")
    assert "text" not in documents[0]


def test_duplicate_passages_across_documents(ingested):
    _, _, result, _ = ingested
    shared = [p for p in result.passages if p.text == SHARED]
    assert len(shared) == 2
    first, second = shared
    assert first.duplicate_of is None
    assert second.duplicate_of == first.passage_id
    assert first.document_id != second.document_id


def test_progress_ticks_once_per_input(ingested):
    _, _, result, ticks = ingested
    assert [d for _, d, _ in ticks] == list(range(1, len(result.results) + 1))
    assert {t for _, _, t in ticks} == {len(result.results)}


def test_staging_inside_out_dir(ingested):
    _, out, result, _ = ingested
    staged = [r.source.local_path for r in result.results if r.source.container]
    assert all(p is None or p.resolve().is_relative_to((out / "staging").resolve()) for p in staged)
    assert not (out.parent / "outside.txt").exists()


def test_rerun_into_same_out_dir_is_stable(ingested, tmp_path: Path):
    pack, out, result, _ = ingested
    again = ingest_pack(pack, tmp_path / "again", workers=1)
    assert [(r.source.path_in_pack, r.status) for r in again.results] == [
        (r.source.path_in_pack, r.status) for r in result.results
    ]
    assert [p.passage_id for p in again.passages] == [p.passage_id for p in result.passages]


def test_pack_path_missing(tmp_path: Path):
    from pipeline.errors import DocumentLoadError

    with pytest.raises(DocumentLoadError, match="pack not found"):
        discover_pack(tmp_path / "nope", tmp_path / "staging")


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """wellled (test app)."""

    register(app)
    return app


def test_cli_extract(tmp_path: Path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "ftsu.md").write_text(f"# FTSU update\n\n{SHARED}\n", encoding="utf-8")
    (pack / "empty.pdf").write_bytes(b"")
    out = tmp_path / "out"
    res = CliRunner().invoke(_app(), ["extract", str(pack), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "Passages" in res.output and "Failed files" in res.output and "empty file" in res.output
    rows = json.loads((out / "manifest.json").read_text())
    assert {r["path"]: r["status"] for r in rows} == {"empty.pdf": "failed", "ftsu.md": "ingested"}
    assert (out / "passages.jsonl").read_text().count("\n") == 1


def test_cli_missing_pack(tmp_path: Path):
    res = CliRunner().invoke(_app(), ["extract", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1


def test_cli_extract_refuses_an_output_folder_that_is_a_file_or_the_pack(tmp_path: Path):
    pack = build_pack(tmp_path / "pack")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    res = CliRunner().invoke(_app(), ["extract", str(pack), "--out", str(a_file)])
    assert res.exit_code == 1 and "is an existing file" in " ".join(res.output.split())
    assert a_file.read_text() == "keep me\n"
    before = sorted(p.name for p in pack.iterdir())
    res = CliRunner().invoke(_app(), ["extract", str(pack), "--out", str(pack)])
    assert res.exit_code == 1
    assert sorted(p.name for p in pack.iterdir()) == before  # nothing written into the pack


def test_issue_upload_markers_are_skipped(tmp_path: Path):
    pack = tmp_path / "2025-10-upload"
    pack.mkdir()
    _pdf(pack / "2025-09-25 Board minutes.pdf", ["TB 25/101 Minutes", "The Board approved the minutes of the last meeting."])
    (pack / "UPLOAD_COMPLETE").write_bytes(b"")
    (pack / ".complete").write_text("done\n")
    result = ingest_pack(pack, tmp_path / "out", workers=1)
    rows = {r.source.path_in_pack: (r.status, r.reason) for r in result.results}
    assert rows == {
        ".complete": ("skipped", "upload marker"),
        "2025-09-25 Board minutes.pdf": ("ingested", ""),
        "UPLOAD_COMPLETE": ("skipped", "upload marker"),
    }
    assert result.count("failed") == 0


def test_largest_file_is_read_first_and_results_keep_pack_order(tmp_path: Path):
    """One worker: files are read largest first, so a big file never starts last."""
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "a-short.txt").write_text("Action log: no open actions.\n")
    _pdf(pack / "b-board-papers.pdf", [f"TB 25/{n:03d} The Board received the quality report." for n in range(120)])
    (pack / "c-middle.csv").write_text("Risk ID,Description\n" + "".join(f"R{n},Staffing gap on ward {n}\n" for n in range(40)))
    sizes = {p.name: p.stat().st_size for p in pack.iterdir()}
    assert sizes["b-board-papers.pdf"] > sizes["c-middle.csv"] > sizes["a-short.txt"]
    order: list[str] = []
    result = ingest_pack(pack, tmp_path / "out", workers=1, progress=lambda r, d, t: order.append(r.source.path_in_pack))
    assert order == ["b-board-papers.pdf", "c-middle.csv", "a-short.txt"]
    assert [r.source.path_in_pack for r in result.results] == ["a-short.txt", "b-board-papers.pdf", "c-middle.csv"]
    assert result.count("ingested") == 3


def test_workers_hand_over_inside_the_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every hand-over file is made in <out>/.work, and a killed run's leftovers there are cleared."""
    import tempfile

    real_mkstemp = tempfile.mkstemp
    made: list[Path] = []

    def recording_mkstemp(*args, **kwargs):  # the real mkstemp; only where it wrote is recorded
        fd, path = real_mkstemp(*args, **kwargs)
        made.append(Path(path))
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    pack = tmp_path / "pack"
    pack.mkdir()
    _pdf(pack / "minutes.pdf", ["TB 25/090 The Board noted the guardian's report."])
    (pack / "log.csv").write_text("Action,Owner\nReview FTSU policy,DoW\n")
    out = tmp_path / "out"
    stale = out / ".work" / "wellled-ingest-left-by-a-killed-run.pkl"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    result = ingest_pack(pack, out, workers=2)
    assert result.count("ingested") == 2
    handovers = [p for p in made if p.name.startswith("wellled-ingest-")]
    assert len(handovers) == 2, made  # one per file read
    assert {p.parent for p in handovers} == {out / ".work"}
    assert not (out / ".work").exists()  # cleared: this run's files and the killed run's

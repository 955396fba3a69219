"""Safe zip unpacking: traversal, absolute paths, bombs, limits, nesting."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest

from pipeline.ingest import discover_pack, run_file
from pipeline.ingest.archive import safe_file_name
from pipeline.limits import Limits

MINUTES = b"The Board noted the report on the freedom to speak up guardian's work and thanked the team.\n"


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def _by_path(files):
    return {f.path_in_pack: f for f in files}


def test_traversal_and_absolute_entries_refused(tmp_path: Path):
    pack = _zip(
        tmp_path / "pack.zip",
        [
            ("Board/2025/minutes.txt", MINUTES),
            ("../../evil.txt", b"escape attempt"),
            ("/etc/cron.d/evil", b"absolute path"),
            ("C:\\Windows\\evil.txt", b"drive letter"),
            ("Board/../../../sneaky.txt", b"nested escape"),
        ],
    )
    staging = tmp_path / "out" / "staging"
    files = _by_path(discover_pack(pack, staging))
    assert files["pack.zip"].is_archive and files["pack.zip"].status == "skipped"
    assert files["pack.zip"].reason == "zip archive: 1 of 5 entries unpacked (listed separately)"
    good = files["pack.zip/Board/2025/minutes.txt"]  # nested folders kept in the name
    assert good.status is None and good.local_path.read_bytes() == MINUTES
    assert good.container == "pack.zip"
    assert "path traversal" in files["pack.zip/../../evil.txt"].reason
    assert "path traversal" in files["pack.zip/Board/../../../sneaky.txt"].reason
    assert "absolute path" in files["pack.zip//etc/cron.d/evil"].reason
    assert "absolute path" in files["pack.zip/C:/Windows/evil.txt"].reason
    for f in files.values():
        if f.local_path is not None and f.path_in_pack != "pack.zip":
            assert f.local_path.resolve().is_relative_to(staging.resolve())
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert not written & {"evil.txt", "evil", "sneaky.txt"}
    assert not Path("/etc/cron.d/evil").exists()


def test_zip_bomb_refused_by_ratio(tmp_path: Path):
    pack = _zip(tmp_path / "bomb.zip", [("report.txt", MINUTES), ("zeros.txt", b"\0" * (30 << 20))])
    files = _by_path(discover_pack(pack, tmp_path / "staging"))
    bomb = files["bomb.zip/zeros.txt"]
    assert bomb.status == "failed" and "max_zip_ratio" in bomb.reason and "zip bomb" in bomb.reason
    assert bomb.local_path is None
    assert files["bomb.zip/report.txt"].status is None
    assert not any(p.stat().st_size > 1 << 20 for p in (tmp_path / "staging").rglob("*") if p.is_file())


def test_total_expanded_size_limit(tmp_path: Path):
    words = [w.encode() for w in "board quality risk assurance committee staff patients care safety report".split()]
    rng = random.Random(0)
    blobs = [(f"paper{i}.txt", b" ".join(rng.choice(words) for _ in range(60_000))) for i in range(5)]
    pack = _zip(tmp_path / "big.zip", blobs)
    assert pack.stat().st_size < 1_000_000 < sum(len(b) for _, b in blobs)
    files = discover_pack(pack, tmp_path / "staging", Limits(max_zip_total_bytes=1_000_000))
    statuses = [(f.path_in_pack, f.status) for f in files[1:]]
    assert statuses[:2] == [("big.zip/paper0.txt", None), ("big.zip/paper1.txt", None)]
    assert all(s == "failed" for _, s in statuses[2:])
    assert "max_zip_total_bytes" in files[3].reason


def test_entry_count_limit_summarised(tmp_path: Path):
    pack = _zip(tmp_path / "many.zip", [(f"f{i:03d}.txt", MINUTES) for i in range(30)])
    files = discover_pack(pack, tmp_path / "staging", Limits(max_zip_entries=10))
    assert len(files) == 1 + 10 + 1
    last = files[-1]
    assert last.path_in_pack == "many.zip/<20 more entries>"
    assert last.status == "failed" and "max_zip_entries" in last.reason


def test_nesting_depth(tmp_path: Path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("deep.txt", MINUTES)
    middle = io.BytesIO()
    with zipfile.ZipFile(middle, "w") as zf:
        zf.writestr("inner.zip", inner.getvalue())
        zf.writestr("Committees/quality.txt", MINUTES + b"quality")
    pack = _zip(tmp_path / "outer.zip", [("middle.zip", middle.getvalue())])
    files = _by_path(discover_pack(pack, tmp_path / "staging", Limits(max_zip_depth=2)))
    assert files["outer.zip/middle.zip"].is_archive and files["outer.zip/middle.zip"].status == "skipped"
    assert files["outer.zip/middle.zip/Committees/quality.txt"].status is None
    too_deep = files["outer.zip/middle.zip/inner.zip"]
    assert too_deep.status == "failed" and "max_zip_depth" in too_deep.reason
    assert "outer.zip/middle.zip/inner.zip/deep.txt" not in files
    files = _by_path(discover_pack(pack, tmp_path / "staging2", Limits(max_zip_depth=3)))
    assert files["outer.zip/middle.zip/inner.zip/deep.txt"].status is None


def test_symlinks_encrypted_and_system_entries(tmp_path: Path):
    link = zipfile.ZipInfo("link-to-passwd")
    link.external_attr = 0o120777 << 16
    pack = _zip(
        tmp_path / "misc.zip",
        [(link, b"/etc/passwd"), ("secret.pdf", b"not really encrypted"), ("__MACOSX/._minutes.txt", b"x"), (".DS_Store", b"x"),
         ("empty.txt", b"")],
    )  # fmt: skip
    _set_encrypted_flag(pack, b"secret.pdf")
    files = _by_path(discover_pack(pack, tmp_path / "staging"))
    assert "symbolic link" in files["misc.zip/link-to-passwd"].reason
    assert files["misc.zip/secret.pdf"].reason == "encrypted zip entry (password required)"
    assert files["misc.zip/__MACOSX/._minutes.txt"].status == "skipped"
    assert files["misc.zip/.DS_Store"].status == "skipped"
    assert files["misc.zip/empty.txt"].reason == "empty file (0 bytes)"


def _set_encrypted_flag(path: Path, name: bytes) -> None:
    """Set the 'encrypted' bit of one member in both its local and central headers."""
    data = bytearray(path.read_bytes())
    for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        pos = data.find(sig)
        while pos >= 0:
            if data[pos + name_at : pos + name_at + len(name)] == name:
                data[pos + flag_at] |= 0x1
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))


def test_corrupt_zip(tmp_path: Path):
    good = _zip(tmp_path / "good.zip", [("a.txt", MINUTES * 50)])
    bad = tmp_path / "bad.zip"
    bad.write_bytes(good.read_bytes()[:-30])  # central directory cut off
    (f,) = discover_pack(bad, tmp_path / "staging")
    res = run_file(f)
    assert res.status == "failed" and "corrupt zip" in res.reason


def test_folder_pack_with_zip_and_links(tmp_path: Path):
    pack = tmp_path / "pack"
    (pack / "Board").mkdir(parents=True)
    (pack / "Board" / "minutes.txt").write_bytes(MINUTES)
    (pack / ".git").mkdir()
    (pack / ".git" / "config").write_text("x")
    _zip(pack / "Board" / "papers.zip", [("Finance/report.txt", MINUTES + b"finance")])
    (pack / "outside-link.txt").symlink_to(tmp_path / "elsewhere.txt")
    files = _by_path(discover_pack(pack, tmp_path / "out" / "staging"))
    assert files["Board/minutes.txt"].status is None
    assert files["Board/papers.zip/Finance/report.txt"].status is None
    assert files[".git/"].status == "skipped"
    assert files["outside-link.txt"].status == "skipped" and "symbolic link" in files["outside-link.txt"].reason


@pytest.mark.parametrize(
    ("name", "safe"),
    [("../../etc/passwd", "passwd"), ("Board/Minutes: 27/3?.PDF", "3_.PDF"), ("", "file"), ("a" * 300 + ".docx", "a" * 95 + ".docx")],
)
def test_safe_file_name(name: str, safe: str):
    assert safe_file_name(name) == safe

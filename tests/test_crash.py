"""Kill a run at any point, start it again: it completes, nothing lost or repeated (issue 9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_flows import write_pack

WELLLED = str(Path(sys.executable).parent / "wellled")


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env.pop("PREFECT_API_URL", None)
    (tmp_path / "system-tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp_path / "system-tmp")  # what a run writes to the system temp folder lands here
    return env


def _kill_when(cmd: list[str], env: dict[str, str], ready, timeout: float = 300) -> bool:
    """Start cmd, SIGKILL its whole process group as soon as ready() is true; True if it was killed."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False  # finished before the kill point
            if ready():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return True
            time.sleep(0.05)
        raise AssertionError("the kill point was never reached")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _check_complete(out: Path, pack: Path) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    paths = [r["path"] for r in manifest]
    assert sorted(paths) == sorted(p.name for p in pack.iterdir()), "every input exactly once"
    assert len(paths) == len(set(paths))
    ids = [json.loads(line)["passage_id"] for line in (out / "passages.jsonl").open()]
    assert len(ids) == len(set(ids)), "no passage written twice"
    tagged = [json.loads(line)["id"] for line in (out / "tags.jsonl").open()]
    assert tagged == ids
    assert (out / "report.html").read_text().rstrip().endswith("</html>")
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [], f"half-written files left behind: {leftovers}"
    assert not (out / ".work").exists(), "the file workers' hand-over files are cleared"


@pytest.mark.slow
@pytest.mark.parametrize("kill_point", ["extracting", "classifying"])
def test_review_killed_and_restarted_completes(tmp_path, kill_point):
    pack = write_pack(tmp_path / "pack")
    out = tmp_path / "out"
    env = _env(tmp_path)
    cmd = [WELLLED, "review", str(pack), "--out", str(out)]
    if kill_point == "extracting":
        ready = lambda: (out / ".cache").exists()  # noqa: E731 - the first file's task has started
    else:
        ready = lambda: (out / "passages.jsonl").exists() and not (out / "coverage.csv").exists()  # noqa: E731
    _kill_when(cmd, env, ready)
    assert not (out / "report.html").exists() or kill_point == "classifying"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_complete(out, pack)
    # the killed run's workers handed results over inside the output folder, not the system temp folder
    assert list((tmp_path / "system-tmp").glob("wellled-ingest-*")) == []


@pytest.mark.slow
def test_watch_killed_mid_review_picks_the_upload_up_again(tmp_path):
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    upload = write_pack(inbox / "trust-a" / "upload-1")
    (upload / "UPLOAD_COMPLETE").touch()
    env = _env(tmp_path)
    cmd = [WELLLED, "watch", str(inbox), "--outbox", str(outbox), "--once"]
    ledger = outbox / ".wellled-uploads.json"

    def running() -> bool:
        try:
            return json.loads(ledger.read_text())["trust-a/upload-1"]["status"] == "running"
        except (OSError, ValueError, KeyError):
            return False

    assert _kill_when(cmd, env, running)
    assert json.loads(ledger.read_text())["trust-a/upload-1"]["status"] == "running"
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(ledger.read_text())["trust-a/upload-1"]["status"] == "done"
    _check_complete(outbox / "trust-a" / "upload-1", upload)
    # and a third cycle does not review it again
    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert '"skipped": [\n  "trust-a/upload-1"' in third.stderr or "trust-a/upload-1" in third.stderr
    assert json.loads(ledger.read_text())["trust-a/upload-1"]["status"] == "done"

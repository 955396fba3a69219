"""Prefect flows under prefect_test_harness: review_pack, watch_uploads, retrain, Dask."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from flows import settings  # noqa: F401
from prefect.testing.utilities import prefect_test_harness

MINUTES = """TB 25/101 Freedom to Speak Up Guardian report
The Guardian reported 38 concerns raised in the quarter, most about behaviours and
incivility; two colleagues reported detriment after speaking up. The Board asked the
Chief People Officer to review both cases and report back in November.

TB 25/102 Board Assurance Framework
The Board reviewed the BAF. The score of the workforce risk remains 16; the Audit and Risk
Committee could take only partial assurance on the controls for medical vacancies.

TB 25/103 Any other business
There was no other business. The meeting closed at 13:05.
"""
RISKS = [
    ["Risk ID", "Risk description", "Controls", "Gaps in control", "Executive owner", "Current score"],
    ["CR101", "Insufficient registered nurses on medical wards leading to harm", "Daily staffing huddles; "
     "e-rostering", "Vacancy rate above 12%", "Chief Nurse", "16"],
    ["CR102", "Cyber attack disrupts the electronic patient record", "DSPT standards met; backups", "Legacy "
     "servers unsupported", "Chief Digital Officer", "15"],
]


def write_pack(folder: Path) -> Path:
    from docx import Document

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Board minutes 2025-09.txt").write_text(MINUTES, encoding="utf-8")
    with (folder / "Corporate risk register.csv").open("w", encoding="cp1252", newline="") as fh:
        csv.writer(fh).writerows(RISKS)
    doc = Document()
    doc.add_heading("Green Plan progress report", 1)
    doc.add_paragraph("The trust cut carbon emissions from its estate by 9% this year, moved a third of the "
                      "fleet to electric vehicles and stopped using desflurane in theatres, on the path to "
                      "net zero by 2040. The Sustainability Committee reports progress to the Board quarterly.")
    doc.save(str(folder / "Green Plan report.docx"))
    (folder / "Broken paper.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(3000))
    return folder


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=180):
        yield


def _run(pack: Path, out: Path, model, **kw):
    from flows.review import review_pack

    return review_pack(pack=str(pack), out=str(out), model_dir=str(model.path), **kw)


def test_review_pack_writes_every_output_and_lists_failed_file(harness, small_model, tmp_path):
    pack = write_pack(tmp_path / "pack")
    out = tmp_path / "out"
    summary = _run(pack, out, small_model, pack_name="Test trust")
    from pipeline.review import OUTPUT_FILES

    for name in (*OUTPUT_FILES, "manifest.json", "manifest.csv", "passages.jsonl", "tags.jsonl", "run.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(r["path"] for r in manifest) == sorted(p.name for p in pack.iterdir())
    bad = next(r for r in manifest if r["path"] == "Broken paper.pdf")
    assert bad["status"] == "failed" and bad["reason"]
    assert [f["path"] for f in summary["failed"]] == ["Broken paper.pdf"]
    assert summary["task_states"]["Broken paper.pdf"] == "Failed"
    assert "Broken paper.pdf" in (out / "report.html").read_text()
    coverage = {r["id"]: r for r in csv.DictReader((out / "coverage.csv").open())}
    assert coverage["freedom-to-speak-up"]["status"] != "absent"
    assert coverage["environmental-sustainability"]["status"] != "absent"
    assert coverage["workforce-edi"]["status"] == "absent"
    # nothing written outside the output folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "pack"]


def test_rerun_is_cached_and_a_changed_file_is_read_alone(harness, small_model, tmp_path):
    pack = write_pack(tmp_path / "pack")
    out = tmp_path / "out"
    first = _run(pack, out, small_model)
    # four small files on two lanes: every file has a task of its own (at least two tasks per lane)
    assert all(len(t["files"]) == 1 for t in first["extract_tasks"]), first["extract_tasks"]
    assert set(first["task_states"].values()) <= {"Completed", "Failed"}
    second = _run(pack, out, small_model)
    states = second["task_states"]
    readable = {k: v for k, v in states.items() if k != "Broken paper.pdf"}
    assert set(readable.values()) == {"Cached"}, states
    assert {t["task"]: t["state"] for t in second["extract_tasks"]} == {
        "Board minutes 2025-09.txt": "Cached", "Corporate risk register.csv": "Cached",
        "Green Plan report.docx": "Cached", "Broken paper.pdf": "Failed"}  # a failed file is never cached
    time.sleep(0.01)
    (pack / "Board minutes 2025-09.txt").write_text(MINUTES + "\nTB 25/104 Date of next meeting: 27 November.\n")
    third = _run(pack, out, small_model)["task_states"]
    assert third["Board minutes 2025-09.txt"] == "Completed"
    assert third["Corporate risk register.csv"] == "Cached"
    assert third["Green Plan report.docx"] == "Cached"


BATCHED = {"tasks_per_lane": 1}  # two lanes, one batch each: the four small files go two to a task


def _by_file(summary: dict) -> dict[str, dict]:
    return {f: t for t in summary["extract_tasks"] for f in t["files"]}


def test_batched_files_fail_alone_and_a_changed_file_is_read_alone(harness, small_model, tmp_path):
    pack = write_pack(tmp_path / "pack")
    out = tmp_path / "out"
    first = _run(pack, out, small_model, batching=BATCHED)
    tasks = first["extract_tasks"]
    assert sorted(len(t["files"]) for t in tasks) == [2, 2], tasks
    # the unreadable file fails alone: its batch ends Failed, the other file in that batch is read
    broken = _by_file(first)["Broken paper.pdf"]
    assert broken["state"] == "Failed"
    (mate,) = [f for f in broken["files"] if f != "Broken paper.pdf"]
    assert first["task_states"] == {p.name: ("Failed" if p.name == "Broken paper.pdf" else "Completed")
                                    for p in pack.iterdir()}
    manifest = {r["path"]: r for r in json.loads((out / "manifest.json").read_text())}
    assert manifest["Broken paper.pdf"]["status"] == "failed" and manifest[mate]["status"] == "ingested"
    assert [f["path"] for f in first["failed"]] == ["Broken paper.pdf"]
    # cache: the good batch's record plus one record per readable file; no record for the failed batch; each
    # key record is small metadata naming the raw pickle serializer, the result beside it in .cache
    keys = sorted((out / ".cache-keys").iterdir())
    assert len(keys) == 4 and sum(k.name.startswith("batch-") for k in keys) == 1, [k.name for k in keys]
    assert all(b"wellled/raw-pickle" in k.read_bytes() and k.stat().st_size < 2000 for k in keys)

    # unchanged: the good batch is Cached; the batch with the failed file runs again (failures are not
    # cached) but takes its other file from that file's own record: only the broken file is read again
    second = _run(pack, out, small_model, batching=BATCHED)
    assert {t["state"] for t in second["extract_tasks"]} == {"Cached", "Failed"}
    assert [t["read"] for t in second["extract_tasks"] if t["state"] != "Cached"] == [["Broken paper.pdf"]]
    assert {k: v for k, v in second["task_states"].items() if k != "Broken paper.pdf"} == {
        "Board minutes 2025-09.txt": "Cached", "Corporate risk register.csv": "Cached",
        "Green Plan report.docx": "Cached"}

    # one file changes: its batch runs again and reads that file alone; its batch mate comes from its record
    with (pack / "Corporate risk register.csv").open("a", encoding="cp1252", newline="") as fh:
        csv.writer(fh).writerow(["CR103", "Estates backlog maintenance", "Capital plan", "Funding", "Director of "
                                 "Estates", "12"])
    third = _run(pack, out, small_model, batching=BATCHED)
    changed = _by_file(third)["Corporate risk register.csv"]
    assert len(changed["files"]) == 2 and changed["state"] == "Completed"
    assert changed["read"] == ["Corporate risk register.csv"], changed
    reads = [f for t in third["extract_tasks"] for f in t["read"]]
    assert sorted(reads) == ["Broken paper.pdf", "Corporate risk register.csv"], third["extract_tasks"]
    assert third["task_states"]["Corporate risk register.csv"] == "Completed"
    assert third["task_states"]["Green Plan report.docx"] == "Cached"
    assert third["task_states"]["Board minutes 2025-09.txt"] == "Cached"
    rows = [json.loads(line) for line in (out / "passages.jsonl").open()]
    assert any("CR103" in r["text"] for r in rows)


def test_plan_batches_keeps_large_files_alone_and_balances_small_ones():
    from flows.review import Batching, plan_batches
    from pipeline.ingest import SourceFile

    kb = 1024
    sizes = {"big-a.pdf": 900 * kb, "big-b.pdf": 600 * kb, **{f"small-{i:02d}.pdf": (20 + 10 * i) * kb
                                                             for i in range(11)}}
    files = [SourceFile(path, None, sha256=path, size=size) for path, size in sizes.items()]
    groups = plan_batches(files, lanes=2)
    assert sorted(p.path_in_pack for g in groups for p in g) == sorted(sizes), "every file exactly once"
    assert [g for g in groups if any(p.path_in_pack.startswith("big") for p in g)] == [
        [files[0]], [files[1]]], "large files keep a task each, heaviest first"
    small = [g for g in groups if g[0].path_in_pack.startswith("small")]
    assert len(small) == 4 and all(2 <= len(g) <= 3 for g in small), [len(g) for g in small]
    weight = [sum(p.size + 64 * kb for p in g) for g in groups]
    assert weight == sorted(weight, reverse=True), "heaviest task first"
    assert max(weight[2:]) - min(weight[2:]) <= 130 * kb, "small batches weigh about the same"
    # batch_files caps a batch; 1 turns batching off
    assert max(len(g) for g in plan_batches(files, lanes=1, batching=Batching(batch_files=2))) == 2
    assert all(len(g) == 1 for g in plan_batches(files, lanes=2, batching=Batching(batch_files=1)))
    with pytest.raises(ValueError, match="batch_files"):
        Batching(batch_files=0)


def test_extract_files_returns_every_result_and_fails_only_for_bad_files(tmp_path):
    from flows.review import ExtractBatch, code_version, extract_files
    from pipeline.ingest import discover_pack
    from pipeline.limits import Limits

    pack = write_pack(tmp_path / "pack")
    files = sorted(discover_pack(pack, tmp_path / "staging", Limits()), key=lambda s: s.path_in_pack)
    ok = [sf for sf in files if sf.path_in_pack != "Broken paper.pdf"]
    good = extract_files.fn(ok, Limits(), code_version(), "good")
    assert isinstance(good, ExtractBatch) and [r.status for r in good.results] == ["ingested"] * 3
    assert sorted(good.read) == sorted(sf.path_in_pack for sf in ok)
    state = extract_files.fn(files, Limits(), code_version(), "all")
    assert state.is_failed() and "Broken paper.pdf" in state.message and "1 of 4" in state.message
    batch = state.result(raise_on_failure=False)
    assert {r.source.path_in_pack: r.status for r in batch.results} == {
        "Board minutes 2025-09.txt": "ingested", "Broken paper.pdf": "failed",
        "Corporate risk register.csv": "ingested", "Green Plan report.docx": "ingested"}


def test_watch_uploads_waits_for_complete_uploads_and_never_repeats(harness, small_model, tmp_path):
    from flows.watch import watch_uploads
    from pipeline.uploads import Ledger, find_uploads

    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    write_pack(inbox / "trust-a" / "2025-10-upload")
    (inbox / "trust-a" / "2025-10-upload" / "UPLOAD_COMPLETE").touch()
    partial = write_pack(inbox / "trust-b" / "2025-10-upload")
    (partial / "Annual report.pdf.part").write_bytes(b"%PDF-1.7 half written")
    kw = dict(inbox=str(inbox), outbox=str(outbox), settle_seconds=3600, model_dir=str(small_model.path))

    first = watch_uploads(**kw)
    assert first["reviewed"] == ["trust-a/2025-10-upload"]
    assert [w["upload"] for w in first["waiting"]] == ["trust-b/2025-10-upload"]
    assert (outbox / "trust-a" / "2025-10-upload" / "report.html").is_file()
    assert not (outbox / "trust-b").exists()

    second = watch_uploads(**kw)
    assert second["reviewed"] == [] and second["skipped"] == ["trust-a/2025-10-upload"]

    # the upload finishes: the partial file is renamed and the marker written
    (partial / "Annual report.pdf.part").rename(partial / "Annual report.txt")
    (partial / "UPLOAD_COMPLETE").touch()
    third = watch_uploads(**kw)
    assert third["reviewed"] == ["trust-b/2025-10-upload"]

    # a crash mid-review leaves the ledger entry 'running': the next cycle picks it up again
    ledger = Ledger(outbox)
    up = next(u for u in find_uploads(inbox, settle_seconds=3600) if u.trust == "trust-a")
    ledger.mark(up, "running")
    shutil.rmtree(outbox / "trust-a" / "2025-10-upload")
    fourth = watch_uploads(**kw)
    assert fourth["reviewed"] == ["trust-a/2025-10-upload"]
    assert (outbox / "trust-a" / "2025-10-upload" / "report.html").is_file()
    assert Ledger(outbox).entries["trust-a/2025-10-upload"]["status"] == "done"


def test_uploads_settle_by_time_without_a_marker(tmp_path):
    from pipeline.uploads import find_uploads

    up = write_pack(tmp_path / "inbox" / "trust-c" / "u1")
    now = time.time()
    assert not find_uploads(tmp_path / "inbox", settle_seconds=60, now=now)[0].complete
    later = find_uploads(tmp_path / "inbox", settle_seconds=60, now=now + 120)[0]
    assert later.complete and "unchanged" in later.reason
    (up / "new.txt").write_text("changed")
    changed = find_uploads(tmp_path / "inbox", settle_seconds=60, now=now + 120)[0]
    assert changed.fingerprint != later.fingerprint


def test_retrain_promotes_only_when_not_worse(harness, corpus, tmp_path):
    from flows.retrain import retrain
    from pipeline.corpus import make_split

    subset = [p for i, p in enumerate(corpus) if i % 6 == 0]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in subset))
    split = tmp_path / "split.json"
    split.write_text(json.dumps(make_split(subset, test_fraction=0.25)))
    models = tmp_path / "models"
    models.mkdir()
    first = retrain(labels=[], corpus=str(labels), models_dir=str(models), split_file=str(split))
    assert first["promoted"] and (models / "DEFAULT").read_text().strip() == "wellled-tagger-1.0"
    # the same data and seed again: not worse (equal), so promoted, as the next version
    second = retrain(labels=[], corpus=str(labels), models_dir=str(models), split_file=str(split))
    assert second["version"] == "1.1" and second["new"] == first["new"] and second["promoted"]
    # new labels that contradict the corpus make a worse model on the fixed test split:
    # it is written but not promoted
    flipped = tmp_path / "flipped.jsonl"
    rows = []
    for p in subset:
        d = p.to_dict()
        d["id"], d["source"] = "flip-" + d["id"], "inspector-run/" + d["source"]
        if d["kloe"]:
            d["kloe"], d["qs"], d["evidence"] = [], [], []
        else:
            d["kloe"], d["qs"] = ["W1"], ["workforce-edi"]
        rows.append(json.dumps(d))
    flipped.write_text("\n".join(rows) + "\n")
    third = retrain(labels=[str(flipped)], corpus=str(labels), models_dir=str(models), split_file=str(split))
    assert third["new_labels"] == len(subset)
    assert not third["promoted"] and (models / "wellled-tagger-1.2" / "model.skops").is_file()
    assert (models / "DEFAULT").read_text().strip() == "wellled-tagger-1.1"
    forced = retrain(labels=[str(flipped)], corpus=str(labels), models_dir=str(models), split_file=str(split),
                     force=True)
    assert forced["promoted"] and (models / "DEFAULT").read_text().strip() == "wellled-tagger-1.3"
    assert "| kloe |" in third["markdown"]


def test_review_on_a_dask_cluster_matches_the_default_runner(harness, small_model, tmp_path):
    from flows.review import make_task_runner, review_pack

    pack = write_pack(tmp_path / "pack")
    _run(pack, tmp_path / "local", small_model)
    flow = review_pack.with_options(task_runner=make_task_runner(workers=2))  # LocalCluster of two processes
    kw = dict(pack=str(pack), out=str(tmp_path / "dask"), model_dir=str(small_model.path), batching=BATCHED)
    first = flow(**kw)
    for name in ("coverage.csv", "coverage_prompts.csv", "request_list.csv", "passages.jsonl", "tags.jsonl"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "dask" / name).read_text(), name
    # two lanes (Dask worker threads), one batch each; on the cluster too a re-run is served from the cache
    assert sorted(len(t["files"]) for t in first["extract_tasks"]) == [2, 2]
    second = flow(**kw)
    assert {k: v for k, v in second["task_states"].items() if k != "Broken paper.pdf"} == {
        "Board minutes 2025-09.txt": "Cached", "Corporate risk register.csv": "Cached",
        "Green Plan report.docx": "Cached"}
    assert [t["read"] for t in second["extract_tasks"] if t["state"] != "Cached"] == [["Broken paper.pdf"]]


def _settings_in_fresh_process(env_extra: dict[str, str]) -> dict[str, str]:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(env_extra)
    code = ("import json, os; from flows import settings; "
            "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('PREFECT_')}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parent.parent))
    return json.loads(out.stdout)


def test_task_run_recording_is_off_only_on_the_temporary_server():
    key = "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED"
    assert _settings_in_fresh_process({})[key] == "false"  # ephemeral: one run's throwaway server
    served = _settings_in_fresh_process({"PREFECT_API_URL": "http://127.0.0.1:4200/api"})
    assert key not in served  # a real server records by its own settings
    assert _settings_in_fresh_process({key: "true"})[key] == "true"  # the user's value wins


def test_the_served_local_server_records_task_runs(tmp_path, monkeypatch):
    from flows import settings
    from flows.commands.watch import server_env

    key = "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED"
    monkeypatch.setitem(settings.APPLIED, key, "false")  # as apply() leaves it when no server is configured
    monkeypatch.setenv(key, "false")
    env = server_env(tmp_path / "home")
    assert key not in env and env["PREFECT_HOME"] == str(tmp_path / "home")
    monkeypatch.delitem(settings.APPLIED, key)  # the user's own value is kept
    assert server_env(tmp_path / "home")[key] == "false"

"""The label store: schema and migrations, decisions as events, verdicts, exports, workbook import.

Every store test runs against SQLite and against a real PostgreSQL server
(``WELLLED_TEST_PG_URL``, or a throwaway cluster started by
``scripts/start-test-postgres.sh`` for the session).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from pipeline.corpus import load_labelled
from pipeline.errors import CorpusError
from pipeline.labels import (
    PASSAGE_LABEL,
    SCHEMA_VERSION,
    LabelStore,
    PassageRef,
    default_db_url,
    make_engine,
    merge_verdicts,
    migrate,
    read_corrections,
    resolve_verdicts,
    schema_version,
    suggest_passages,
    uncertainty,
    write_jsonl,
)
from pipeline.outputs import EXCERPT_COLUMNS

REPO = Path(__file__).resolve().parent.parent
# argon2id with small cost parameters: the same algorithm as the product's default, fast enough for tests
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PG_SCRIPT = REPO / "scripts" / "start-test-postgres.sh"

P1 = PassageRef("trust-a", "p1", "The Board reviewed the corporate risk register and the BAF.", "board_minutes",
                "trust-a/Pack/Board minutes.pdf", "acute", ("W5", "governance-management-sustainability"))
P2 = PassageRef("trust-a", "p2", "The Freedom to Speak Up Guardian reported twelve concerns this quarter.",
                "committee_report", "trust-a/Pack/People committee.pdf", "acute", ("W3", "freedom-to-speak-up"))
P3 = PassageRef("trust-a", "p3", "Car parking charges for visitors were reviewed by the estates team.", "other",
                "trust-a/Pack/Estates.pdf", "acute", ("W6",))


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL URL: the environment's, or a cluster started for this session and stopped after it."""
    url = os.environ.get("WELLLED_TEST_PG_URL")
    if url:
        yield url
        return
    proc = subprocess.run(["bash", str(PG_SCRIPT)], capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        pytest.fail(f"could not start a test PostgreSQL (run `make system-deps`): {proc.stderr.strip()}")
    env = {}
    for line in proc.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0]
    try:
        yield env["WELLLED_TEST_PG_URL"]
    finally:
        subprocess.run(["bash", str(PG_SCRIPT), "stop", env["WELLLED_TEST_PG_DIR"]], timeout=60, check=False)


def _empty_pg(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """An empty label database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'labels.sqlite'}"
    url = request.getfixturevalue("pg_url")
    _empty_pg(url)
    return url


@pytest.fixture
def store(db_url, library):
    s = LabelStore(db_url, library=library, password_hasher=FAST_HASHER)
    yield s
    s.close()


# ------------------------------------------------------------------- schema
def test_migrate_creates_the_latest_schema_once(db_url):
    engine = make_engine(db_url)
    try:
        assert schema_version(engine) == 0
        assert migrate(engine) == SCHEMA_VERSION == 2
        assert migrate(engine) == 2  # idempotent
        with engine.connect() as conn:
            versions = [r[0] for r in conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version"))]
            columns = {c["name"] for c in sa.inspect(conn).get_columns("labels")}
        assert versions == [1, 2]
        assert {"run_id", "passage_id", "label", "action", "user_name", "created_at", "text", "doc_type", "source",
                "trust_type", "model_labels", "via", "comment"} <= columns
        with pytest.raises(ValueError, match="target must be between 0 and 2"):
            migrate(engine, target=3)
    finally:
        engine.dispose()


def test_migration_1_to_2_keeps_existing_labels(db_url, library):
    engine = make_engine(db_url)
    try:
        assert migrate(engine, target=1) == 1
        with engine.begin() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("labels")}
            assert "via" not in columns and "model_labels" not in columns
            conn.execute(sa.text(
                "INSERT INTO labels (run_id, passage_id, framework, label, action, user_name, created_at, text, "
                "doc_type, source) VALUES ('old-run', 'p9', 'kloe', 'W2', 'add', 'alice', "
                "'2025-01-02T03:04:05+00:00', 'The five-year strategy was approved.', 'strategy', 'old-run/s.pdf')"))
        assert schema_version(engine) == 1
    finally:
        engine.dispose()
    with LabelStore(db_url, library=library) as s:  # opening the store migrates to the latest version
        assert schema_version(s.engine) == 2
        (event,) = s.events("old-run")
        assert (event.label, event.action, event.user, event.via, event.trust_type, event.model_labels) == (
            "W2", "add", "alice", "app", "unknown", ())
        exported = s.export("old-run").training
        assert exported[0]["kloe"] == ["W2"] and exported[0]["trust_type"] == "unknown"


def test_sqlite_store_uses_wal_and_a_busy_timeout(tmp_path, library):
    with LabelStore(f"sqlite:///{tmp_path / 'x' / 'labels.sqlite'}", library=library) as s:
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_default_db_url_is_inside_the_runs_folder(tmp_path):
    assert default_db_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/.wellled/labels.sqlite"


# -------------------------------------------------------------------- users
def test_users_passwords_are_hashed_with_argon2(store):
    store.add_user("alice", "correct horse battery")
    with store.engine.connect() as conn:
        digest = conn.execute(sa.text("SELECT password_hash FROM users WHERE name = 'alice'")).scalar()
    assert digest.startswith("$argon2id$") and "correct horse" not in digest
    assert store.authenticate("alice", "correct horse battery")
    assert not store.authenticate("alice", "correct horse battery!")
    assert not store.authenticate("nobody", "correct horse battery")
    with pytest.raises(ValueError, match="already exists"):
        store.add_user("alice", "another password")
    with pytest.raises(ValueError, match="at least 8 characters"):
        store.add_user("bob", "short")
    with pytest.raises(ValueError, match="user name"):
        store.add_user("bob smith", "long enough password")
    store.add_user("alice", "a new password", replace_password=True)
    assert store.authenticate("alice", "a new password") and not store.authenticate("alice", "correct horse battery")
    assert store.users() == ["alice"]


# ------------------------------------------------------------------- events
def test_a_users_latest_decision_per_label_wins(store):
    store.record(P1, "alice", "reject", "W5")
    store.record(P1, "alice", "accept", "W5")
    store.record(P1, "alice", "add", "W4")
    store.record(P1, "alice", "reject", "governance-management-sustainability")
    v = store.verdicts("trust-a")["p1"]["alice"]
    assert v.labels == ("W5", "W4")
    assert v.decisions == {"W5": "accept", "W4": "add", "governance-management-sustainability": "reject"}
    store.record(P1, "alice", "clear", "W4")  # withdraw the addition
    assert store.verdicts("trust-a")["p1"]["alice"].labels == ("W5",)
    events = store.events("trust-a")
    assert [e.action for e in events] == ["reject", "accept", "add", "reject", "clear"]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all(e.user == "alice" and e.created_at.endswith("+00:00") for e in events)
    assert events[0].text == P1.text and events[0].model_labels == P1.model_labels and events[0].framework == "kloe"


def test_not_evidence_holds_until_a_later_label_decision(store):
    store.record(P2, "bob", "accept", "W3")
    store.record(P2, "bob", "not_evidence")
    v = store.verdicts("trust-a")["p2"]["bob"]
    assert v.not_evidence and v.labels == ()
    store.record(P2, "bob", "reject", "freedom-to-speak-up")  # a later label decision overrides the mark
    v = store.verdicts("trust-a")["p2"]["bob"]
    assert not v.not_evidence and v.labels == ("W3",)
    store.record(P2, "bob", "not_evidence")
    store.record(P2, "bob", "clear", PASSAGE_LABEL)  # and clearing the mark brings the labels back
    v = store.verdicts("trust-a")["p2"]["bob"]
    assert not v.not_evidence and v.labels == ("W3",)


def test_bad_decisions_are_refused(store):
    with pytest.raises(CorpusError, match="'W9' is not an area id"):
        store.record(P1, "alice", "accept", "W9")
    with pytest.raises(ValueError, match="action must be one of"):
        store.record(P1, "alice", "approve", "W5")
    with pytest.raises(ValueError, match="needs a label"):
        store.record(P1, "alice", "accept")
    with pytest.raises(ValueError, match="user must be a user name"):
        store.record(P1, "", "accept", "W5")
    assert store.events() == []


def test_record_many_keeps_order_and_one_timestamp(store):
    n = store.record_many([
        {"passage": P3, "user": "carol", "action": "reject", "label": "W6", "via": "xlsx:c.xlsx", "comment": "parking"},
        {"passage": P3, "user": "carol", "action": "not_evidence", "via": "xlsx:c.xlsx"},
    ])
    assert n == 2
    events = store.events("trust-a", user="carol")
    assert [e.action for e in events] == ["reject", "not_evidence"]
    assert events[0].created_at == events[1].created_at and events[0].via == "xlsx:c.xlsx"
    assert events[0].comment == "parking"
    assert store.decided("trust-a", "carol") == {"p3"} and store.decided("trust-a", "alice") == set()
    assert store.run_counts() == {"trust-a": {"events": 2, "passages": 1, "users": 1}}


# ----------------------------------------------------------- team agreement
def test_majority_wins_and_disagreements_are_reported(store):
    store.record(P1, "alice", "accept", "W5")
    store.record(P1, "bob", "accept", "W5")
    store.record(P1, "carol", "reject", "W5")
    store.record(P1, "carol", "add", "W4")
    export = store.export("trust-a")
    (record,) = export.training
    assert record["kloe"] == ["W5"] and record["qs"] == ["governance-management-sustainability"]
    conflicts = {c.label: c for c in export.conflicts}
    assert set(conflicts) == {"W5", "W4"}
    assert conflicts["W5"].for_users == ("alice", "bob") and conflicts["W5"].against_users == ("carol",)
    assert conflicts["W5"].kept and not conflicts["W4"].kept


def test_a_tie_goes_to_whoever_decided_last(store):
    store.record(P2, "alice", "reject", "W3")
    store.record(P2, "bob", "accept", "W3")
    labels, conflicts = merge_verdicts(store.verdicts("trust-a")["p2"])
    assert "W3" in labels and conflicts[0].kept
    store.record(P2, "alice", "reject", "W3")  # alice decides again, later than bob
    labels, _ = merge_verdicts(store.verdicts("trust-a")["p2"])
    assert "W3" not in labels


def test_exports_load_as_labelled_passages(store, library, tmp_path):
    store.record(P1, "alice", "reject", "W5")  # keeps the quality statement only
    store.record(P2, "alice", "add", "W8")  # adds to the model's two tags
    store.record(P3, "alice", "not_evidence")  # a negative
    export = store.export()
    assert [r["id"] for r in export.training] == ["trust-a/p1", "trust-a/p2", "trust-a/p3"]
    by_id = {r["id"]: r for r in export.training}
    assert by_id["trust-a/p1"] | {"kloe": [], "qs": ["governance-management-sustainability"]} == by_id["trust-a/p1"]
    assert by_id["trust-a/p2"]["kloe"] == ["W3", "W8"] and by_id["trust-a/p2"]["qs"] == ["freedom-to-speak-up"]
    assert by_id["trust-a/p3"]["kloe"] == [] and by_id["trust-a/p3"]["qs"] == []
    assert by_id["trust-a/p2"]["source"] == "trust-a/Pack/People committee.pdf"
    assert all(r["evidence"] == [] and r["trust_type"] == "acute" for r in export.training)

    ours = tmp_path / "ours.jsonl"
    prodigy = tmp_path / "prodigy.jsonl"
    assert write_jsonl(ours, export.training) == 3
    write_jsonl(prodigy, export.prodigy)
    a = {p.id: p for p in load_labelled([ours], library=library)}
    b = {p.id: p for p in load_labelled([prodigy], library=library)}
    assert set(a) == set(b) == set(by_id)
    for pid in a:
        assert (a[pid].kloe, a[pid].qs, a[pid].source, a[pid].doc_type) == (
            b[pid].kloe, b[pid].qs, b[pid].source, b[pid].doc_type)
    assert a["trust-a/p3"].is_negative
    lines = [json.loads(x) for x in prodigy.read_text().splitlines()]
    assert lines[2]["answer"] == "accept" and lines[2]["accept"] == [] and lines[2]["meta"]["not_evidence"]
    assert lines[0]["meta"]["annotators"] == ["alice"]


# --------------------------------------------------------------- concurrency
def test_two_users_labelling_one_passage_at_once_keep_every_label(db_url, library):
    """Two inspectors (two processes' worth of connections) decide on the same passage at the same time."""
    rounds = 60
    stores = [LabelStore(db_url, library=library), LabelStore(db_url, library=library)]
    plans = {
        "alice": [("accept" if i % 2 else "reject", "W5") for i in range(rounds)],
        "bob": [("reject" if i % 3 else "accept", "W5") if i % 4 else ("add", "W4") for i in range(rounds)],
    }
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(s: LabelStore, user: str) -> None:
        try:
            start.wait()
            for action, label in plans[user]:
                s.record(P1, user, action, label)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, u)) for s, u in zip(stores, plans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        events = stores[0].events("trust-a")
        assert len(events) == 2 * rounds
        for user, plan in plans.items():
            mine = [(e.action, e.label) for e in events if e.user == user]
            assert mine == plan, f"{user}'s events are all kept, in order"
        verdicts = stores[1].verdicts("trust-a")["p1"]
        assert verdicts["alice"].decisions["W5"] == plans["alice"][-1][0]
        assert verdicts["bob"].decisions == {"W5": "reject", "W4": "add"}
        users = {e.user for e in events}
        assert users == {"alice", "bob"}
    finally:
        for s in stores:
            s.close()


# ------------------------------------------------------------- workbook import
def _workbook(path: Path, rows: list[dict]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Excerpts"
    ws.append(EXCERPT_COLUMNS)
    for row in rows:
        ws.append([row.get(c, "") for c in EXCERPT_COLUMNS])
    wb.create_sheet("Areas")
    wb.save(path)
    return path


def test_read_corrections_from_the_excerpts_sheet(tmp_path, library, store):
    refs = {p.passage_id: p for p in (P1, P2, P3)}
    rows = [
        {"passage_id": "p1", "kloe": "W5 (0.81)", "qs": "governance-management-sustainability (0.77)",
         "correction_remove": "W5", "correction_add": "w4", "reviewer": "Dana Inspector", "comment": "BAF, not RR"},
        {"passage_id": "p2", "kloe": "W3 (0.66)", "qs": "freedom-to-speak-up (0.71)", "reviewer": "erin"},
        {"passage_id": "p3", "kloe": "W6 (0.52)", "not_evidence": "yes", "reviewer": "erin"},
        {"passage_id": "p1", "kloe": "W5 (0.81)", "text": "untouched row"},  # not reviewed: skipped silently
        {"passage_id": "p2", "correction_add": "W9", "reviewer": "erin"},
        {"passage_id": "p2", "correction_add": "W1", "correction_remove": "W1", "reviewer": "erin"},
        {"passage_id": "p3", "correction_add": "W2", "not_evidence": "x", "reviewer": "erin"},
        {"passage_id": "p404", "correction_add": "W2", "reviewer": "erin"},
        {"passage_id": "p2", "correction_add": "W2"},
        {"passage_id": "p2", "not_evidence": "maybe", "reviewer": "erin"},
    ]
    path = _workbook(tmp_path / "coverage.xlsx", rows)
    result = read_corrections(path, run_id="trust-a", passages=refs, library=library)
    assert result.rows_read == 10 and result.rows_used == 3
    assert len(result.problems) == 6
    joined = "\n".join(result.problems)
    for needle in ("row 6: W9 not an area id", "row 7: W1 both added and removed", "row 8: marked not evidence",
                   "row 9: passage 'p404' is not in run", "row 10: corrections without a reviewer",
                   "row 11: not_evidence must be yes or no"):
        assert needle in joined
    assert store.record_many(result.events) == len(result.events)
    verdicts = store.verdicts("trust-a")
    dana = verdicts["p1"]["Dana.Inspector"]
    assert dana.labels == ("governance-management-sustainability", "W4")
    assert verdicts["p2"]["erin"].decisions == {"W3": "accept", "freedom-to-speak-up": "accept"}
    assert verdicts["p3"]["erin"].not_evidence
    events = store.events("trust-a", user="Dana.Inspector")
    assert {e.via for e in events} == {"xlsx:coverage.xlsx"} and {e.comment for e in events} == {"BAF, not RR"}


def test_read_corrections_without_run_passages_uses_the_sheet(tmp_path, library):
    path = _workbook(tmp_path / "c.xlsx", [
        {"passage_id": "q1", "source_path": "Pack/a.pdf", "doc_type": "policy", "text": "Our FTSU policy.",
         "kloe": "W3 (0.70)", "qs": "", "correction_add": "freedom-to-speak-up"},
    ])
    result = read_corrections(path, run_id="run-b", reviewer="fallback", library=library)
    assert not result.problems
    (event,) = result.events
    ref = event["passage"]
    assert (ref.run_id, ref.text, ref.doc_type, ref.source, ref.model_labels) == (
        "run-b", "Our FTSU policy.", "policy", "run-b/Pack/a.pdf", ("W3",))
    assert (event["user"], event["action"], event["label"]) == ("fallback", "add", "freedom-to-speak-up")


def test_read_corrections_refuses_a_workbook_without_the_columns(tmp_path, library):
    wb = openpyxl.Workbook()
    wb.active.title = "Excerpts"
    wb.active.append(["passage_id", "text"])
    wb.save(tmp_path / "bare.xlsx")
    with pytest.raises(CorpusError, match="needs a passage_id column"):
        read_corrections(tmp_path / "bare.xlsx", run_id="r", library=library)
    (tmp_path / "not.xlsx").write_text("not a workbook")
    with pytest.raises(CorpusError, match="cannot read the workbook"):
        read_corrections(tmp_path / "not.xlsx", run_id="r", library=library)


# ---------------------------------------------------------------- uncertainty
def test_uncertainty_picks_the_label_closest_to_one_half():
    assert uncertainty({"kloe": {"W1": 0.9, "W2": 0.45}, "qs": {"workforce-edi": 0.58}}) == (
        pytest.approx(0.05), "W2", 0.45)
    assert uncertainty({}) == (1.0, "", 0.0)


def test_suggest_passages_orders_by_margin_and_skips_decided():
    rows = [
        {"id": "a", "scores": {"kloe": {"W1": 0.95, "W2": 0.02}}},
        {"id": "b", "scores": {"kloe": {"W1": 0.49}}},
        {"id": "c", "scores": {"kloe": {"W1": 0.7}, "qs": {"workforce-edi": 0.44}}},
        {"id": "d", "scores": {"kloe": {"W4": 0.5}}},
        {"id": "e", "kloe": []},  # no scores: cannot be ranked
    ]
    got = suggest_passages(rows, n=10)
    assert [s.passage_id for s in got] == ["d", "b", "c", "a"]
    assert (got[2].label, got[2].score, got[2].margin) == ("workforce-edi", 0.44, 0.06)
    assert [s.passage_id for s in suggest_passages(rows, exclude={"d"}, skip={"b"}, n=2)] == ["c", "a"]


def test_resolve_verdicts_is_per_run_and_passage(store):
    other = PassageRef("trust-b", "p1", "Another trust's passage with the same id.", "policy", "trust-b/x.pdf")
    store.record(P1, "alice", "accept", "W5")
    store.record(other, "alice", "add", "W7")
    grouped = resolve_verdicts(store.events())
    assert set(grouped) == {("trust-a", "p1"), ("trust-b", "p1")}
    assert grouped[("trust-b", "p1")]["alice"].labels == ("W7",)

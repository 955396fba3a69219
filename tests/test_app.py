"""The review app through FastAPI's TestClient: login, sessions, CSRF, pages, decisions, export, import, CLI.

The run folder is a real `wellled review` output made from synthetic
passages (``tests.test_report.make_pack``) by ``pipeline.review``.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from typer.testing import CliRunner

from pipeline.app import AppSettings, create_app
from pipeline.app.runs import find_runs
from pipeline.corpus import load_labelled
from pipeline.labels import LabelStore, default_db_url
from tests.test_labels import FAST_HASHER
from tests.test_report import make_pack

RUN = "calderbrook"
SECRET = "test-secret-key-for-signing-sessions"
PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22"}
HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}
# area W5 excerpts, best score first (make_pack puts W5 on every 6th passage; see build_review_run's scores)
W5_ORDER = ["p000036", "p000030", "p000024", "p000018", "p000012", "p000006", "p000042", "p000000"]


# ------------------------------------------------------------------ the run
def build_review_run(out: Path, n: int = 48) -> Path:
    """A review run folder: documents, passages (with offsets), tags with every label's score, outputs."""
    from pipeline.framework import load_library
    from pipeline.review import write_review_outputs

    library = load_library()
    docs, passages, tags = make_pack(n, n_docs=4)
    for i, p in enumerate(passages):
        p["char_start"], p["char_end"] = i * 300, i * 300 + len(p["text"])
        p["heading_path"] = ["Part A", f"Item {i // 4}"]
    for i, t in enumerate(tags):
        for tag in (*t["kloe"], *t["qs"]):
            tag["score"] = round(0.55 + (i % 40) / 100, 4)
        tagged = {tag["id"]: tag["score"] for tag in (*t["kloe"], *t["qs"])}
        t["scores"] = {fw: {a: tagged.get(a, round(((i * 7 + j * 13) % 40) / 100, 4))
                            for j, a in enumerate(library.area_ids(fw))} for fw in ("kloe", "qs")}
    tags[7]["scores"]["kloe"]["W7"] = 0.49  # the model is least sure about p000007 (not tagged W7)
    tags[3]["scores"]["kloe"]["W1"] = 0.46  # and next about p000003
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("documents.jsonl", docs), ("passages.jsonl", passages), ("tags.jsonl", tags)):
        (out / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (out / "run.json").write_text(json.dumps({"pack": "packs/Calderbrook pack.zip", "trust_type": "acute"}))
    write_review_outputs(out, pack_name="Calderbrook test pack", trust_type="acute")
    return out


def run_template_dir(tmp_path_factory) -> Path:
    """Built once per test session, copied by each test that changes it."""
    path = tmp_path_factory.getbasetemp() / "review-run-template"
    if not (path / "coverage.xlsx").is_file():
        build_review_run(path)
    return path


@pytest.fixture(scope="session")
def run_template(tmp_path_factory):
    return run_template_dir(tmp_path_factory)


@pytest.fixture
def runs_dir(tmp_path, run_template):
    root = tmp_path / "runs"
    root.mkdir()
    shutil.copytree(run_template, root / RUN)
    (root / "not-a-run").mkdir()
    return root


@pytest.fixture
def store(runs_dir, library):
    s = LabelStore(default_db_url(runs_dir), library=library, password_hasher=FAST_HASHER)
    for name, pw in PASSWORDS.items():
        s.add_user(name, pw)
    yield s
    s.close()


def make_client(runs_dir: Path, store: LabelStore, **settings) -> TestClient:
    app = create_app(AppSettings(runs_dir=runs_dir, secret_key=SECRET, **settings), store=store)
    return TestClient(app, follow_redirects=False)


def login(client: TestClient, name: str, password: str | None = None) -> str:
    """Log in through the form; return the session's CSRF token (from the page's meta tag)."""
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": name, "password": password or PASSWORDS[name],
                                    "csrf_token": token, "next": "/"}, headers=HTML)
    assert r.status_code == 303, r.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    home = client.get("/", headers=HTML)
    assert home.status_code == 200
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', home.text).group(1)


def decide(client: TestClient, csrf: str, pid: str, do: str, **extra) -> dict:
    r = client.post(f"/run/{RUN}/label", data={"passage_id": pid, "do": do, **extra},
                    headers={**JSON, "x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def client(runs_dir, store):
    with make_client(runs_dir, store) as c:
        yield c


# ----------------------------------------------------------------- the runs
def test_find_runs_lists_run_folders_only(runs_dir):
    runs = find_runs(runs_dir)
    assert [r.id for r in runs] == [RUN]
    assert (runs[0].pack, runs[0].trust_type) == ("Calderbrook pack.zip", "acute")


# ------------------------------------------------------------ authentication
PROTECTED_PAGES = ["/", f"/run/{RUN}", f"/run/{RUN}/area/W5", f"/run/{RUN}/passage/p000001",
                   f"/run/{RUN}/suggest", f"/run/{RUN}/activity", f"/run/{RUN}/export?format=training",
                   "/export?format=prodigy", "/retrain", "/retrain/status"]


@pytest.mark.parametrize("path", PROTECTED_PAGES)
def test_nothing_is_readable_without_logging_in(client, path):
    page = client.get(path, headers=HTML)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    api = client.get(path, headers=JSON)
    assert api.status_code == 401
    assert "Calderbrook" not in page.text + api.text and "p000001" not in page.text + api.text


def test_posts_without_a_session_are_refused(client):
    for path in (f"/run/{RUN}/label", f"/run/{RUN}/import", "/retrain", "/logout"):
        r = client.post(path, data={"passage_id": "p000001", "do": "accept:W3"}, headers=HTML)
        assert r.status_code == 401, path


def test_public_paths_show_no_data(client):
    assert client.get("/healthz").text == "ok"
    css = client.get("/static/app.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    login_page = client.get("/login", headers=HTML)
    assert login_page.status_code == 200 and 'name="password"' in login_page.text
    assert "content-security-policy" in login_page.headers and "cdn" not in login_page.text.lower()
    assert not re.search(r'(src|href)="https?://', login_page.text)


def test_login_sets_a_signed_httponly_session(client):
    page = client.get("/login?next=/run/calderbrook", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": token,
                                    "next": "/run/calderbrook"}, headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == "/run/calderbrook"
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("wellled_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=28800" in cookie
    run = client.get("/run/calderbrook", headers=HTML)
    assert run.status_code == 200 and 'id="current-user">alice<' in run.text
    value = client.cookies.get("wellled_session")
    payload, stamp, signature = value.split(".")  # itsdangerous: data.timestamp.signature
    tampered = f"{payload[:-2]}xx.{stamp}.{signature}"
    client.cookies.clear()
    client.cookies.set("wellled_session", tampered)
    assert client.get("/run/calderbrook", headers=HTML).status_code == 303


def test_wrong_password_and_forged_login_form_are_refused(client):
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": "alice", "password": "nope", "csrf_token": token}, headers=HTML)
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    assert not any(h.startswith("wellled_session=") for h in r.headers.get_list("set-cookie"))
    r = client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": "made-up"},
                    headers=HTML)
    assert r.status_code == 403
    assert client.get("/", headers=HTML).status_code == 303


def test_login_is_throttled_after_repeated_failures(client):
    for _ in range(5):
        page = client.get("/login", headers=HTML)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = client.post("/login", data={"username": "bob", "password": "guess", "csrf_token": token})
        assert r.status_code == 401
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": "bob", "password": PASSWORDS["bob"], "csrf_token": token})
    assert r.status_code == 429


def test_open_redirects_are_not_followed(client):
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": token,
                                    "next": "//evil.example/"})
    assert r.headers["location"] == "/"


class _NineHoursAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 9 * 3600


def test_sessions_expire(client):
    fresh = URLSafeTimedSerializer(SECRET, salt="wellled.session.v1").dumps({"u": "alice", "c": "t", "n": "n1"})
    client.cookies.set("wellled_session", fresh)
    assert client.get("/", headers=HTML).status_code == 200  # a valid cookie made the same way is accepted
    old = URLSafeTimedSerializer(SECRET, salt="wellled.session.v1", signer=_NineHoursAgo).dumps(
        {"u": "alice", "c": "t", "n": "n2"})
    client.cookies.set("wellled_session", old)
    assert client.get("/", headers=HTML).status_code == 303  # 9 h > the default 8 h
    forged = URLSafeTimedSerializer("another-key", salt="wellled.session.v1").dumps({"u": "alice", "c": "t", "n": "n"})
    client.cookies.set("wellled_session", forged)
    assert client.get("/", headers=HTML).status_code == 303


def test_logout_ends_the_session(client):
    csrf = login(client, "alice")
    cookie = client.cookies.get("wellled_session")
    r = client.post("/logout", data={"csrf_token": csrf}, headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.set("wellled_session", cookie)  # replaying the old cookie does not work either
    assert client.get("/", headers=HTML).status_code == 303


def test_csrf_token_is_required_on_every_post(client):
    csrf = login(client, "alice")
    data = {"passage_id": "p000001", "do": "accept:W3"}
    assert client.post(f"/run/{RUN}/label", data=data, headers=JSON).status_code == 403
    assert client.post(f"/run/{RUN}/label", data={**data, "csrf_token": "wrong"}, headers=JSON).status_code == 403
    assert client.post(f"/run/{RUN}/label", data=data, headers={**JSON, "x-csrf-token": "wrong"}).status_code == 403
    cross = client.post(f"/run/{RUN}/label", data={**data, "csrf_token": csrf},
                        headers={**JSON, "origin": "http://evil.example"})
    assert cross.status_code == 403
    assert client.post("/logout", headers=JSON).status_code == 403
    assert client.get(f"/run/{RUN}/activity", headers=HTML).text.count("<td>accept</td>") == 0
    # the form field (no JavaScript) and the header (fetch) both work
    r = client.post(f"/run/{RUN}/label", data={**data, "csrf_token": csrf, "next": f"/run/{RUN}/area/W3"},
                    headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == f"/run/{RUN}/area/W3#p-p000001"
    assert decide(client, csrf, "p000001", "reject:W3")["event"]["action"] == "reject"


def test_local_mode_needs_no_login_and_records_the_local_user(runs_dir, store):
    with make_client(runs_dir, store, local=True, local_user="laptop-user") as c:
        home = c.get("/", headers=HTML)
        assert home.status_code == 200 and "local mode" in home.text
        assert c.get("/login", headers=HTML).status_code == 303
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', home.text).group(1)
        assert c.post(f"/run/{RUN}/label", data={"passage_id": "p000002", "do": "accept:W3"},
                      headers=JSON).status_code == 403  # CSRF still applies
        decide(c, csrf, "p000002", "accept:W3")
    assert [e.user for e in store.events(RUN)] == ["laptop-user"]


# --------------------------------------------------------------------- pages
def test_run_summary_lists_both_frameworks_with_statuses(client):
    login(client, "alice")
    page = client.get(f"/run/{RUN}", headers=HTML).text
    assert page.count('class="area-link"') == 16
    assert 'href="/run/calderbrook/area/W5"' in page and "status-strong" in page and "status-absent" in page
    assert "Calderbrook pack.zip" in page and "acute" in page


def test_area_page_lists_excerpts_best_first_with_provenance_and_terms(client):
    login(client, "alice")
    page = client.get(f"/run/{RUN}/area/W5", headers=HTML).text
    assert re.findall(r'<article class="ex" id="p-(p\d+)"', page) == W5_ORDER
    assert "1–8 of 8 excerpts" in page
    assert "Pack/Doc 00 board_minutes.pdf" in page and "page 7" in page and "Part A › Item 9" in page
    assert "<mark>risk register</mark>" in page
    assert "&lt;b&gt;not markup&lt;/b&gt;" in page and "<b>not markup</b>" not in page
    assert client.get(f"/run/{RUN}/area/W99", headers=HTML).status_code == 404
    assert client.get("/run/nope/area/W5", headers=HTML).status_code == 404


def test_passage_page_shows_the_passages_around_it(client):
    login(client, "alice")
    page = client.get(f"/run/{RUN}/passage/p000020", headers=HTML).text
    # make_pack puts every 4th passage in the same document: p4, p8, ... are document 0's neighbours
    before = re.findall(r'class="ctx-p before">.*?href="/run/calderbrook/passage/(p\d+)"', page, re.S)
    after = re.findall(r'class="ctx-p after">.*?href="/run/calderbrook/passage/(p\d+)"', page, re.S)
    assert before == ["p000008", "p000012", "p000016"] and after == ["p000024", "p000028", "p000032"]
    assert 'id="p-p000020"' in page and "Document 0" in page


def test_decisions_show_on_the_page_for_each_user(client, runs_dir, store):
    csrf = login(client, "alice")
    out = decide(client, csrf, "p000036", "accept:W5")
    assert out["labels"] == ["W5", "governance-management-sustainability"]
    out = decide(client, csrf, "p000030", "reject:W5")
    assert out["labels"] == ["governance-management-sustainability"] and 'st-rejected' in out["html"]
    out = decide(client, csrf, "p000024", "not_evidence")
    assert out["not_evidence"] and out["labels"] == []
    out = decide(client, csrf, "p000018", "add", add_label="W4")
    assert out["labels"] == ["W5", "governance-management-sustainability", "W4"]
    assert out["event"]["user"] == "alice" and out["event"]["via"] == "app"
    page = client.get(f"/run/{RUN}/area/W5", headers=HTML).text
    assert page.count('class="done">reviewed by you') == 4
    with make_client(runs_dir, store) as bob:
        login(bob, "bob")
        seen = bob.get(f"/run/{RUN}/area/W5", headers=HTML).text
        assert 'class="done">reviewed by you' not in seen
        assert 'title="alice keeps W5"' in seen and 'title="alice drops W5"' in seen
        todo = bob.get(f"/run/{RUN}/area/W5?todo=1", headers=HTML).text
        assert todo.count('<article class="ex"') == 8
    todo = client.get(f"/run/{RUN}/area/W5?todo=1", headers=HTML).text
    assert re.findall(r'<article class="ex" id="p-(p\d+)"', todo) == W5_ORDER[4:]
    activity = client.get(f"/run/{RUN}/activity", headers=HTML).text
    assert activity.count("<td>alice</td>") == 4 and "not evidence" in activity


def test_bad_decisions_are_refused(client):
    csrf = login(client, "alice")
    h = {**JSON, "x-csrf-token": csrf}
    for pid, do, code in (("p999999", "accept:W5", 404), ("p000001", "accept:W9", 400), ("p000001", "bless:W3", 400)):
        r = client.post(f"/run/{RUN}/label", data={"passage_id": pid, "do": do}, headers=h)
        assert r.status_code == code, (pid, do, r.text)


def test_suggested_next_is_the_least_certain_passages_not_yet_decided(client, runs_dir, store):
    csrf = login(client, "alice")
    page = client.get(f"/run/{RUN}/suggest", headers=HTML).text
    ids = re.findall(r'<article class="ex" id="p-(p\d+)"', page)
    assert ids[:2] == ["p000007", "p000003"] and len(ids) == 25
    assert "model unsure about <b>W7</b> (0.49)" in page
    assert 'data-label="W7" data-model="0" data-state="candidate"' in page
    decide(client, csrf, "p000007", "add:W7", extra="W7")
    ids = re.findall(r'<article class="ex" id="p-(p\d+)"', client.get(f"/run/{RUN}/suggest", headers=HTML).text)
    assert ids[0] == "p000003" and "p000007" not in ids
    with make_client(runs_dir, store) as bob:
        login(bob, "bob")
        bob_ids = re.findall(r'<article class="ex" id="p-(p\d+)"', bob.get(f"/run/{RUN}/suggest", headers=HTML).text)
        assert bob_ids[0] == "p000007", "a colleague's decision does not hide the passage from you"


# ----------------------------------------------------------- export / import
def test_export_downloads_load_as_training_data(client, tmp_path, library):
    csrf = login(client, "alice")
    decide(client, csrf, "p000036", "accept:W5")
    decide(client, csrf, "p000030", "reject:W5")
    decide(client, csrf, "p000024", "not_evidence")
    r = client.get(f"/run/{RUN}/export?format=training", headers=HTML)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.headers["x-wellled-passages"] == "3"
    path = tmp_path / "ours.jsonl"
    path.write_bytes(r.content)
    got = {p.id: p for p in load_labelled([path], library=library)}
    assert got["calderbrook/p000036"].kloe == ("W5",)
    assert got["calderbrook/p000030"].kloe == () and got["calderbrook/p000030"].qs == (
        "governance-management-sustainability",)
    assert got["calderbrook/p000024"].is_negative
    assert got["calderbrook/p000036"].source == "calderbrook/Pack/Doc 00 board_minutes.pdf"
    assert got["calderbrook/p000036"].trust_type == "acute"
    prodigy = client.get("/export?format=prodigy", headers=HTML)
    lines = [json.loads(x) for x in prodigy.text.splitlines()]
    assert {x["meta"]["passage_id"] for x in lines} == {"p000036", "p000030", "p000024"}
    assert all(x["answer"] == "accept" and x["meta"]["annotators"] == ["alice"] for x in lines)
    assert client.get(f"/run/{RUN}/export?format=csv", headers=JSON).status_code == 400


def test_import_a_filled_in_coverage_workbook(client, runs_dir, store):
    csrf = login(client, "alice")
    book = runs_dir / RUN / "coverage.xlsx"
    wb = openpyxl.load_workbook(book)
    ws = wb["Excerpts"]
    header = [c.value for c in ws[1]]
    col = {name: header.index(name) + 1 for name in header}
    rows = {ws.cell(r, col["passage_id"]).value: r for r in range(2, ws.max_row + 1)}
    ws.cell(rows["p000006"], col["correction_remove"], "W5")
    ws.cell(rows["p000006"], col["correction_add"], "W4")
    ws.cell(rows["p000006"], col["reviewer"], "offline-inspector")
    ws.cell(rows["p000006"], col["comment"], "This is the BAF, not the risk register")
    ws.cell(rows["p000011"], col["not_evidence"], "yes")
    ws.cell(rows["p000011"], col["reviewer"], "offline-inspector")
    ws.cell(rows["p000013"], col["correction_add"], "W8")  # no reviewer: the uploader is recorded
    ws.cell(rows["p000014"], col["correction_add"], "W42")
    filled = runs_dir / "filled.xlsx"
    wb.save(filled)
    with filled.open("rb") as fh:
        r = client.post(f"/run/{RUN}/import", files={"file": ("filled.xlsx", fh.read())},
                        data={"csrf_token": csrf}, headers=HTML)
    assert r.status_code == 200, r.text
    assert '<b id="recorded">4</b> decisions recorded from <b>3</b> reviewed rows' in r.text
    assert "W42 not an area id" in r.text
    verdicts = store.verdicts(RUN)
    v = verdicts["p000006"]["offline-inspector"]
    assert v.labels == ("governance-management-sustainability", "W4")
    assert verdicts["p000011"]["offline-inspector"].not_evidence
    assert "W8" in verdicts["p000013"]["alice"].labels
    events = store.events(RUN, user="offline-inspector")
    assert {e.via for e in events} == {"xlsx:filled.xlsx"}
    assert "This is the BAF" in events[0].comment
    bad = client.post(f"/run/{RUN}/import", files={"file": ("x.xlsx", b"not a workbook")},
                      data={"csrf_token": csrf}, headers=HTML)
    assert bad.status_code == 400 and "cannot read the workbook" in bad.text


# --------------------------------------------------------------- concurrency
def test_two_users_labelling_the_same_passage_concurrently_keep_both(runs_dir, store):
    rounds = 26
    clients = {name: make_client(runs_dir, store) for name in PASSWORDS}
    tokens = {name: login(c, name) for name, c in clients.items()}
    plans = {"alice": ["accept:W5" if i % 2 else "reject:W5" for i in range(rounds)],
             "bob": ["reject:W5" if i % 2 else "add:W4" for i in range(rounds)]}
    barrier = threading.Barrier(2)
    failures: list[str] = []

    def work(name: str) -> None:
        barrier.wait()
        for do in plans[name]:
            r = clients[name].post(f"/run/{RUN}/label", data={"passage_id": "p000012", "do": do},
                                   headers={**JSON, "x-csrf-token": tokens[name]})
            if r.status_code != 200:
                failures.append(f"{name}: {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=work, args=(n,)) for n in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in clients.values():
        c.close()
    assert not failures
    events = store.events(RUN, passage_ids=["p000012"])
    assert len(events) == 2 * rounds
    for name, plan in plans.items():
        assert [f"{e.action}:{e.label}" for e in events if e.user == name] == plan
    verdicts = store.verdicts(RUN)["p000012"]
    assert verdicts["alice"].decisions == {"W5": "accept"}
    assert verdicts["bob"].decisions == {"W5": "reject", "W4": "add"}


# ------------------------------------------------------------------- retrain
def test_retrain_page_without_a_retrain_function(client):
    login(client, "alice")
    page = client.get("/retrain", headers=HTML)
    assert page.status_code == 200 and "started without retraining" in page.text


def test_retrain_button_feeds_the_exported_labels_to_the_flow(runs_dir, store, library, tmp_path):
    """A stand-in for flows.retrain.retrain reads the label file the way the flow does (load_labelled)."""
    seen: list[list] = []
    models = tmp_path / "models"
    models.mkdir()

    def stand_in(files: list[str], force: bool) -> dict:
        passages = load_labelled(files, library=library)
        seen.append(passages)
        return {"version": "1.7", "promoted": force, "model": str(models / "wellled-tagger-1.7"),
                "train": len(passages), "test": 0, "old": {"kloe": 0.7, "qs": 0.75}, "new": {"kloe": 0.72, "qs": 0.74}}

    with make_client(runs_dir, store, retrain=stand_in, models_dir=models) as c:
        csrf = login(c, "alice")
        assert c.post("/retrain", data={"csrf_token": csrf}, headers=HTML).status_code == 400  # no labels yet
        assert c.post("/retrain/promote", data={"csrf_token": csrf}, headers=HTML).status_code == 400  # no run yet
        decide(c, csrf, "p000036", "accept:W5")
        decide(c, csrf, "p000030", "not_evidence")
        assert "<b id=\"retrain-labelled\">2</b>" in c.get("/retrain", headers=HTML).text
        r = c.post("/retrain", data={"csrf_token": csrf}, headers=HTML)
        assert r.status_code == 303
        c.app.state.ctx.retrain.wait(30)
        page = c.get("/retrain", headers=HTML).text
        # worse on qs, so the flow did not promote; the page shows the figures and offers to promote anyway
        assert 'id="promoted">not promoted' in page and "+0.0200" in page and "-0.0100" in page
        assert 'id="promote-form"' in page and not (models / "DEFAULT").exists()
        r = c.post("/retrain/promote", data={"csrf_token": csrf}, headers=HTML)
        assert r.status_code == 303
        assert (models / "DEFAULT").read_text().strip() == "wellled-tagger-1.7"
        page = c.get("/retrain", headers=HTML).text
        assert 'id="promoted">promoted to default</b> by alice' in page and 'id="promote-form"' not in page
    assert [p.id for p in seen[0]] == ["calderbrook/p000030", "calderbrook/p000036"]
    state = json.loads((runs_dir / ".wellled" / "retrain" / "last.json").read_text())
    assert state["status"] == "done" and state["user"] == "alice" and state["passages"] == 2
    assert state["promoted_by"] == "alice" and state["result"]["promoted"]


# ----------------------------------------------------------------------- CLI
def test_cli_adduser_export_and_import(runs_dir, tmp_path, monkeypatch):
    from flows.cli import app

    runner = CliRunner()
    monkeypatch.setenv("NEW_PW", "a long enough password")
    r = runner.invoke(app, ["app", "adduser", "carol", "--runs", str(runs_dir), "--password-env", "NEW_PW"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["app", "adduser", "carol", "--runs", str(runs_dir), "--password-env", "NEW_PW"])
    assert r.exit_code == 1 and "already exists" in r.output
    with LabelStore(default_db_url(runs_dir)) as s:
        assert s.authenticate("carol", "a long enough password")
        run = next(iter(find_runs(runs_dir)))
        from pipeline.app.runs import RunData

        data = RunData.load(run)
        s.record(data.ref("p000006"), "carol", "reject", "W5")
        s.record(data.ref("p000006"), "dave", "accept", "W5")
        s.record(data.ref("p000006"), "erin", "accept", "W5")

    out = tmp_path / "labels.jsonl"
    r = runner.invoke(app, ["labels", "export", "--runs", str(runs_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "1 disagreement" in r.output and "carol" in r.output
    (record,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert record["kloe"] == ["W5"] and record["id"] == "calderbrook/p000006"

    wb = openpyxl.load_workbook(runs_dir / RUN / "coverage.xlsx")
    ws = wb["Excerpts"]
    header = [c.value for c in ws[1]]
    for r_ in range(2, ws.max_row + 1):
        if ws.cell(r_, header.index("passage_id") + 1).value == "p000001":
            ws.cell(r_, header.index("correction_remove") + 1, "W3")
    book = runs_dir / RUN / "coverage-filled.xlsx"
    wb.save(book)
    r = runner.invoke(app, ["labels", "import", str(book), "--runs", str(runs_dir), "--reviewer", "fern"])
    assert r.exit_code == 0, r.output
    assert "recorded 1 decisions from 1 reviewed rows" in " ".join(r.output.split())
    r = runner.invoke(app, ["app", "--runs", str(runs_dir), "--local", "--host", "0.0.0.0"])
    assert r.exit_code == 1 and "loopback only" in r.output

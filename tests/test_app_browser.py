"""The review app end to end in headless Chromium (Debian's package, driven by Playwright).

A real uvicorn server runs the app on 127.0.0.1 in a background thread, over
a real review run folder. Screenshots of the main pages go to tests/artifacts/.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import openpyxl
import pytest

from pipeline.app import AppSettings, create_app
from pipeline.corpus import load_labelled
from pipeline.labels import LabelStore, default_db_url
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path
from tests.test_app import PASSWORDS, RUN, W5_ORDER, run_template_dir
from tests.test_labels import FAST_HASHER

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app under uvicorn on a free loopback port, in a thread."""

    def __init__(self, runs_dir: Path, store: LabelStore, **settings) -> None:
        import uvicorn

        self.store = store
        self.app = create_app(AppSettings(runs_dir=runs_dir, **settings), store=store)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _retrain_stand_in(library):
    """Reads the exported label file as flows.retrain does (load_labelled); no model is trained here."""

    def run(files: list[str], force: bool) -> dict:
        passages = load_labelled(files, library=library)
        return {"version": "1.4", "promoted": True, "model": "models/wellled-tagger-1.4", "train": len(passages),
                "test": 0, "old": {"kloe": 0.712, "qs": 0.748}, "new": {"kloe": 0.731, "qs": 0.75}}

    return run


@pytest.fixture
def server(tmp_path, tmp_path_factory, library):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(run_template_dir(tmp_path_factory), runs / RUN)
    store = LabelStore(default_db_url(runs), library=library, password_hasher=FAST_HASHER)
    for name, pw in PASSWORDS.items():
        store.add_user(name, pw)
    try:
        with Server(runs, store, retrain=_retrain_stand_in(library)) as srv:
            srv.runs_dir = runs
            yield srv
    finally:
        store.close()


def new_page(browser, *, downloads: bool = False):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=downloads)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    return page


def log_in(page, base: str, name: str) -> None:
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_selector("#current-user")
    assert page.inner_text("#current-user") == name


def saved(page) -> None:
    page.wait_for_selector("body[data-ready='1'][data-pending='0']")


def chip(page, pid: str, label: str):
    return page.locator(f"#p-{pid} .chip[data-label='{label}']")


def test_log_in_review_with_the_keyboard_and_export(server, browser, tmp_path, library):
    page = new_page(browser, downloads=True)
    base = server.url
    # nothing without logging in: the run page sends us to the login form
    page.goto(f"{base}/run/{RUN}")
    assert "/login?next=" in page.url
    page.screenshot(path=str(ARTIFACTS / "app-login.png"))
    page.goto(f"{base}/")
    assert "/login" in page.url
    log_in(page, base, "alice")
    assert page.locator("#runs a.run-link").all_inner_texts() == [RUN]
    page.screenshot(path=str(ARTIFACTS / "app-runs.png"))

    page.click(f"#runs a.run-link")
    page.wait_for_selector("#areas-kloe")
    assert page.locator("#areas-kloe tbody tr").count() == 8 and page.locator("#areas-qs tbody tr").count() == 8
    page.screenshot(path=str(ARTIFACTS / "app-run-summary.png"), full_page=True)

    page.click("#areas-kloe a[href$='/area/W5']")
    saved(page)
    assert page.locator("article.ex").evaluate_all("els => els.map(e => e.dataset.pid)") == W5_ORDER
    assert page.locator(f"#p-{W5_ORDER[0]} mark").count() > 0, "the terms behind the tag are highlighted"

    keys = [("j", "a"), ("j", "r"), ("j", "n"), ("j", "4"), ("j", "l", "r")]
    for seq in keys:
        for k in seq:
            page.keyboard.press(k)
        saved(page)
    p_accept, p_reject, p_ne, p_add, p_qs = W5_ORDER[:5]
    assert chip(page, p_accept, "W5").get_attribute("data-state") == "accepted"
    assert chip(page, p_reject, "W5").get_attribute("data-state") == "rejected"
    assert page.locator(f"#p-{p_ne} button.ne.on").count() == 1
    assert chip(page, p_ne, "W5").get_attribute("data-state") == "excluded"
    assert chip(page, p_add, "W4").get_attribute("data-state") == "accepted"
    assert chip(page, p_qs, "governance-management-sustainability").get_attribute("data-state") == "rejected"
    assert page.get_attribute("body", "data-focused") == p_qs
    page.screenshot(path=str(ARTIFACTS / "app-area-keyboard.png"))

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.screenshot(path=str(ARTIFACTS / "app-help.png"))
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    # j/k move back too; 4 again takes W4 off
    page.keyboard.press("k")
    assert page.get_attribute("body", "data-focused") == p_add
    page.keyboard.press("4")
    saved(page)
    assert chip(page, p_add, "W4").count() == 0
    page.keyboard.press("4")
    saved(page)
    assert chip(page, p_add, "W4").get_attribute("data-state") == "accepted"

    page.keyboard.press("o")  # the focused passage in its document
    page.wait_for_selector("#context")
    assert f"/passage/{p_add}" in page.url
    assert page.locator("#context .ctx-p.before").count() == 3 and page.locator("#context .ctx-p.after").count() == 3
    page.screenshot(path=str(ARTIFACTS / "app-passage-context.png"))

    page.goto(f"{base}/run/{RUN}/suggest")
    saved(page)
    assert page.locator("article.ex").first.get_attribute("data-pid") == "p000007"
    page.screenshot(path=str(ARTIFACTS / "app-suggested-next.png"))

    events = server.store.events(RUN)
    assert {e.user for e in events} == {"alice"} and {e.via for e in events} == {"app"}
    assert len(events) == 7

    # export from the run page and check the downloaded files
    page.goto(f"{base}/run/{RUN}")
    with page.expect_download() as info:
        page.click("#export-training")
    path = tmp_path / "training.jsonl"
    info.value.save_as(path)
    records = {r["id"].split("/")[-1]: r for r in map(json.loads, path.read_text().splitlines())}
    assert set(records) == {p_accept, p_reject, p_ne, p_add, p_qs}
    assert records[p_accept]["kloe"] == ["W5"] and records[p_accept]["qs"] == ["governance-management-sustainability"]
    assert records[p_reject]["kloe"] == [] and records[p_reject]["qs"] == ["governance-management-sustainability"]
    assert records[p_ne]["kloe"] == [] and records[p_ne]["qs"] == []
    assert records[p_add]["kloe"] == ["W4", "W5"]
    assert records[p_qs]["kloe"] == ["W5"] and records[p_qs]["qs"] == []
    assert all(r["source"].startswith(f"{RUN}/Pack/") and r["evidence"] == [] for r in records.values())
    assert len(load_labelled([path], library=library)) == 5
    with page.expect_download() as info:
        page.click("#export-prodigy")
    prodigy = tmp_path / "prodigy.jsonl"
    info.value.save_as(prodigy)
    lines = {x["meta"]["passage_id"]: x for x in map(json.loads, prodigy.read_text().splitlines())}
    assert lines[p_ne]["accept"] == [] and lines[p_ne]["meta"]["not_evidence"]
    assert lines[p_add]["accept"] == ["W4", "W5", "governance-management-sustainability"]
    assert {p.id for p in load_labelled([prodigy], library=library)} == {f"{RUN}/{p}" for p in records}

    page.click("header form button[type=submit]")  # log out
    page.wait_for_selector("input[name=password]")
    page.goto(f"{base}/run/{RUN}/area/W5")
    assert "/login" in page.url
    assert not page.errors, page.errors
    page.context.close()


def test_two_inspectors_on_the_same_passage_keep_both_labels(server, browser):
    base = server.url
    pages = {}
    for name in ("alice", "bob"):
        page = new_page(browser)
        page.goto(f"{base}/login?next=/run/{RUN}/area/W5")
        log_in(page, base, name)
        saved(page)
        pages[name] = page
    target = W5_ORDER[5]
    # both open the same excerpt; alice accepts W5, bob rejects it, without reloading in between
    for name, key in (("alice", "a"), ("bob", "r")):
        page = pages[name]
        page.click(f"#p-{target} .txt")
        page.keyboard.press(key)
    for page in pages.values():
        saved(page)
    assert chip(pages["alice"], target, "W5").get_attribute("data-state") == "accepted"
    assert chip(pages["bob"], target, "W5").get_attribute("data-state") == "rejected"
    pages["alice"].reload()
    saved(pages["alice"])
    assert chip(pages["alice"], target, "W5").get_attribute("data-state") == "accepted", "bob did not overwrite alice"
    assert pages["alice"].locator(f"#p-{target} .chip[data-label='W5'] .who.no").inner_text().startswith("bob")
    verdicts = server.store.verdicts(RUN)[target]
    assert verdicts["alice"].decisions == {"W5": "accept"} and verdicts["bob"].decisions == {"W5": "reject"}
    pages["alice"].screenshot(path=str(ARTIFACTS / "app-two-inspectors.png"))
    pages["bob"].goto(f"{base}/run/{RUN}")
    rows = pages["bob"].locator("#conflicts tbody tr")
    assert rows.count() == 1 and "W5" in rows.first.inner_text()
    pages["bob"].locator("#labels-box").screenshot(path=str(ARTIFACTS / "app-disagreements.png"))
    pages["bob"].goto(f"{base}/run/{RUN}/activity")
    assert pages["bob"].locator("#activity tbody tr").count() == 2
    pages["bob"].screenshot(path=str(ARTIFACTS / "app-activity.png"))
    for page in pages.values():
        assert not page.errors, page.errors
        page.context.close()


def test_import_a_workbook_and_retrain_from_the_browser(server, browser, tmp_path):
    base = server.url
    book = openpyxl.load_workbook(server.runs_dir / RUN / "coverage.xlsx")
    ws = book["Excerpts"]
    header = [c.value for c in ws[1]]
    col = {name: header.index(name) + 1 for name in header}
    for r in range(2, ws.max_row + 1):
        pid = ws.cell(r, col["passage_id"]).value
        if pid in ("p000001", "p000002"):
            ws.cell(r, col["correction_remove"], "W3")
            ws.cell(r, col["reviewer"], "offline-inspector")
        if pid == "p000004":
            ws.cell(r, col["correction_add"], "not-an-area")
            ws.cell(r, col["reviewer"], "offline-inspector")
    filled = tmp_path / "coverage-reviewed.xlsx"
    book.save(filled)

    page = new_page(browser)
    page.goto(f"{base}/login")
    log_in(page, base, "alice")
    page.goto(f"{base}/run/{RUN}")
    page.set_input_files("#import-form input[type=file]", str(filled))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-result")
    assert page.inner_text("#recorded") == "2"
    assert "not-an-area not an area id" in page.inner_text(".problems")
    page.screenshot(path=str(ARTIFACTS / "app-import.png"))

    page.goto(f"{base}/retrain")
    assert page.inner_text("#retrain-labelled") == "2"
    page.click("#retrain-box button[type=submit]")
    page.wait_for_selector("#retrain-result[data-status='done']", timeout=30_000)
    assert "promoted to default" in page.inner_text("#promoted")
    cells = page.locator("#metrics tbody tr").first.locator("td").all_inner_texts()
    assert cells == ["KLOE W1–W8", "0.712", "0.731", "+0.0190"]
    page.screenshot(path=str(ARTIFACTS / "app-retrain.png"), full_page=True)
    assert not page.errors, page.errors
    page.context.close()

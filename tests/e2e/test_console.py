"""The web console in a real browser (Debian's chromium driven by Playwright) against a real gateway
on the embedded model: sign-in, streamed chat, Stop, history, uploads with per-file results, a RAG
answer whose citation opens, the live figures, and teams and keys (a key shown once, revoked). AISTACK_SCREENSHOTS=docs/img saves the views."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import BIN, ServerProcess, free_port, start_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
KEY = "console-test-key"
ADMIN = "console-admin-key"
SHOTS = os.environ.get("AISTACK_SCREENSHOTS")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_gateway({"AISTACK_SERVER__API_KEYS": f"[{KEY}]", "AISTACK_DEPLOY__ADMIN_KEYS": f"[{ADMIN}]"},
                           tmp_path_factory.mktemp("console"), "console")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "the console tests need Debian's chromium: apt-get install chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, gateway: ServerProcess) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(gateway.url + "/")
    yield page
    context.close()
    assert not errors, errors  # no script error on any page


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"))


def sign_in(page, key: str = KEY) -> None:
    page.fill("#login-key", key)
    page.click("#login-form button[type=submit]")


def ask(page, question: str) -> None:
    page.fill("#prompt", question)
    page.press("#prompt", "Enter")


def test_the_page_is_served_without_a_key_and_holds_no_data(gateway: ServerProcess) -> None:
    import httpx

    page = httpx.get(gateway.url + "/")
    assert page.status_code == 200 and "<title>aistack console</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(gateway.url + "/console/console.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(gateway.url + "/console/../settings.yaml").status_code == 404
    assert httpx.get(gateway.url + "/v1/models").status_code == 401  # the data still needs the key


def test_a_wrong_key_is_refused_then_an_answer_streams_in(page) -> None:
    page.wait_for_selector("#login", state="visible")  # the script shows it once loaded: is_visible would not wait
    sign_in(page, "not-the-key")
    page.wait_for_selector("#login-error:has-text('That key was not accepted')")
    assert "not-the-key" not in page.url
    shot(page, "login")
    sign_in(page)
    page.wait_for_selector("#view-chat:not([hidden])")
    assert page.input_value("#model") == "smollm2-135m-instruct"
    ask(page, "Name three colours.")
    page.wait_for_selector("#stop:not([hidden])")
    answer = page.locator("#messages li.assistant .text")
    lengths = []
    while page.is_visible("#stop"):
        lengths.append(len(answer.inner_text()))
        page.wait_for_timeout(100)
    assert len(answer.inner_text()) > 0 and len({n for n in lengths if n}) > 1, lengths  # it grew while streaming
    assert page.locator("#messages li").count() == 2
    shot(page, "chat")
    page.reload()  # the conversation is kept in the browser; the key for this session
    page.wait_for_selector("#conversations li:has-text('Name three colours.')")
    page.click("#conversations li button:has-text('Name three colours.')")
    assert page.locator("#messages li").count() == 2
    page.click("#conversations li button[aria-label^='Delete']")
    assert page.locator("#conversations li").count() == 0


def test_stop_cancels_a_generation_and_the_next_one_works(page) -> None:
    sign_in(page)
    ask(page, "Write a very long story about a lighthouse keeper, with many chapters.")
    answer = page.locator("#messages li.assistant .text")
    while len(answer.inner_text()) <= 20:  # polled here: the console's CSP forbids Playwright's eval
        assert page.is_visible("#stop"), "the answer ended before it could be stopped"
        page.wait_for_timeout(50)
    page.click("#stop")
    page.wait_for_selector("#messages li.assistant:has-text('(stopped)')")
    assert page.is_visible("#send") and not page.is_visible("#stop")
    ask(page, "Say hello.")
    page.wait_for_selector("#stop:not([hidden])")
    page.wait_for_selector("#send:not([hidden])")
    assert page.locator("#messages li.assistant").count() == 2
    assert "(failed" not in page.locator("#messages li.assistant").nth(1).inner_text()


def test_uploads_show_per_file_results_and_a_rag_answer_opens_its_citation(page, tmp_path: Path) -> None:
    sign_in(page)
    page.wait_for_selector("#view-chat:not([hidden])")
    page.click("nav button[data-view=documents]")
    page.fill("#new-collection-name", "handbook")
    page.click("#new-collection button[type=submit]")
    page.wait_for_selector("#documents-title:has-text('handbook')")
    ports = tmp_path / "ports.md"
    ports.write_text("# Ports\n\nQdrant listens on port 6333 for HTTP and on port 6334 for gRPC.\n")
    backups = tmp_path / "backups.txt"
    backups.write_text("Snapshots of every collection are kept for seven days, then pruned.\n")
    page.set_input_files("#files", [str(ports), str(backups)])
    page.wait_for_selector("#upload-results li:has-text('ports.md: added')")
    assert "backups.txt: added" in page.inner_text("#upload-results")
    page.wait_for_selector("#collections tr:has-text('handbook') td:nth-child(2):text-is('2')")
    page.wait_for_selector("#documents tbody tr:nth-child(2)")  # the list follows the counts
    assert page.locator("#documents tbody tr").count() == 2
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not really a PDF")
    page.set_input_files("#files", [str(broken)])
    page.wait_for_selector("#upload-results li.failed")
    assert re.search(r"broken\.pdf: failed \(.+\)", page.inner_text("#upload-results"))
    shot(page, "documents")

    page.click("nav button[data-view=chat]")
    page.check("#rag")
    page.select_option("#collection", "handbook")
    ask(page, "Which port does Qdrant use for gRPC?")
    page.wait_for_selector("#messages li.assistant .chips button")
    page.wait_for_selector("#send:not([hidden])")
    page.click("#messages li.assistant .chips button >> nth=0")
    page.wait_for_selector("#citation[open]")
    assert "ports.md" in page.inner_text("#citation-title") and "6334" in page.inner_text("#citation-text")
    shot(page, "citation")
    page.click("#citation button")

    page.click("nav button[data-view=documents]")
    page.wait_for_selector("#documents tbody tr:has-text('backups.txt')")
    page.click("#documents tbody tr:has-text('backups.txt') button")
    page.click("#confirm-ok")
    page.wait_for_selector("#collections tr:has-text('handbook') td:nth-child(2):text-is('1')")


def test_operations_show_live_figures_and_ask_for_the_admin_key(page) -> None:
    sign_in(page)
    page.wait_for_selector("#view-chat:not([hidden])")
    page.click("nav button[data-view=operations]")
    page.wait_for_selector("#figures dt:has-text('requests')")
    requests = int(page.inner_text("#figures div:has(dt:text-is('requests')) dd"))
    assert requests >= 1  # the earlier chats, counted by the gateway's own /metrics
    assert page.is_visible("#admin-form")
    page.fill("#admin-key", "wrong-admin-key")
    page.click("#admin-form button[type=submit]")
    page.wait_for_selector("#ops-error:not(:empty)")
    shot(page, "operations")


def test_an_admin_makes_a_team_and_a_key_and_revokes_it(page, gateway: ServerProcess) -> None:
    import time

    import httpx

    sign_in(page)
    page.wait_for_selector("#view-chat:not([hidden])")
    page.click("nav button[data-view=access]")
    page.fill("#access-key", KEY)  # a user key is not an admin's
    page.click("#access-form button[type=submit]")
    page.wait_for_selector("#access-error:has-text('admin')")
    page.fill("#access-key", ADMIN)
    page.click("#access-form button[type=submit]")
    page.wait_for_selector("#access-body:not([hidden])")
    page.fill("#new-team-name", "red")
    page.click("#new-team button[type=submit]")
    page.wait_for_selector("#teams td:text-is('red')")
    page.fill("#new-key-name", "laptop")
    page.uncheck("#new-key-scopes input[value=embeddings]")
    page.click("#new-key button[type=submit]")
    secret = page.inner_text("#new-key-secret code")
    assert re.fullmatch(r"sk-ais-[0-9a-f]{8}-\S{43}", secret)
    page.wait_for_selector("#keys td:text-is('laptop')")
    row = page.locator("#keys tr:has(td:text-is('laptop'))")
    assert "embeddings" not in row.inner_text() and "active" in row.inner_text()
    used = httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert used.status_code == 200
    shot(page, "access")
    row.locator("button").click()
    page.click("#confirm-ok")
    page.wait_for_selector("#keys tr:has(td:text-is('laptop')) td:text-is('revoked')")
    deadline = time.monotonic() + 1.5
    while httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.05)


def test_operators_switch_and_roll_back_behind_a_confirmation(browser, embedded_gateway: ServerProcess,
                                                               tmp_path: Path) -> None:
    import httpx

    port = free_port()
    env = {"AISTACK_PROFILES": "test", "AISTACK_HOME": str(tmp_path / "front"), "AISTACK_SETTINGS_DIR": str(tmp_path),
           "AISTACK_SERVER__PORT": str(port), "AISTACK_LLM__BACKEND": "slots",
           "AISTACK_DEPLOY__ADMIN_KEYS": "[ops-admin]", "AISTACK_DEPLOY__REFRESH_INTERVAL": "0.2"}
    front = ServerProcess([str(BIN / "aistack"), "serve"], port, "/health", env, log=tmp_path / "front.log")
    try:
        admin = httpx.Client(base_url=front.url, headers={"Authorization": "Bearer ops-admin"}, timeout=120)
        for name in ("blue", "green"):  # both external slots reach the shared embedded gateway
            slot = {"url": embedded_gateway.url + "/v1", "runtime": "external", "version": f"{name}-1",
                    "model": "smollm2-135m-instruct"}
            assert admin.put(f"/v1/admin/slots/{name}", json=slot).status_code == 200
        assert admin.post("/v1/admin/slots/blue/deploy", json={}).json()["ok"]

        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(60_000)
        page.goto(front.url + "/")
        page.wait_for_selector("#view-chat:not([hidden])")  # no API keys on this gateway: no sign-in
        page.click("nav button[data-view=operations]")
        page.fill("#admin-key", "ops-admin")
        page.click("#admin-form button[type=submit]")
        blue, green = "#slots tr:has(td:text-is('blue'))", "#slots tr:has(td:text-is('green'))"
        page.wait_for_selector(f"{blue} td:text-is('active')")
        assert page.locator(f"{blue} button").count() == 0  # the live slot has no switch button
        page.click(f"{green} button")
        page.wait_for_selector("#confirm[open]:has-text('Switch all traffic to green?')")
        page.click("#confirm button[value=cancel]")
        assert admin.get("/v1/admin/slots").json()["data"][0]["state"] == "active"  # nothing happened
        page.click(f"{green} button")
        page.click("#confirm-ok")
        page.wait_for_selector(f"{green} td:text-is('active')")
        shot(page, "operations-slots")
        page.click("#rollback")
        page.click("#confirm-ok")
        page.wait_for_selector(f"{blue} td:text-is('active')")
        states = {s["name"]: s["state"] for s in admin.get("/v1/admin/slots").json()["data"]}
        assert states["blue"] == "active" and states["green"] != "active"
        audit = admin.get("/v1/admin/audit").json()["data"]
        by_console = [(row["action"], row["slot"]) for row in audit if row["actor"].startswith("console")]
        assert ("switch-to", "green") in by_console and ("switch-to", "blue") in by_console, by_console
        page.close()
    finally:
        front.stop()


def test_keyboard_only_phone_width_and_dark_mode(browser, gateway: ServerProcess) -> None:
    # bypass_csp lets Playwright measure the layout with evaluate(); the CSP itself is tested above
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(gateway.url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.keyboard.type(KEY)  # the key field has the focus
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-chat:not([hidden])")
    page.keyboard.type("Say hi.")  # after sign-in the focus is in the message box
    page.keyboard.press("Enter")
    page.wait_for_selector("#messages li.assistant")
    page.wait_for_selector("#send:not([hidden])")
    page.focus("nav button[data-view=documents]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-documents:not([hidden])")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(19, 20, 22)", background  # the dark palette, from the system setting
    shot(page, "phone-dark")
    context.close()

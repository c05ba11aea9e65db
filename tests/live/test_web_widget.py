"""The patient web chat in headless Chromium (Debian's, never a downloaded one).

Each test opens the page in a fresh browser context (empty localStorage) and
fails if the page raised a script error, opened a dialog or broke its own
Content-Security-Policy. Screenshots of each state go to test-output/web/.
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from bot.config import PROJECT_ROOT, settings
from bot.policy import FAILSAFE_LINE
from bot.stack import Stack, free_port

pytestmark = pytest.mark.live

SHOTS = PROJECT_ROOT / "test-output" / "web"
TIMEOUT_MS = 30_000  # a first turn can be slow while Rasa warms up
ACCEPT = "I understand, start the chat"
TEL = re.compile(r"tel:\+?\d+")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 900, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    tab.on("console", lambda message: "Content Security Policy" in message.text
           and problems.append(f"CSP: {message.text}"))
    yield tab
    context.close()
    assert not problems, problems


@pytest.fixture(scope="module")
def web_without_rasa(tmp_root):
    """A second web server whose RASA_URL is a closed port: Rasa "down" without
    stopping the shared one."""
    web = Stack(rasa_port=free_port(), action_port=free_port(), token="unused",
                web_port=free_port(), log_dir=tmp_root / "logs-web-without-rasa")
    web.start_web()
    try:
        web.wait_until_up(timeout=60)
        yield web.web_url
    finally:
        web.stop()


@contextmanager
def hospital_site(origin: str, chat_url: str):
    """A page on `origin` that embeds the chat with the one tag hospitals use."""
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hospital</title>'
            f'<script src="{chat_url}/widget.js" defer></script></head>'
            f'<body><main><h1>Haematology day unit</h1><p>Your visit.</p></main></body></html>').encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", urlsplit(origin).port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield origin + "/"
    finally:
        server.shutdown()
        server.server_close()


# --- helpers --------------------------------------------------------------------

def shot(target, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SHOTS / f"{name}.png"))


def widget(page: Page):
    return page.locator(".tc-root")


def open_chat(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_role("button", name=ACCEPT).click()
    expect(page.get_by_label("Your message")).to_be_focused()


def wait_for_reply(page: Page) -> None:
    expect(page.locator(".tc-log")).to_have_attribute("aria-busy", "false", timeout=TIMEOUT_MS)


def say(page: Page, text: str) -> None:
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")
    wait_for_reply(page)


def click_reply(page: Page, title: str) -> None:
    page.get_by_role("group", name="Quick replies").get_by_role("button", name=title, exact=True).click()
    wait_for_reply(page)


def shown_messages(page: Page) -> list[str]:
    return page.locator(".tc-log > *").all_inner_texts()


def saved_state(page: Page) -> dict:
    return page.evaluate("""() => {
        const key = Object.keys(localStorage).find((k) => k.startsWith("triage-chat:"));
        return JSON.parse(localStorage.getItem(key));
    }""")


def tel_links(locator) -> list[str]:
    return locator.locator('a[href^="tel:"]').evaluate_all("links => links.map(a => a.getAttribute('href'))")


def tel(number: str) -> str:
    return "tel:" + re.sub(r"[^0-9+]", "", number)


# --- tests ----------------------------------------------------------------------

def test_privacy_notice_comes_before_the_first_message(live_web, page):
    page.goto(live_web.url + "/")
    notice = page.locator(".tc-notice")
    expect(notice).to_contain_text(f"{settings().retention_days} days")
    expect(notice).to_contain_text("care team")
    expect(notice).to_contain_text("What is stored")
    expect(page.get_by_label("Your message")).to_be_hidden()
    shot(widget(page), "privacy-notice")
    page.get_by_role("button", name=ACCEPT).click()
    expect(notice).to_be_hidden()
    expect(page.get_by_label("Your message")).to_be_focused()
    page.reload()  # accepted once is enough
    expect(page.get_by_label("Your message")).to_be_visible()
    expect(notice).to_be_hidden()


def test_full_triage_by_typing_and_the_history_after_a_reload(live_web, live_bot, page):
    _, bot = live_bot
    open_chat(page, live_web.url)
    say(page, "hi")
    expect(page.locator(".tc-log")).to_contain_text("Is there any bleeding from the biopsy site?")
    for _ in range(5):
        say(page, "no")
    advice = page.locator(".tc-msg--bot").last
    expect(advice).to_contain_text("expected after a biopsy")
    expect(advice).to_contain_text("Source:")
    shot(widget(page), "advice-by-typing")
    sender = saved_state(page)["sender"]
    assert bot.slots(sender)["triage_level"] == "self_care"

    before = shown_messages(page)
    page.reload()
    expect(page.locator(".tc-msg--bot").last).to_contain_text("Source:")
    assert shown_messages(page) == before
    assert saved_state(page)["sender"] == sender
    shot(widget(page), "history-after-reload")
    say(page, "thank you")  # the same conversation goes on
    assert [e["text"] for e in bot.tracker(sender)["events"] if e["event"] == "user"][-1] == "thank you"


def test_full_triage_by_buttons(live_web, page):
    open_chat(page, live_web.url)
    answers = ["Start", "Yes, it's bleeding", "Yes, it stops", "No, steady and normal",
               "No fever or chills", "No, none of those", "No, it's clean and dry", "No lumps"]
    for title in answers:
        click_reply(page, title)
    log = page.locator(".tc-log")
    expect(log).to_contain_text("needs to be checked")
    expect(log).to_contain_text("Source:")
    expect(page.locator(".tc-banner")).to_have_count(0)  # contact the team: no emergency banner
    assert tel_links(page.locator(".tc-msg--bot").last)  # but a number to call
    expect(page.locator(".tc-msg--user p")).to_have_text(answers)
    shot(widget(page), "advice-by-buttons")


def test_red_flag_shows_the_emergency_banner_with_phone_links(live_web, page):
    cfg = settings()
    open_chat(page, live_web.url)
    say(page, "hi")
    say(page, "I can't breathe")
    banner = page.locator(".tc-banner--emergency")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"Emergency: call {cfg.emergency_number} now")
    links = tel_links(banner)
    assert links[0] == tel(cfg.emergency_number)  # the first and biggest
    assert {tel(cfg.urgent_number), tel(cfg.department_phone)} <= set(links)
    assert all(TEL.fullmatch(link) for link in links)
    expect(banner.get_by_role("link", name=f"Call {cfg.emergency_number}")).to_be_visible()
    # The banner comes first, then the advice text with its reason and source.
    advice = page.locator(".tc-banner--emergency + .tc-msg--bot")
    expect(advice).to_contain_text("Difficulty breathing is an emergency")
    expect(advice).to_contain_text("Source:")
    shot(widget(page), "emergency-banner")


def test_markup_is_shown_as_text(live_web, page):
    open_chat(page, live_web.url)
    scripts = page.locator("script").count()
    attacks = ["<script>alert(1)</script>", '<img src=x onerror="alert(2)">']
    for attack in attacks:
        say(page, attack)
    for _ in range(2):  # as sent, and as re-shown from localStorage after a reload
        expect(page.locator(".tc-msg--user p")).to_have_text(attacks)
        assert page.locator("script").count() == scripts
        assert page.locator(".tc-root img").count() == 0
        page.reload()
    shot(widget(page), "markup-as-text")


def test_start_again_clears_the_shown_history(live_web, page):
    open_chat(page, live_web.url)
    say(page, "hi")
    say(page, "no")
    expect(page.locator(".tc-log")).to_contain_text("fever")
    page.get_by_role("button", name="Start again").click()
    wait_for_reply(page)
    expect(page.locator(".tc-log")).not_to_contain_text("fever")
    expect(page.locator(".tc-msg--user")).to_have_count(1)
    expect(page.locator(".tc-log")).to_contain_text("OK, let's start again")
    expect(page.get_by_role("group", name="Quick replies").get_by_role("button")).to_have_count(3)
    assert [e["from"] for e in saved_state(page)["history"]] == ["user", "bot", "bot"]


def test_keyboard_only(live_web, page):
    page.goto(live_web.url + "/")
    accept = page.get_by_role("button", name=ACCEPT)
    expect(accept).to_be_visible()
    page.keyboard.press("Tab")
    expect(accept).to_be_focused()
    page.keyboard.press("Enter")
    box = page.get_by_label("Your message")
    expect(box).to_be_focused()
    page.keyboard.type("hi")
    page.keyboard.press("Enter")
    wait_for_reply(page)
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    no = page.get_by_role("button", name="No bleeding", exact=True)
    expect(no).to_be_focused()
    ring = no.evaluate("b => [getComputedStyle(b).outlineStyle, getComputedStyle(b).outlineWidth]")
    assert ring == ["solid", "3px"]  # a visible focus ring
    shot(widget(page), "keyboard-focus")
    page.keyboard.press("Enter")
    wait_for_reply(page)
    expect(box).to_be_focused()  # the buttons went away; focus stays in the chat
    expect(page.locator(".tc-msg--user").last).to_contain_text("No bleeding")


def test_fail_safe_line_when_rasa_is_down(web_without_rasa, page):
    open_chat(page, web_without_rasa)
    say(page, "hi")
    failsafe = page.locator(".tc-msg--failsafe")
    expect(failsafe).to_contain_text(FAILSAFE_LINE)
    cfg = settings()
    assert tel_links(failsafe) == [tel(cfg.urgent_number), tel(cfg.emergency_number)]
    shot(widget(page), "failsafe-rasa-down")


def test_fail_safe_line_when_the_page_cannot_reach_the_server(live_web, page):
    open_chat(page, live_web.url)
    page.route("**/api/chat", lambda route: route.abort())
    say(page, "hi")
    expect(page.locator(".tc-msg--failsafe")).to_contain_text(FAILSAFE_LINE)
    shot(widget(page), "failsafe-offline")
    page.route("**/api/config", lambda route: route.abort())
    page.reload()  # not even the settings come through
    expect(page.locator(".tc-msg--failsafe")).to_contain_text(FAILSAFE_LINE)


def test_works_320_px_wide(live_web, page):
    page.set_viewport_size({"width": 320, "height": 640})
    open_chat(page, live_web.url)
    say(page, "hi")
    say(page, "I can't breathe")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    for part in [page.get_by_label("Your message"), page.get_by_role("button", name="Send"),
                 page.get_by_role("button", name="Start again"),
                 *page.locator(".tc-banner a").all()]:
        part.scroll_into_view_if_needed()
        box = part.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 320, part
        assert box["height"] >= 44  # a finger-sized target
    shot(page, "mobile-320")


def test_no_serious_accessibility_violations(live_web, web_without_rasa, page):
    axe = Axe()

    def check(state: str) -> None:
        results = axe.run(page).response
        assert results["testEngine"]["name"] == "axe-core"  # it really ran in the page
        violations = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert not violations, (state, [(v["id"], v["help"], [n["target"] for n in v["nodes"]])
                                        for v in violations])

    page.goto(live_web.url + "/")
    check("privacy notice")
    page.get_by_role("button", name=ACCEPT).click()
    say(page, "hi")
    check("question with quick replies")
    say(page, "I can't breathe")
    check("emergency banner")
    page.set_viewport_size({"width": 320, "height": 640})
    check("320 px")
    open_chat(page, web_without_rasa)
    say(page, "hi")
    check("fail-safe line")


def test_one_script_tag_embeds_the_widget_on_an_allowed_site(live_web, page):
    with hospital_site(live_web.embedding_origin, live_web.url) as site:
        page.goto(site)
        launcher = page.get_by_role("button", name="Check your biopsy symptoms")
        expect(launcher).to_have_attribute("aria-expanded", "false")
        launcher.click()
        page.get_by_role("button", name=ACCEPT).click()
        say(page, "hi")
        expect(page.locator(".tc-log")).to_contain_text("Is there any bleeding from the biopsy site?")
        shot(page, "embedded")
        page.keyboard.press("Escape")
        expect(widget(page)).to_be_hidden()
        expect(launcher).to_be_focused()
        expect(launcher).to_have_attribute("aria-expanded", "false")


def test_a_site_not_in_allowed_origins_gets_only_the_fail_safe_line(live_web, page):
    with hospital_site(f"http://127.0.0.1:{free_port()}", live_web.url) as site:
        page.goto(site)
        page.get_by_role("button", name="Check your biopsy symptoms").click()
        expect(page.locator(".tc-msg--failsafe")).to_contain_text(FAILSAFE_LINE)
        expect(page.get_by_label("Your message")).to_be_hidden()

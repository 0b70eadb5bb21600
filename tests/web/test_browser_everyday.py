"""What a person sees, in real Chromium at desktop width and on a 390 px phone: the first
run, recorded names, local times and national numbers, the queue, list errors, the policy
page on a phone, the favicon, the challenge badges, blocked impersonation calls, API docs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from screener.demo.fake_asterisk import wav_tone
from screener.domain.vocabulary import ChallengeResult, ListKind
from tests.support.calls import make_list, record_call
from tests.web.live_server import PASSWORD, LiveServer
from tests.web.test_browser import SHOTS, browser, sign_in

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with test_browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("everyday"), time_zone="Europe/London")
    live.start()
    yield live
    live.stop()


class Watch:
    """Every response that failed and every console error of a page."""

    def __init__(self, page: Page) -> None:
        self.missing: list[str] = []
        self.errors: list[str] = []
        page.on("response", lambda r: self.missing.append(r.url) if r.status == 404 else None)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)


def pages(browser: Browser) -> Iterator[tuple[str, Page, Watch]]:
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, is_mobile=name == "phone")
        page = context.new_page()
        try:
            yield name, page, Watch(page)
        finally:
            context.close()


WIDEST = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > 391)
    .slice(0, 8)
    .map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 60))"""


def no_sideways_scroll(page: Page, name: str) -> None:
    if name == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            print(page.evaluate(WIDEST))
        assert width <= 390, f"{page.url} scrolls sideways on a phone ({width}px)"


def call(server: LiveServer, number: str, name: str, **kwargs: object) -> str:
    return server.run(
        record_call(server.database, server.screening, number, name, **kwargs)  # type: ignore[arg-type]
    )


def test_first_run_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("screener.web").addHandler(handler)
    logging.getLogger("screener.web").setLevel(logging.INFO)
    fresh = LiveServer(tmp_path, users=False)
    try:
        fresh.start()
    finally:
        logging.getLogger("screener.web").removeHandler(handler)
    try:
        lines = [r.getMessage() for r in records if "/setup?token=" in r.getMessage()]
        assert len(lines) == 1
        link = re.search(r"http://\S+/setup\?token=\S+", lines[0])
        assert link
        for name, page, watch in pages(browser):
            page.goto(fresh.url + "/login")
            note = page.locator("#first-run")
            expect(note).to_contain_text("screener users add NAME --role admin")
            expect(note).to_contain_text(str(tmp_path / "live.db"))
            no_sideways_scroll(page, name)
            page.screenshot(path=str(SHOTS / f"first-run-login-{name}.png"), full_page=True)
            if name == "phone":
                page.goto(link.group(0))
                expect(page).to_have_url(fresh.url + "/setup")
                expect(page.get_by_role("heading", name="Create the first admin")).to_be_visible()
                page.get_by_label("Username").fill("ada")
                page.get_by_label("Password (at least 8 characters)").fill("short")
                page.get_by_label("Password again").fill("short")
                page.evaluate("document.querySelectorAll('input').forEach(i => i.minLength = 0)")
                page.get_by_role("button", name="Create admin").click()
                expect(page.get_by_role("alert")).to_contain_text("at least 8 characters")
                expect(page.get_by_label("Username")).to_have_value("ada")
                no_sideways_scroll(page, name)
                page.screenshot(path=str(SHOTS / "first-run-setup-phone.png"), full_page=True)
                page.get_by_label("Password (at least 8 characters)").fill(PASSWORD)
                page.get_by_label("Password again").fill(PASSWORD)
                page.get_by_role("button", name="Create admin").click()
                expect(page.get_by_role("status")).to_contain_text("Admin ada created")
                expect(page.locator("#first-run")).to_have_count(0)
                page.get_by_label("Username").fill("ada")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_role("heading", name="Live calls")).to_be_visible()
                response = page.goto(link.group(0))
                assert response is not None and response.status == 404
            assert not [u for u in watch.missing if "/setup?token=" not in u], watch.missing
    finally:
        fresh.stop()


def test_recorded_name_player_or_reason(browser: Browser, server: LiveServer) -> None:
    (server.directory / "screener-said.wav").write_bytes(wav_tone(1.0))
    played = call(
        server, "07911 123456", "Has A Name", outcome="connected", recording="screener-said"
    )
    missing = call(
        server, "07911 123457", "Lost Name", outcome="connected", recording="screener-lost"
    )
    for name, page, watch in pages(browser):
        sign_in(page, server, "desk")
        page.goto(server.url + f"/calls/{played}")
        audio = page.locator("audio")
        expect(audio).to_be_visible()
        duration = page.evaluate(
            """async () => { const a = document.querySelector('audio'); a.preload = 'auto';
               a.load(); await new Promise(r => a.addEventListener('loadedmetadata', r,
               {once: true})); return a.duration; }"""
        )
        assert 0.9 < duration < 1.1  # the browser decoded the WAV
        no_sideways_scroll(page, name)
        page.screenshot(path=str(SHOTS / f"call-recording-{name}.png"), full_page=True)
        page.goto(server.url + f"/calls/{missing}")
        expect(page.locator("audio")).to_have_count(0)
        expect(page.locator("#no-recording")).to_contain_text("screener-lost.wav")
        no_sideways_scroll(page, name)
        page.screenshot(path=str(SHOTS / f"call-no-recording-{name}.png"), full_page=True)
        assert watch.errors == [], watch.errors


def test_local_times_national_numbers_and_badges(browser: Browser, server: LiveServer) -> None:
    passed = call(
        server, "020 7946 0018", "Passed Caller", outcome="connected",
        challenge=ChallengeResult.PASSED, presentation="allowed_not_screened",
    )  # fmt: skip
    failed = call(
        server, "0909 879 0001", "Failed Caller", outcome="challenge-failed",
        challenge=ChallengeResult.FAILED,
    )  # fmt: skip
    for name, page, watch in pages(browser):
        sign_in(page, server, "desk")
        row = page.locator(f"#call-{passed}")
        expect(row.locator(".caller-number")).to_have_text("020 7946 0018")
        expect(row.locator(".caller-number")).to_have_attribute("title", "+442079460018")
        expect(row.locator("time")).to_have_text(
            re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (GMT|BST)")
        )
        expect(row.locator("time")).to_have_attribute("title", re.compile(r"Z$"))
        passed_badge = row.locator(".r-challenge-passed")
        failed_badge = page.locator(f"#call-{failed} .r-challenge-failed")
        expect(passed_badge).to_contain_text("Passed the check")
        expect(failed_badge).to_contain_text("Failed the check")
        colours = [
            b.evaluate("e => getComputedStyle(e).backgroundColor")
            for b in (passed_badge, failed_badge)
        ]
        assert colours[0] != colours[1]
        marks = [
            b.evaluate("e => getComputedStyle(e, '::before').content")
            for b in (passed_badge, failed_badge)
        ]
        assert marks[0] != marks[1]
        no_sideways_scroll(page, name)
        page.screenshot(path=str(SHOTS / f"board-local-{name}.png"), full_page=True)
        page.goto(server.url + f"/calls/{passed}")
        expect(page.locator("dl.facts")).to_contain_text("number shown")
        expect(page.locator("dl.facts")).not_to_contain_text("_screened")
        assert [u for u in watch.missing if "favicon" in u] == []


def test_queue_opens_on_unreviewed_and_any_shows_all(browser: Browser, server: LiveServer) -> None:
    done = call(server, "anonymous", "Reviewed Already")
    waiting = call(server, "anonymous", "Still Waiting")
    for name, page, _ in pages(browser):
        sign_in(page, server, "desk")
        if name == "desktop":
            page.goto(server.url + f"/calls/{done}")
            page.get_by_role("button", name="Legitimate").click()
            expect(page.get_by_role("status")).to_contain_text("Marked as legitimate.")
        page.get_by_role("link", name="To review").click()
        expect(page.get_by_label("Review")).to_have_value("unreviewed")
        expect(page.locator(f"#call-{waiting}")).to_be_visible()
        expect(page.locator(f"#call-{done}")).to_have_count(0)
        page.get_by_label("Review").select_option("any")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator(f"#call-{done}")).to_be_visible()
        expect(page.get_by_label("Review")).to_have_value("any")
        no_sideways_scroll(page, name)
        page.screenshot(path=str(SHOTS / f"queue-any-{name}.png"), full_page=True)


def test_bad_number_on_the_add_form_is_kept(browser: Browser, server: LiveServer) -> None:
    list_id = server.run(make_list(server.database, "Cold callers", ListKind.NUISANCE))
    for name, page, _ in pages(browser):
        sign_in(page, server, "admin")
        page.goto(server.url + f"/lists/{list_id}")
        page.get_by_label("Number (or a prefix ending in *)").fill("0800 NOPE")
        page.get_by_label("Label", exact=True).fill("typo")
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.locator("#add-error")).to_contain_text("0800 NOPE")
        expect(page.get_by_label("Number (or a prefix ending in *)")).to_have_value("0800 NOPE")
        expect(page.get_by_label("Label", exact=True)).to_have_value("typo")
        no_sideways_scroll(page, name)
        page.screenshot(path=str(SHOTS / f"list-bad-number-{name}.png"), full_page=True)


def test_policy_and_admin_pages_fit_a_phone(browser: Browser, server: LiveServer) -> None:
    for name, page, watch in pages(browser):
        sign_in(page, server, "admin")
        for path in ("/admin/policy", "/admin/audit", "/admin/users", "/api/v1/docs"):
            page.goto(server.url + path)
            no_sideways_scroll(page, name)
            shot = path.strip("/").replace("/", "-")
            page.screenshot(path=str(SHOTS / f"{shot}-{name}.png"), full_page=True)
        assert watch.errors == [], watch.errors  # nothing refused by the CSP
        expect(page.get_by_role("link", name="OpenAPI document")).to_be_visible()


def test_blocked_impersonation_says_what_to_do_instead(
    browser: Browser, server: LiveServer
) -> None:
    server.run(
        make_list(server.database, "Police stations", ListKind.DO_NOT_ORIGINATE, "+441134960999")
    )
    blocked = call(server, "0113 496 0999", "POLICE", outcome="blocked")
    for name, page, _ in pages(browser):
        sign_in(page, server, "desk")
        page.goto(server.url + f"/calls/{blocked}")
        warning = page.locator(".impersonation-warning")
        expect(warning).to_contain_text("Screener blocked this call.")
        expect(warning).to_contain_text("101")
        expect(page.locator("main")).not_to_contain_text("Hang up")
        no_sideways_scroll(page, name)
        page.screenshot(path=str(SHOTS / f"call-blocked-impersonation-{name}.png"), full_page=True)

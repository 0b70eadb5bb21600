"""Live screening end to end in real Chromium: the whole service (ARI flow, recorder, web
console) against the fake Asterisk. A call placed on the fake Asterisk appears on a signed-in
receptionist's board as waiting, its recording plays, Connect makes the fake Asterisk receive
the continue to the configured location, and a second browser (a phone) sees the decision and
who made it. Screenshots at desk (1280) and phone (390) width go to the test's tmp dir."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from screener.application.unit_of_work import UnitOfWork
from screener.db.models import Call
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk, FakeChannel
from screener.domain.model import Actor
from screener.users import service as users
from tests.ari.harness import PASSWORD as ARI_PASSWORD
from tests.ari.harness import Running, fast_settings, running_service
from tests.support.pgcluster import free_port
from tests.web.test_browser import browser

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with test_browser

T = TypeVar("T")
PASSWORD = "correct horse battery"
DESK = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CALLER = '<b onmouseover="x()">Mrs Sharma</b>'
NOTES = (
    "window.__notes = []; window.Notification = class { static permission = 'granted'; "
    "static requestPermission() { return Promise.resolve('granted'); } "
    "constructor(title, options) { window.__notes.push([title, options.body]); } };"
)
"""Notifications as a browser that was given permission shows them, recorded for the test."""


class LiveService:
    """The whole service and a fake Asterisk in a thread with their own event loop."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory = directory
        self.loop = asyncio.new_event_loop()
        self.run_: Running
        self._ready = threading.Event()
        self._stop: asyncio.Event
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="live-service", daemon=True)

    def _settings(self, ari_url: str) -> Any:
        return fast_settings(
            f"sqlite+aiosqlite:///{self.directory / 'live.db'}",
            ari_url,
            web={
                "enabled": True,
                "host": "127.0.0.1",
                "port": self.port,
                "secret_key": "screening-secret-" + "z" * 40,
                "secure_cookies": False,
            },
            # Asterisk's copy of the recording, over ARI (Screener on another host).
            ari={"recordings_dir": "", "continue_context": "reception", "continue_extension": "s"},
            policy={"actions": {"withheld": "screen"}},
            screen={"decision_timeout_seconds": 120, "watch_grace_seconds": 0},
        )

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        pbx = FakeAsterisk(password=ARI_PASSWORD, time_scale=0.05)
        await pbx.start()
        try:
            async with running_service(self._settings, pbx=pbx) as run:
                self.run_ = run
                setup = Actor.system("test")
                for name, role in (("desk", "reception"), ("admin", "admin")):
                    await users.create_user(
                        UnitOfWork(run.ctx.database, setup), name, PASSWORD, role
                    )
                self._ready.set()
                await self._stop.wait()
        finally:
            await pbx.stop()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(60)
        if self._error:
            raise self._error

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(30)

    def place_call(self, name: str) -> FakeChannel:
        async def place() -> FakeChannel:
            behaviour = CallerBehaviour(speak_seconds=3)
            return self.run_.pbx.place_call("anonymous", name, behaviour=behaviour)

        return self.run(place())

    def call_id(self, channel: FakeChannel) -> str:
        async def find() -> str:
            async with asyncio.timeout(10):
                while True:
                    async with self.run_.ctx.database.sessions() as session:
                        found = await session.scalar(
                            select(Call.id).where(Call.channel_id == channel.id)
                        )
                    if found:
                        return str(found)
                    await asyncio.sleep(0.02)

        return self.run(find())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    live = LiveService(tmp_path_factory.mktemp("screening"))
    live.start()
    yield live
    live.stop()


def board(browser: Browser, service: LiveService, user: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE)
    context.add_init_script(NOTES)
    page = context.new_page()
    page.goto(service.url + "/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Live calls")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Live.")
    return page


def test_a_waiting_call_is_decided_from_the_board(
    browser: Browser, service: LiveService, tmp_path: Path
) -> None:
    desk = board(browser, service, "desk", DESK)
    phone = board(browser, service, "admin", PHONE)
    try:
        channel = service.place_call(CALLER)
        call_id = service.call_id(channel)
        card, mobile = desk.locator(f"#wait-{call_id}"), phone.locator(f"#wait-{call_id}")
        expect(card).to_have_attribute("data-state", "on-hold", timeout=15000)
        expect(mobile).to_have_attribute("data-state", "on-hold")
        # Number and name as presented, escaped; every reason in words; the countdown.
        expect(card.locator(".caller-name")).to_have_text(CALLER)
        assert desk.evaluate("typeof window.x") == "undefined"
        expect(card.locator(".wait-reasons")).to_contain_text("Number withheld")
        expect(card.locator(".countdown")).to_have_text(re.compile(r"1[01]\d s"))
        # The recording plays as soon as it ends (Asterisk's copy, over ARI).
        audio = card.locator("audio")
        desk.wait_for_function(
            "el => el.readyState >= 2 && el.duration > 0", arg=audio.element_handle(), timeout=15000
        )
        # A sound and a notification announced it.
        notes = desk.evaluate("window.__notes")
        assert notes and notes[0][0] == "Call waiting for you" and CALLER in notes[0][1]
        desk.screenshot(path=str(tmp_path / "screening-waiting-desk.png"), full_page=True)
        phone.screenshot(path=str(tmp_path / "screening-waiting-phone.png"), full_page=True)
        # A withheld number cannot be blocked: no Block button, even for an admin.
        expect(card.get_by_role("button", name="Block")).to_have_count(0)
        expect(mobile.get_by_role("button", name="Block")).to_have_count(0)
        card.get_by_role("button", name="Connect").click()
        expect(card).to_have_attribute("data-state", "decided")
        service.run(service.run_.finished(channel))
        assert channel.continued_to == ("reception", "s", 1)
        assert channel.caller_name.startswith("[screened] ")
        # The second browser sees the decision and who made it.
        expect(mobile).to_have_attribute("data-state", "decided")
        expect(mobile.locator(".wait-status")).to_contain_text("Connect by desk")
        phone.screenshot(path=str(tmp_path / "screening-decided-phone.png"), full_page=True)
        desk.screenshot(path=str(tmp_path / "screening-decided-desk.png"), full_page=True)
    finally:
        desk.context.close()
        phone.context.close()
    for name in ("waiting-desk", "waiting-phone", "decided-desk", "decided-phone"):
        assert (tmp_path / f"screening-{name}.png").stat().st_size > 10_000


def test_the_caller_hanging_up_and_a_keyboard_decline_show_on_the_board(
    browser: Browser, service: LiveService, tmp_path: Path
) -> None:
    page = board(browser, service, "desk", DESK)
    try:
        leaving = service.place_call("Caller who leaves")
        staying = service.place_call("Caller who stays")
        gone, kept = service.call_id(leaving), service.call_id(staying)
        expect(page.locator(f"#wait-{gone}")).to_have_attribute(
            "data-state", "on-hold", timeout=15000
        )
        expect(page.locator(f"#wait-{kept}")).to_have_attribute("data-state", "on-hold")
        service.run(service.run_.pbx.caller_hangs_up(leaving))
        card = page.locator(f"#wait-{gone}")
        expect(card).to_have_attribute("data-state", "ended", timeout=1000)
        expect(card.locator(".wait-status")).to_contain_text("Caller hung up while waiting")
        # Decline by keyboard: the buttons are ordinary, focusable buttons.
        decline = page.locator(f"#wait-{kept}").get_by_role("button", name="Decline")
        decline.focus()
        page.keyboard.press("Enter")
        expect(page.locator(f"#wait-{kept}")).to_have_attribute("data-state", "decided")
        service.run(service.run_.finished(staying))
        assert staying.result == "hung-up" and "sound:vm-goodbye" in staying.heard
        page.screenshot(path=str(tmp_path / "screening-ended-desk.png"), full_page=True)
    finally:
        page.context.close()

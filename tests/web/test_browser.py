"""End to end in real Chromium: login, live board, review, block, import, roles, XSS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from screener.calls import store
from screener.domain.events import CallFinished
from screener.domain.model import CallEnding
from screener.domain.vocabulary import Outcome, Step, Verdict
from tests.support.calls import record_call
from tests.web.live_server import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
XSS_NAMES = (
    "<script>window.__x=1</script>",
    '"><img src=x onerror=window.__x=1>',
    "</script><svg onload=window.__x=1>",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("live"))
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    yield page
    assert dialogs == [], f"a dialog opened: {dialogs}"
    context.close()


def sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/login?next=%2F")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Live calls")).to_be_visible()


def record(server: LiveServer, number: str, name: str, publish: bool = True) -> str:
    bus = server.bus if publish else None
    return server.run(record_call(server.database, server.screening, number, name, bus=bus))


def finish(server: LiveServer, call_id: str, outcome: Outcome) -> None:
    async def go() -> None:
        ending = CallEnding(outcome, Step.PROMPT, Verdict.CHALLENGE)
        finished = CallFinished(call_id, "main", ending, datetime.now(UTC))
        async with server.database.sessions.begin() as session:
            assert await store.finish_call(session, finished)
        server.bus.publish(finished)

    server.run(go())


def no_script_ran(page: Page) -> None:
    assert page.evaluate("typeof window.__x") == "undefined"


def test_login_rejects_wrong_password(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    page.screenshot(path=str(SHOTS / "login-failed.png"))


def test_live_board_receives_calls_and_escapes_them(page: Page, server: LiveServer) -> None:
    sign_in(page, server, "desk")
    expect(page.locator("#live-status")).to_have_text("Live.")
    ids = [record(server, "anonymous", name) for name in XSS_NAMES]
    ids.append(record(server, "02071234567", "Legit Caller Ltd"))
    for call_id in ids:
        expect(page.locator(f"#call-{call_id}")).to_be_visible()
    expect(page.locator(f"#call-{ids[0]} .caller-name")).to_have_text(XSS_NAMES[0])
    expect(page.locator(f"#call-{ids[1]} .caller-name")).to_have_text(XSS_NAMES[1])
    expect(page.locator(f"#call-{ids[2]} .caller-name")).to_have_text(XSS_NAMES[2])
    finish(server, ids[0], Outcome.ABANDONED)
    expect(page.locator(f"#call-{ids[0]}")).to_contain_text("Caller hung up")
    no_script_ran(page)
    page.screenshot(path=str(SHOTS / "board-live.png"), full_page=True)
    page.reload()
    expect(page.locator(f"#call-{ids[1]} .caller-name")).to_have_text(XSS_NAMES[1])
    no_script_ran(page)
    page.goto(server.url + "/queue")
    expect(page.locator(f"#call-{ids[2]} .caller-name")).to_have_text(XSS_NAMES[2])
    no_script_ran(page)
    page.screenshot(path=str(SHOTS / "queue.png"), full_page=True)
    for call_id in ids[:3]:
        page.goto(server.url + f"/calls/{call_id}")
        expect(page.locator("h1")).to_be_visible()
        no_script_ran(page)


def test_review_a_call(page: Page, server: LiveServer) -> None:
    call_id = record(server, "anonymous", "Robot Caller", publish=False)
    sign_in(page, server, "desk")
    page.goto(server.url + f"/calls/{call_id}")
    page.get_by_label("Note (optional)").fill("pressed no digit, silence")
    page.get_by_role("button", name="Scam").click()
    expect(page.get_by_role("status")).to_contain_text("Marked as scam.")
    expect(page.locator("dl.facts")).to_contain_text("Scam by desk: pressed no digit, silence")
    expect(page.locator("ol.timeline")).to_contain_text("Reviewed")
    page.screenshot(path=str(SHOTS / "call-reviewed.png"), full_page=True)


def test_block_from_call_page_then_list(page: Page, server: LiveServer) -> None:
    call_id = record(server, "07700 900456", "Pushy Sales", publish=False)
    sign_in(page, server, "admin")
    page.goto(server.url + f"/calls/{call_id}")
    page.locator("#block-expiry").select_option("7")
    page.locator("#block-note").fill("cold calls")
    page.get_by_role("button", name="Block 07700 900456").click()
    expect(page.get_by_role("status")).to_contain_text("added to \u201cBlocked from console\u201d")
    page.get_by_role("link", name="Lists").click()
    page.get_by_role("link", name="Blocked from console").click()
    expect(page.locator("#entries")).to_contain_text("07700 900456")
    expect(page.locator("#entries code[title='+447700900456']")).to_be_visible()
    expect(page.locator("#entries")).to_contain_text("Pushy Sales")
    page.screenshot(path=str(SHOTS / "list-after-block.png"), full_page=True)
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("#audit")).to_contain_text("+447700900456")


def test_impersonation_warning_and_phone_layout(browser: Browser, server: LiveServer) -> None:
    async def make_brand_list() -> None:
        from screener.domain.vocabulary import ListKind
        from screener.lists import repo as lists_repo

        async with server.database.sessions.begin() as session:
            if await lists_repo.get_list(session, "Banks") is None:
                bank = await lists_repo.create_list(session, "Banks", ListKind.TRUSTED_BRAND)
                await lists_repo.add_entry(
                    session,
                    server.screening.analyser,
                    bank,
                    lists_repo.EntryInput(value="03457404404", label="Big Bank"),
                    "test",
                )

    server.run(make_brand_list())
    call_id = record(server, "03457404404", "BIG BANK FRAUD", publish=False)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page, server, "desk")
        page.goto(server.url + f"/calls/{call_id}")
        warning = page.locator(".impersonation-warning")
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("101")
        expect(warning).to_contain_text("159")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
        page.screenshot(path=str(SHOTS / "call-impersonation-phone.png"), full_page=True)
        page.goto(server.url + "/")
        page.screenshot(path=str(SHOTS / "board-phone.png"), full_page=True)
    finally:
        context.close()


def test_bulk_import_with_a_bad_row(page: Page, server: LiveServer, tmp_path: Path) -> None:
    sign_in(page, server, "admin")
    page.goto(server.url + "/lists")
    page.get_by_label("Name").fill("Imported nuisance")
    page.get_by_label("Kind").select_option("nuisance")
    page.get_by_role("button", name="Create list").click()
    expect(page.get_by_role("heading", name="Imported nuisance")).to_be_visible()
    csv = tmp_path / "numbers.csv"
    csv.write_text("number,label\n07700900101,a\n<img src=x onerror=window.__x=1>,b\n")
    page.get_by_label("File (CSV").set_input_files(str(csv))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#import-status[data-state='rejected']")).to_be_visible()
    expect(page.locator("#rejections")).to_contain_text("<img src=x onerror=window.__x=1>")
    no_script_ran(page)
    page.screenshot(path=str(SHOTS / "import-rejected.png"), full_page=True)
    page.go_back()
    page.get_by_label("File (CSV").set_input_files(str(csv))
    page.get_by_label("Import the good lines").check()
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#import-status[data-state='done']")).to_contain_text("1 added")
    page.get_by_role("link", name="Imported nuisance").click()
    expect(page.locator("#entries")).to_contain_text("07700 900101")


def test_reception_is_denied_admin_pages(page: Page, server: LiveServer) -> None:
    sign_in(page, server, "desk")
    expect(page.get_by_role("link", name="Policy")).to_have_count(0)
    response = page.goto(server.url + "/admin/users")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.goto(server.url + "/lists")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_admin_pages_and_keyboard(page: Page, server: LiveServer) -> None:
    record(server, "09098790000", "Premium", publish=False)
    sign_in(page, server, "admin")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    for path, name in (
        ("/admin/policy", "policy"),
        ("/admin/stats", "stats"),
        ("/admin/users", "users"),
        ("/admin/audit", "audit"),
    ):
        page.goto(server.url + path)
        page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)
    page.goto(server.url + "/admin/policy")
    page.get_by_label("Number", exact=True).fill("09098790000")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#check-result")).to_contain_text("+449098790000")
    page.screenshot(path=str(SHOTS / "policy-check.png"), full_page=True)

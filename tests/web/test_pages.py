"""Every page renders for the roles allowed to see it, with caller text escaped."""

from __future__ import annotations

from screener.domain.vocabulary import ListKind
from tests.support.calls import make_list, record_call
from tests.web.conftest import SignedIn, WebApp

XSS_NAMES = (
    "<script>window.__x=1</script>",
    '"><img src=x onerror=window.__x=1>',
    "</script><svg onload=window.__x=1>",
)


async def test_board_and_queue_show_calls_escaped(webapp: WebApp, desk: SignedIn) -> None:
    ids = []
    for name in XSS_NAMES:
        ids.append(await record_call(webapp.database, webapp.screening, "0900 000 0000", name))
    board = await desk.client.get("/")
    queue = await desk.client.get("/queue")
    call = await desk.client.get(f"/calls/{ids[1]}")
    for page in (board, queue):
        assert page.status_code == 200
        for call_id in ids:
            assert f"call-{call_id}" in page.text
    for page in (board, queue, call):
        assert "<script>window" not in page.text
        assert "<img src=x" not in page.text
        assert "<svg onload" not in page.text
    assert "&lt;script&gt;window.__x=1&lt;/script&gt;" in board.text
    assert "&#34;&gt;&lt;img src=x onerror=window.__x=1&gt;" in call.text


async def test_queue_filters(webapp: WebApp, desk: SignedIn) -> None:
    premium = await record_call(webapp.database, webapp.screening, "09098790000", "Prem")
    withheld = await record_call(webapp.database, webapp.screening, "anonymous", "Anon")
    allowed = await record_call(webapp.database, webapp.screening, "+442071234567", "Fine")
    page = await desk.client.get("/queue")
    assert premium in page.text and withheld in page.text
    assert allowed not in page.text  # not flagged
    by_reason = await desk.client.get("/queue", params={"reason": "withheld"})
    assert withheld in by_reason.text and premium not in by_reason.text
    by_number = await desk.client.get("/queue", params={"number": "0909 879 0000"})
    assert premium in by_number.text and withheld not in by_number.text
    by_verdict = await desk.client.get("/queue", params={"verdict": "block"})
    assert premium not in by_verdict.text
    future = await desk.client.get("/queue", params={"since": "2999-01-01"})
    assert premium not in future.text
    bad = await desk.client.get("/queue", params={"number": "<b>nope</b>"})
    assert "That is not a phone number" in bad.text and "<b>nope" not in bad.text


async def test_queue_pagination(webapp: WebApp, desk: SignedIn) -> None:
    ids = [
        await record_call(webapp.database, webapp.screening, "anonymous", f"c{i}")
        for i in range(53)
    ]
    first = await desk.client.get("/queue")
    assert first.text.count('id="call-') == 50
    import re

    after = re.search(r'after=([^"]+)"', first.text)
    assert after
    import html

    second = await desk.client.get("/queue?" + html.unescape(after.group(0)[:-1]))
    assert second.text.count('id="call-') == 3
    assert ids[0] in second.text and ids[-1] not in second.text


async def test_impersonation_warning(webapp: WebApp, desk: SignedIn) -> None:
    await make_list(webapp.database, "Banks", ListKind.TRUSTED_BRAND, "+442079460999")
    call_id = await record_call(webapp.database, webapp.screening, "02079460999", "Your Bank")
    page = await desk.client.get(f"/calls/{call_id}")
    assert "may be pretending to be a trusted organisation" in page.text
    assert "<strong>101</strong>" in page.text and "<strong>159</strong>" in page.text
    plain = await record_call(webapp.database, webapp.screening, "anonymous", "x")
    assert "pretending" not in (await desk.client.get(f"/calls/{plain}")).text


async def test_call_page_details_and_timeline(webapp: WebApp, desk: SignedIn) -> None:
    call_id = await record_call(
        webapp.database,
        webapp.screening,
        "+44 20 7123 4567",
        "Acme",
        trunk="sip-main",
        outcome="connected",
    )
    page = await desk.client.get(f"/calls/{call_id}")
    assert page.status_code == 200
    for text in (
        "+44 20 7123 4567",
        "+442071234567",
        "Acme",
        "+442079460000",
        "sip-main",
        "Decided",
        "Left Screener",
        "Put through",
    ):
        assert text in page.text
    assert (await desk.client.get("/calls/doesnotexist")).status_code == 404


async def test_recording_served_and_validated(webapp: WebApp, desk: SignedIn) -> None:
    from pathlib import Path

    recordings = Path(webapp.settings.ari.recordings_dir)
    (recordings / "name-abc.wav").write_bytes(b"RIFF....WAVEfmt ")
    (recordings.parent / "secret.wav").write_bytes(b"secret")
    good = await record_call(
        webapp.database,
        webapp.screening,
        "anonymous",
        "x",
        outcome="connected",
        recording="name-abc",
    )
    evil = await record_call(
        webapp.database,
        webapp.screening,
        "anonymous",
        "x",
        outcome="connected",
        recording="../secret.wav",
    )
    missing = await record_call(
        webapp.database,
        webapp.screening,
        "anonymous",
        "x",
        outcome="connected",
        recording="gone",
    )
    page = await desk.client.get(f"/calls/{good}")
    assert f'<audio controls preload="none" src="/calls/{good}/recording">' in page.text
    audio = await desk.client.get(f"/calls/{good}/recording")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content.startswith(b"RIFF")
    assert (await desk.client.get(f"/calls/{evil}/recording")).status_code == 404
    assert (await desk.client.get(f"/calls/{missing}/recording")).status_code == 404
    assert "<audio" not in (await desk.client.get(f"/calls/{missing}")).text


async def test_admin_pages_render(webapp: WebApp, admin: SignedIn) -> None:
    await record_call(webapp.database, webapp.screening, "09098790000", "Prem", outcome="blocked")
    list_id = await make_list(webapp.database, "Friends", ListKind.CONTACTS, "+442079460001")
    for url in (
        "/lists",
        f"/lists/{list_id}",
        "/admin/policy",
        "/admin/users",
        "/admin/users/1",
        "/admin/audit",
        "/admin/stats",
        "/admin/stats?days=7",
        "/check",
        "/check?number=09098790000",
    ):
        response = await admin.client.get(url)
        assert response.status_code == 200, (url, response.text[:500])
    stats = await admin.client.get("/admin/stats")
    assert "<svg" in stats.text and "Premium-rate number" in stats.text
    check = await admin.client.get("/check?number=09098790000")
    assert "+449098790000" in check.text and "challenge" in check.text


async def test_security_headers(webapp: WebApp, desk: SignedIn) -> None:
    page = await desk.client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_a_problem_affecting_every_call_is_on_every_page(
    webapp: WebApp, desk: SignedIn
) -> None:
    """A missing dialplan location (reported by the call flow) shows on every page, escaped."""
    ctx = webapp.app.state.web
    assert "service-warning" not in (await desk.client.get("/")).text
    ctx.warnings = lambda: ["Calls put through to <screend,s,1> are lost"]
    for page in ("/", "/queue", "/lists", "/login"):
        text = (await desk.client.get(page)).text
        assert 'class="service-warning" role="alert"' in text, page
        assert "&lt;screend,s,1&gt; are lost" in text and "<screend" not in text

"""One call vocabulary end to end: calls over ARI and FastAGI on the same running service,
counted, filtered and charted with the same words (real database, fake Asterisk, real
FastAGI sessions, the real web server)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from screener.application.unit_of_work import UnitOfWork
from screener.demo.fake_asterisk import CallerBehaviour
from screener.domain.model import Actor
from screener.domain.vocabulary import ListKind
from screener.users import service as users
from tests.agi.conftest import agi_call
from tests.ari.harness import add_list, fast_settings, running_service
from tests.support.pgcluster import free_port
from tests.web.conftest import PASSWORD, csrf_of

CONTACT = "+442071838750"
NUISANCE = "+447911123456"


async def seed(session: Any) -> None:
    await add_list(session, "contacts", ListKind.CONTACTS, CONTACT)
    await add_list(session, "nuisance", ListKind.NUISANCE, NUISANCE)


def metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {sample}")


async def test_every_outcome_is_counted_filtered_and_charted_the_same_way(
    sqlite_url: str,
) -> None:
    agi_port, web_port = free_port(), free_port()

    def settings(url: str) -> Any:
        return fast_settings(
            sqlite_url,
            url,
            agi={"enabled": True, "host": "127.0.0.1", "port": agi_port},
            web={"enabled": True, "port": web_port, "secure_cookies": False},
            challenge={"record_name": False},
        )

    async with running_service(settings, seed=seed, digits="4") as run:
        pbx = run.pbx
        channels = [
            pbx.place_call(CONTACT, "ACME"),  # connected, allow
            pbx.place_call(NUISANCE, "PEST"),  # blocked
            pbx.place_call("anonymous", behaviour=CallerBehaviour(presses=("correct",))),
            pbx.place_call("anonymous", behaviour=CallerBehaviour(presses=("wrong",) * 3)),
            pbx.place_call("anonymous", behaviour=CallerBehaviour(hang_up_at="prompt")),
        ]
        for channel in channels:
            await run.finished(channel)
        for put_through in (channels[0], channels[2]):  # answered at extension 100
            await asyncio.wait_for(put_through.destroyed.wait(), 10)
        # Over FastAGI: a challenge the dialplan reports passed and then answered, and one
        # it reports failed.
        passed = await agi_call(agi_port, callerid="anonymous", uniqueid="1.100")
        failed = await agi_call(agi_port, callerid="anonymous", uniqueid="1.101")
        for result, words in ((passed, ("passed", "answered")), (failed, ("failed",))):
            for word in words:
                call_id = result.variables["SCREENER_CALL_ID"]
                reply = await agi_call(agi_port, "outcome", args=(call_id, word))
                assert reply.variables == {"SCREENER_OUTCOME": "recorded"}
        # A call sent back on shutdown: fail-open.
        waiting = pbx.place_call("anonymous", behaviour=CallerBehaviour(presses=()))
        async with asyncio.timeout(10):
            while waiting.prompts_heard == 0:
                await asyncio.sleep(0.01)
        assert run.ctx.ari is not None
        await run.ctx.ari.app.shutdown()
        await run.finished(waiting)
        await run.call_record(waiting)

        await users.create_user(
            UnitOfWork(run.ctx.database, Actor.system("test")), "desk", PASSWORD, "admin"
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}") as web:
            metrics = (await web.get("/metrics")).text
            login = await web.get("/login")
            await web.post(
                "/login",
                data={"username": "desk", "password": PASSWORD, "csrf_token": csrf_of(login.text)},
            )
            queue = await web.get("/queue", params={"action": "challenge"})
            results = await web.get("/queue", params={"verdict": "challenge-failed"})
            stats = await web.get("/admin/stats", params={"days": 7})

    # Every outcome either path produced, each under its own label.
    outcomes = {
        "connected": 3,  # ARI allow and pass, FastAGI pass
        "blocked": 1,
        "challenge-failed": 2,  # ARI and FastAGI
        "abandoned": 1,
        "fail-open": 1,
    }
    for outcome, count in outcomes.items():
        assert metric(metrics, f'screener_call_outcomes_total{{outcome="{outcome}"}}') == count
    assert metric(metrics, 'screener_call_verdicts_total{verdict="challenge-passed"}') == 2
    assert metric(metrics, 'screener_call_verdicts_total{verdict="challenge-failed"}') == 2
    assert metric(metrics, 'screener_call_verdicts_total{verdict="challenge"}') == 2
    # Followed after the hand-back (ARI) or reported by the dialplan (FastAGI).
    assert metric(metrics, 'screener_call_deliveries_total{delivery="answered"}') == 3
    assert metric(metrics, 'screener_call_decisions_total{action="challenge"}') == 6
    assert metric(metrics, 'screener_calls_started_total{source="agi"}') == 2
    assert metric(metrics, 'screener_calls_started_total{source="ari"}') == 6
    assert 'outcome="other"' not in metrics
    # The decision filter finds the finished challenges of both paths, not only unfinished ones.
    assert queue.status_code == 200
    assert queue.text.count('<tr id="call-') == 6
    assert results.text.count('<tr id="call-') == 2
    # Calls per day count every call, finished challenges included; the results chart and
    # the pass rate use the same words.
    assert "8 calls since" in stats.text
    assert "(2 passed, 2 failed)" in stats.text

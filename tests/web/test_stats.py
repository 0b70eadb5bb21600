"""Statistics figures computed from real call records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from screener.calls.store import deliver_call
from screener.db.lifecycle import Database
from screener.domain.events import CallDelivered
from screener.domain.vocabulary import Action, ChallengeResult, Delivery, Outcome, Verdict
from screener.web.charts import Bar, horizontal_bars
from screener.web.context import WebContext
from screener.web.stats import cached_stats
from tests.support.calls import finish_call, record_call
from tests.web.conftest import SignedIn, WebApp


async def test_figures(webapp: WebApp, admin: SignedIn) -> None:
    db, screening = webapp.database, webapp.screening
    premium = [await record_call(db, screening, "09098790000", "p") for _ in range(3)]
    await finish_call(db, premium[0], "connected", ChallengeResult.PASSED)
    await deliver(db, premium[0], Delivery.NO_ANSWER)
    for call_id in premium[1:]:
        await finish_call(db, call_id, "challenge-failed", ChallengeResult.FAILED)
    await record_call(db, screening, "anonymous", "w")  # still in the challenge
    await record_call(db, screening, "+442071234567", "ok", outcome="connected")
    ctx: WebContext = webapp.app.state.web
    stats = await cached_stats(ctx, 7)
    # Every call counts on its day by its decision, finished challenges included.
    assert stats.total == 5
    assert sum(c[Action.CHALLENGE] for c in stats.per_day.values()) == 4
    assert sum(c[Action.ALLOW] for c in stats.per_day.values()) == 1
    assert stats.verdicts[Verdict.CHALLENGE_PASSED] == 1
    assert stats.verdicts[Verdict.CHALLENGE_FAILED] == 2
    assert stats.outcomes[Outcome.CONNECTED] == 2
    assert stats.outcomes[Outcome.CHALLENGE_FAILED] == 2
    assert stats.in_progress == 1
    assert stats.pass_rate == pytest.approx(1 / 3)
    # The challenged call put through rang unanswered (the allowed one is not "screened").
    assert (stats.screened_answered, stats.screened_unanswered) == (0, 1)
    assert stats.deliveries[Delivery.NO_ANSWER] == 1
    assert stats.top_flagged == [("+449098790000", 3)]
    assert stats.top_blocked == []
    reasons = dict(stats.reasons)
    assert reasons["withheld"] == 1 and reasons["premium_rate_cli"] == 3
    assert "no_match" not in reasons
    page = await admin.client.get("/admin/stats", params={"days": 7})
    assert page.status_code == 200
    assert "Passed the check" in page.text and "Failed the check" in page.text
    assert "<strong>0 answered</strong>, 1 not answered." in page.text
    # cached: a new call does not change the figures within the minute
    await record_call(webapp.database, webapp.screening, "anonymous", "w")
    assert (await cached_stats(ctx, 7)).total == 5


async def deliver(db: Database, call_id: str, delivery: Delivery) -> None:
    async with db.sessions.begin() as session:
        delivered = CallDelivered(call_id, "main", delivery, datetime.now(UTC), "100")
        assert await deliver_call(session, delivered)


def test_chart_labels_are_escaped() -> None:
    svg = str(horizontal_bars([Bar("<script>x</script>", 3)], 'a "title"'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "aria-label='a \"title\"'" in svg

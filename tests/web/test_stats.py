"""Statistics figures computed from real call records."""

from __future__ import annotations

import pytest

from screener.db import calls_repo
from screener.web.charts import Bar, horizontal_bars
from screener.web.context import WebContext
from screener.web.stats import cached_stats
from tests.web.calls_support import record_call
from tests.web.conftest import WebApp


async def test_figures(webapp: WebApp) -> None:
    premium = [
        await record_call(webapp.database, webapp.screening, "09098790000", "p") for _ in range(3)
    ]
    await record_call(webapp.database, webapp.screening, "anonymous", "w")
    await record_call(webapp.database, webapp.screening, "+442071234567", "ok")
    async with webapp.database.sessions.begin() as session:
        await calls_repo.finish_call(
            session, premium[0], outcome="connected", challenge_result="passed"
        )
        await calls_repo.finish_call(
            session, premium[1], outcome="hung_up", challenge_result="failed"
        )
        await calls_repo.finish_call(
            session, premium[2], outcome="hung_up", challenge_result="failed"
        )
    ctx: WebContext = webapp.app.state.web
    stats = await cached_stats(ctx, 7)
    assert stats.total == 5
    assert sum(c["challenge"] for c in stats.per_day.values()) == 4
    assert sum(c["allow"] for c in stats.per_day.values()) == 1
    assert stats.pass_rate == pytest.approx(1 / 3)
    assert stats.top_flagged == [("+449098790000", 3)]
    assert stats.top_blocked == []
    reasons = dict(stats.reasons)
    assert reasons["withheld"] == 1 and reasons["premium_rate_cli"] == 3
    assert "no_match" not in reasons
    # cached: a new call does not change the figures within the minute
    await record_call(webapp.database, webapp.screening, "anonymous", "w")
    assert (await cached_stats(ctx, 7)).total == 5


def test_chart_labels_are_escaped() -> None:
    svg = str(horizontal_bars([Bar("<script>x</script>", 3)], 'a "title"'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "aria-label='a \"title\"'" in svg

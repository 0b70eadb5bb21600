"""Statistics with server-rendered SVG charts (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from screener.domain import labels
from screener.web.charts import Bar, horizontal_bars, stacked_days
from screener.web.context import web_context
from screener.web.deps import Admin
from screener.web.rendering import reason_label, render
from screener.web.stats import cached_stats

router = APIRouter()

WINDOWS = (7, 30, 90)


@router.get("/admin/stats")
async def stats_page(request: Request, user: Admin, days: int = Query(30)) -> Response:
    if days not in WINDOWS:
        days = 30
    stats = await cached_stats(web_context(request), days)
    return render(
        request,
        "stats.html",
        {
            "stats": stats,
            "windows": WINDOWS,
            "per_day_chart": stacked_days(stats.per_day, f"Calls per day, last {days} days"),
            "results_chart": horizontal_bars(
                [Bar(labels.VERDICTS[v], stats.verdicts[v]) for v in labels.VERDICTS],
                "Results of screening",
            ),
            "outcomes_chart": horizontal_bars(
                [Bar(labels.OUTCOMES[o], stats.outcomes[o]) for o in labels.OUTCOMES],
                "How calls left Screener",
            ),
            "screened_chart": horizontal_bars(
                [
                    Bar(labels.SCREEN_DECISIONS[d], stats.screened[d])
                    for d in labels.SCREEN_DECISIONS
                ],
                "Screened calls by decision",
            ),
            "deliveries_chart": horizontal_bars(
                [Bar(labels.DELIVERIES[d], stats.deliveries[d]) for d in labels.DELIVERIES],
                "After the hand-back",
            ),
            "reasons_chart": horizontal_bars(
                [Bar(reason_label(code), n) for code, n in stats.reasons],
                "Why calls were flagged",
            ),
            "blocked_chart": horizontal_bars(
                [Bar(n, c) for n, c in stats.top_blocked], "Most blocked numbers", "#c62828"
            ),
            "flagged_chart": horizontal_bars(
                [Bar(n, c) for n, c in stats.top_flagged], "Most flagged numbers", "#ef6c00"
            ),
        },
    )

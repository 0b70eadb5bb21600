"""``screener demo``: the real service screening a realistic mix of calls from a simulated PBX.

The simulated PBX is :class:`~screener.demo.fake_asterisk.FakeAsterisk` on 127.0.0.1 with a
random password; the service is the same one ``screener run`` starts
(:func:`screener.composition.run`). A simulation never touches the configured database:
it runs on its own (``demo.database_url``), with demo lists and a demo login, and says
so in the log, on ``/healthz`` and in the console.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from screener import composition
from screener.composition import Screener
from screener.db.lifecycle import open_database
from screener.db.models import User
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk, FakeChannel
from screener.domain.events import CallDecided, CallFinished
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import CallSource, ListKind
from screener.lists import repo as lists_repo
from screener.settings import Settings
from screener.users.accounts import Role, get_user, utcnow
from screener.users.passwords import hash_password

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoCall:
    label: str
    number: str
    name: str = ""
    presentation: str = "allowed_not_screened"
    behaviour: CallerBehaviour = field(default_factory=CallerBehaviour)


CONTACT = "+442071838750"
POLICE_SPOOF = "+442072301212"
DNO_NUMBER = "+443000200300"
NUISANCE = "+447911123456"

DEMO_LISTS: dict[str, tuple[ListKind, str, tuple[str, ...]]] = {
    "demo-contacts": (ListKind.CONTACTS, "Demo: the office's customers", (CONTACT,)),
    "demo-trusted-brands": (
        ListKind.TRUSTED_BRAND,
        "Demo: numbers scammers spoof (police switchboard)",
        (POLICE_SPOOF,),
    ),
    "demo-do-not-originate": (
        ListKind.DO_NOT_ORIGINATE,
        "Demo: inbound-only numbers that never make calls",
        (DNO_NUMBER,),
    ),
    "demo-nuisance": (ListKind.NUISANCE, "Demo: known nuisance callers", (NUISANCE,)),
}

DEMO_CALLS: tuple[DemoCall, ...] = (
    DemoCall("known contact", CONTACT, "ACME LTD"),
    DemoCall(
        "withheld (anonymous), presses the right digit and says their name",
        "anonymous",
        "Anonymous",
        behaviour=CallerBehaviour(presses=("correct",)),
    ),
    DemoCall(
        "withheld (number visible, presentation prohibited), presses a wrong digit every time",
        "+441632960961",
        "",
        "prohib_not_screened",
        CallerBehaviour(presses=("wrong", "wrong", "wrong")),
    ),
    DemoCall(
        "spoofed police number, hangs up at the prompt",
        POLICE_SPOOF,
        "POLICE",
        behaviour=CallerBehaviour(hang_up_at="prompt"),
    ),
    DemoCall("do-not-originate number (HMRC-style)", DNO_NUMBER, "HMRC"),
    DemoCall("listed nuisance number", NUISANCE, "PRIZE DRAW"),
    DemoCall(
        "withheld, presses the right digit during the prompt",
        "anonymous",
        "Anonymous",
        behaviour=CallerBehaviour(presses=("correct",), press_during_prompt=True),
    ),
    DemoCall(
        "withheld, presses a wrong digit then the right one",
        "anonymous",
        "",
        behaviour=CallerBehaviour(presses=("wrong", "correct")),
    ),
    DemoCall(
        "withheld, never presses anything",
        "anonymous",
        "Anonymous",
        behaviour=CallerBehaviour(presses=()),
    ),
)


async def seed_demo_lists(session: AsyncSession, analyser: NumberAnalyser) -> list[str]:
    """Create the demo lists that do not exist yet; the names of those created."""
    created = []
    for name, (kind, description, numbers) in DEMO_LISTS.items():
        if await lists_repo.get_list(session, name) is not None:
            continue
        number_list = await lists_repo.create_list(session, name, kind, description=description)
        for number in numbers:
            await lists_repo.add_entry(
                session, analyser, number_list, lists_repo.EntryInput(number, label="demo"), "demo"
            )
        created.append(name)
    return created


DEMO_USER = "demo"
SIMULATION_BANNER = (
    "SIMULATION: calls come from Screener's built-in PBX simulator, not from Asterisk, "
    "and are recorded in the demo database {url}, not in {configured}."
)


async def ensure_demo_user(session: AsyncSession) -> str | None:
    """A demo admin login on the demo database; its new password (None if it exists)."""
    if await get_user(session, DEMO_USER) is not None:
        return None
    password = secrets.token_urlsafe(9)
    session.add(
        User(
            username=DEMO_USER,
            display_name="Demo",
            password_hash=hash_password(password),
            role=Role.ADMIN.value,
            can_edit_lists=True,
            active=True,
            created_at=utcnow(),
        )
    )
    return password


def demo_settings(settings: Settings, pbx: FakeAsterisk) -> Settings:
    """The settings pointed at the simulator and the demo database (short digit timeout)."""
    ari = settings.ari.model_copy(
        update={"url": pbx.url, "username": pbx.username, "password": _secret(pbx.password)}
    )
    challenge = settings.challenge.model_copy(
        update={"digit_timeout_seconds": min(settings.challenge.digit_timeout_seconds, 2.0)}
    )
    if settings.demo.database_url == settings.database.url:
        raise ValueError(
            "demo.database_url is the configured database: the simulator never writes into "
            "it; set demo.database_url to a database of its own"
        )
    database = settings.database.model_copy(
        update={"url": settings.demo.database_url, "auto_upgrade": True}
    )
    return settings.model_copy(update={"ari": ari, "challenge": challenge, "database": database})


def _secret(value: str) -> SecretStr:
    return SecretStr(value)


async def run_demo(
    settings: Settings,
    *,
    calls: Sequence[DemoCall] = DEMO_CALLS,
    speed: float = 4.0,
    gap_seconds: float = 1.0,
    keep_running: bool = False,
    web: bool = False,
    say: Callable[[str], None] = print,
) -> dict[str, str]:
    """Place the demo calls and report each outcome; returns label -> outcome."""
    pbx = FakeAsterisk(password=secrets.token_urlsafe(12), time_scale=1 / speed)
    simulated = demo_settings(settings, pbx)
    if not web:
        simulated = simulated.model_copy(
            update={"web": simulated.web.model_copy(update={"enabled": False})}
        )
    banner = SIMULATION_BANNER.format(
        url=_safe(simulated.database.url), configured=_safe(settings.database.url)
    )
    log.warning(banner)
    say(banner)
    async with (
        open_database(simulated.database, upgrade=True) as database,
        database.sessions() as session,
        session.begin(),
    ):
        created = await seed_demo_lists(session, NumberAnalyser(settings.numbers.region))
        password = await ensure_demo_user(session) if web else None
    if created:
        say(f"added demo lists: {', '.join(created)}")
    if password is not None:
        say(f"demo console login: {DEMO_USER} / {password} (on the demo database only)")
    await pbx.start()
    simulated = simulated.model_copy(update={"ari": demo_settings(settings, pbx).ari})
    stop = asyncio.Event()
    ready: asyncio.Future[Screener] = asyncio.get_running_loop().create_future()
    service = asyncio.create_task(
        composition.run(
            simulated,
            stop_event=stop,
            started=ready.set_result,
            source=CallSource.DEMO,
        )
    )
    results: dict[str, str] = {}
    try:
        ctx = await _wait_ready(ready, service)
        async with asyncio.timeout(10):
            while not pbx.app_connected:  # noqa: ASYNC110 - polling the simulator's state
                await asyncio.sleep(0.02)
        say(f"simulated PBX at {pbx.url}; placing {len(calls)} calls")
        results = await _place_calls(ctx, pbx, calls, gap_seconds, say)
        if keep_running:
            say("demo calls done; the service keeps running (Ctrl-C to stop)")
            await service
    finally:
        stop.set()
        await asyncio.gather(service, return_exceptions=True)
        await pbx.stop()
    return results


def _safe(url: str) -> str:
    from screener.db.lifecycle import safe_url

    return safe_url(url)


async def _wait_ready(ready: asyncio.Future[Screener], service: asyncio.Task[None]) -> Screener:
    waiting: set[asyncio.Future[Any]] = {ready, service}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if ready in done:
        return ready.result()
    service.result()  # raises the service's start-up error
    raise RuntimeError("the service stopped before it started")


async def _place_calls(
    ctx: Screener,
    pbx: FakeAsterisk,
    calls: Sequence[DemoCall],
    gap_seconds: float,
    say: Callable[[str], None],
) -> dict[str, str]:
    subscription = ctx.bus.subscribe(kinds={CallDecided, CallFinished})
    placed: dict[str, tuple[DemoCall, FakeChannel]] = {}
    results: dict[str, str] = {}
    verdicts: dict[str, str] = {}
    try:
        for call in calls:
            channel = pbx.place_call(
                call.number,
                call.name,
                presentation=call.presentation,
                behaviour=call.behaviour,
            )
            placed[channel.id] = (call, channel)
            await asyncio.sleep(gap_seconds * pbx.time_scale)
        async with asyncio.timeout(120):
            while len(results) < len(placed):
                event = await subscription.get()
                if isinstance(event, CallDecided):
                    reasons = ", ".join(event.decision.reason_codes)
                    verdicts[event.call_id] = f"{event.decision.action.value} ({reasons})"
                    continue
                if not isinstance(event, CallFinished):
                    continue
                channel_id = _channel_of(ctx, event.call_id, placed)
                if channel_id is None:
                    continue
                demo_call, channel = placed[channel_id]
                outcome = event.ending.outcome.value
                results[demo_call.label] = outcome
                verdict = event.ending.verdict.value if event.ending.verdict else "-"
                say(
                    f"{demo_call.number:>15}  {demo_call.label}\n"
                    f"{'':>15}  decided {verdicts.get(event.call_id, '?')} -> {outcome} "
                    f"[{verdict}] {_where(channel)}"
                )
    finally:
        subscription.close()
    return results


def _channel_of(
    ctx: Screener, call_id: str, placed: dict[str, tuple[DemoCall, FakeChannel]]
) -> str | None:
    if ctx.calls is None:
        return None
    for channel_id, owner in ctx.calls.call_ids.items():
        if owner == call_id and channel_id in placed:
            return channel_id
    return None


def _where(channel: FakeChannel) -> str:
    if channel.result == "continued" and channel.continued_to:
        context, exten, _prio = channel.continued_to
        return f"(rang {exten}@{context})"
    if channel.result == "hung-up":
        return f"(hung up: {channel.hangup_reason})"
    if channel.result == "caller-hung-up":
        return "(caller hung up)"
    return f"({channel.result})"

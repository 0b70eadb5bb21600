"""A policy change made on one instance is in force on every instance sharing the database."""

from __future__ import annotations

import asyncio

from screener import composition
from screener.application.unit_of_work import UnitOfWork
from screener.db.lifecycle import open_database
from screener.domain.model import Actor, CallFacts
from screener.domain.vocabulary import Action, AuditAction, ReasonCode, Via
from screener.policy import service as policy_service
from screener.settings import Settings


async def test_a_policy_change_on_one_instance_takes_effect_on_another(
    settings: Settings,
) -> None:
    settings = settings.model_copy(
        update={
            "web": settings.web.model_copy(update={"enabled": False}),
            "policy": settings.policy.model_copy(update={"sync_seconds": 0.2}),
        }
    )
    async with (
        open_database(settings.database) as first_db,
        open_database(settings.database) as second_db,
    ):
        first = composition.build(settings, first_db)  # two sites sharing one database
        second = composition.build(settings, second_db)
        await composition.start(first)
        await composition.start(second)
        try:
            anonymous = CallFacts("anonymous")
            assert (await second.screening.decide(anonymous)).decision.action is Action.CHALLENGE
            admin = Actor("ada", Via.WEB, "192.0.2.7")
            changes = await policy_service.change_actions(
                UnitOfWork(first_db, admin, first.bus), settings, {"withheld": "block"}
            )
            assert [c.code for c in changes] == [ReasonCode.WITHHELD]
            async with asyncio.timeout(10):
                while second.screening.policy.action_for(ReasonCode.WITHHELD) is not Action.BLOCK:
                    await asyncio.sleep(0.02)
            assert (await second.screening.decide(anonymous)).decision.action is Action.BLOCK
            assert first.screening.policy.action_for(ReasonCode.WITHHELD) is Action.BLOCK
            assert second.policy.reloads == 1
            # Back to the default, from the second site this time.
            await policy_service.change_actions(
                UnitOfWork(second_db, admin, second.bus), settings, {"withheld": "default"}
            )
            async with asyncio.timeout(10):
                while first.screening.policy.action_for(ReasonCode.WITHHELD) is Action.BLOCK:
                    await asyncio.sleep(0.02)
        finally:
            await composition.stop(second)
            await composition.stop(first)
        async with first_db.sessions() as session:
            from screener.audit.log import search

            audited = await search(session, action=AuditAction.POLICY_CHANGE)
    assert [(e.actor, e.via, e.address) for e in audited] == [("ada", "web", "192.0.2.7")] * 2

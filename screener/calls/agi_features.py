"""The desk phone's feature codes over FastAGI: block, always allow, or report as a scam the
last caller connected to a handset.

A receptionist dials a feature code (``*32``...); the dialplan asks for
``agi://host:4573/SCRIPT,EXTENSION[,DID]``, SCRIPT one of
:class:`~screener.domain.vocabulary.PhoneFeature` (``block-last``, ``allow-last``,
``report-last``), EXTENSION the handset's ``${CALLERID(num)}`` (the environment's
``agi_callerid`` when absent). "The last caller" is the newest call answered at that
handset: its ``delivered_to`` is the extension (as a FastAGI dialplan's ``/outcome``
names the phone that answered, ``${CONNECTEDLINE(num)}``) or the handset's own PJSIP
endpoint (as the ARI flow records the phone that answered, from ``agi_channel``). With a
DID, it is the newest call to that number that Screener put through. The action is the
console's use case (same lists, same guard rails, same audit and events), done by
``extension EXTENSION`` via ``phone``.

Sets on the channel, for the dialplan to play a confirmation:

- ``SCREENER_FEATURE_RESULT``  ok | nothing | refused | error (``FeatureResult``)
- ``SCREENER_FEATURE_REASON``  why, unless ok (``FeatureReason``)
- ``SCREENER_FEATURE_NUMBER``  the caller's number as dialled from the office, digits only,
  for ``SayDigits``; empty when there is none or the caller withheld it
- ``SCREENER_FEATURE_CALL_ID`` the call acted on
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from screener.agi.protocol import AgiChannel, AgiEnvironment, AgiHangup
from screener.agi.server import AgiScript
from screener.application.unit_of_work import UnitOfWork
from screener.calls import service
from screener.calls.agi_flow import dialplan_number
from screener.calls.facts import trunk_from_channel_name
from screener.calls.queries import last_connected_call
from screener.db.lifecycle import Database, describe_db_error
from screener.domain.model import Actor
from screener.domain.numbers import InvalidEntry, NumberAnalyser
from screener.domain.vocabulary import FeatureReason, FeatureResult, PhoneFeature, ReviewState
from screener.events import EventBus
from screener.lists.repo import ListError
from screener.lists.service import ImpersonatedNumber

log = logging.getLogger(__name__)

FEATURE_TIMEOUT_SECONDS = 5.0
"""Finding the call and acting on it must not keep the receptionist waiting longer."""


@dataclass(frozen=True, slots=True)
class FeatureRequest:
    """What the dialplan asked for: the handset (and the DID), None when unusable."""

    feature: PhoneFeature
    extension: str | None
    did: str | None = None
    bad_did: bool = False
    endpoint: str | None = None
    """The handset's PJSIP endpoint (``reception`` for ``PJSIP/reception-0000001f``)."""

    @property
    def handset(self) -> list[str]:
        """What a call answered at this handset has as ``delivered_to``."""
        return list(dict.fromkeys(name for name in (self.extension, self.endpoint) if name))


@dataclass(frozen=True, slots=True)
class FeatureOutcome:
    """What a feature code did, as the channel variables say it."""

    result: FeatureResult
    reason: FeatureReason | None = None
    number: str = ""
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class _LastCall:
    id: str
    caller_number: str | None
    withheld: bool
    review_note: str | None


def feature_request(feature: PhoneFeature, env: AgiEnvironment) -> FeatureRequest:
    """The request in a session's arguments (hostile text gives None, never an error)."""
    given = env.arg(1)
    extension = dialplan_number(given if given is not None else env.known("agi_callerid"))
    did_text = env.arg(2)
    did = dialplan_number(did_text)
    endpoint = dialplan_number(trunk_from_channel_name(env.get("agi_channel")))
    return FeatureRequest(
        feature, extension, did, bad_did=did_text is not None and did is None, endpoint=endpoint
    )


class DeskPhoneFeatures:
    """The feature code scripts for the FastAGI server; shared by all sessions."""

    def __init__(
        self, database: Database, bus: EventBus | None, analyser: NumberAnalyser, site: str
    ) -> None:
        self.database = database
        self.bus = bus
        self.analyser = analyser
        self.site = site

    def scripts(self) -> dict[str, AgiScript]:
        return {
            PhoneFeature.BLOCK_LAST.value: self.block_last,
            PhoneFeature.ALLOW_LAST.value: self.allow_last,
            PhoneFeature.REPORT_LAST.value: self.report_last,
        }

    async def block_last(self, env: AgiEnvironment, channel: AgiChannel) -> FeatureOutcome:
        return await self._session(PhoneFeature.BLOCK_LAST, env, channel)

    async def allow_last(self, env: AgiEnvironment, channel: AgiChannel) -> FeatureOutcome:
        return await self._session(PhoneFeature.ALLOW_LAST, env, channel)

    async def report_last(self, env: AgiEnvironment, channel: AgiChannel) -> FeatureOutcome:
        return await self._session(PhoneFeature.REPORT_LAST, env, channel)

    async def _session(
        self, feature: PhoneFeature, env: AgiEnvironment, channel: AgiChannel
    ) -> FeatureOutcome:
        outcome = await self.perform(feature_request(feature, env), channel.peer)
        try:
            await channel.set_variable("SCREENER_FEATURE_RESULT", outcome.result.value)
            await channel.set_variable(
                "SCREENER_FEATURE_REASON", outcome.reason.value if outcome.reason else ""
            )
            await channel.set_variable("SCREENER_FEATURE_NUMBER", outcome.number)
            await channel.set_variable("SCREENER_FEATURE_CALL_ID", outcome.call_id)
        except AgiHangup:
            log.info("the handset hung up before hearing the result (%s)", outcome.result.value)
            raise
        return outcome

    async def perform(self, request: FeatureRequest, address: str | None = None) -> FeatureOutcome:
        """Find the last caller and do ``request.feature`` to it, as the extension."""
        if request.extension is None or request.bad_did:
            log.warning("feature code %s with no usable extension or DID", request.feature.value)
            return FeatureOutcome(FeatureResult.REFUSED, FeatureReason.BAD_REQUEST)
        actor = Actor.phone(request.extension, address)
        try:
            async with asyncio.timeout(FEATURE_TIMEOUT_SECONDS):
                call = await self._last_call(request)
                if call is None:
                    log.info("feature code %s: no last call", request.feature.value)
                    return FeatureOutcome(FeatureResult.NOTHING, FeatureReason.NO_CALL)
                outcome = await self._act(request.feature, call, actor)
        except Exception as exc:  # the database is down or slow: say so, change nothing
            reason = (
                "timed out"
                if isinstance(exc, TimeoutError)
                else describe_db_error(exc, self.database.url)
            )
            expected = isinstance(exc, TimeoutError | SQLAlchemyError | OSError)
            log.error(
                "feature code %s failed: %s", request.feature.value, reason, exc_info=not expected
            )
            return FeatureOutcome(FeatureResult.ERROR, FeatureReason.UNAVAILABLE)
        log.info(
            "feature code %s by %s on call %s: %s%s",
            request.feature.value,
            actor.name,
            call.id,
            outcome.result.value,
            f" ({outcome.reason.value})" if outcome.reason else "",
        )
        return outcome

    async def _last_call(self, request: FeatureRequest) -> _LastCall | None:
        async with self.database.sessions() as session:
            if request.did is not None:
                found = await last_connected_call(session, self.site, dids=self._dids(request.did))
            else:
                found = await last_connected_call(session, self.site, handset=request.handset)
            if found is None:
                return None
            return _LastCall(found.id, found.caller_number, found.withheld, found.review_note)

    def _dids(self, did: str) -> list[str]:
        """The DID as given, and in the forms a dialplan may have passed it when the call
        came in (``+441134960000``, ``441134960000``, ``01134960000``)."""
        forms = [did]
        e164 = self.analyser.normalise(did)
        if e164 is not None:
            forms += [e164, e164.removeprefix("+"), self.analyser.dialable(e164)]
        return list(dict.fromkeys(form for form in forms if form))

    async def _act(self, feature: PhoneFeature, call: _LastCall, actor: Actor) -> FeatureOutcome:
        number = self._spoken(call)
        uow = UnitOfWork(self.database, actor, self.bus)
        try:
            if feature is PhoneFeature.REPORT_LAST:
                # The note a reviewer may have written stays.
                await service.review_call(uow, call.id, ReviewState.SCAM.value, call.review_note)
            else:
                await service.list_caller(
                    uow, self.analyser, call.id, block=feature is PhoneFeature.BLOCK_LAST
                )
        except ImpersonatedNumber:
            return FeatureOutcome(
                FeatureResult.REFUSED, FeatureReason.IMPERSONATION, number, call.id
            )
        except service.NoSuchCall:  # deleted (retention) since it was found
            return FeatureOutcome(FeatureResult.NOTHING, FeatureReason.NO_CALL)
        except (service.CallActionError, ListError, InvalidEntry):
            reason = FeatureReason.WITHHELD if call.withheld else FeatureReason.NO_NUMBER
            return FeatureOutcome(FeatureResult.REFUSED, reason, number, call.id)
        return FeatureOutcome(FeatureResult.OK, None, number, call.id)

    def _spoken(self, call: _LastCall) -> str:
        """The number to read back, never one the caller withheld."""
        if call.caller_number is None or call.withheld:
            return ""
        return self.analyser.dialable(call.caller_number)

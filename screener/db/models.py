"""SQLAlchemy models. The schema itself is owned by the Alembic chain in ``migrations/``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class NumberList(Base):
    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    action: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    entries: Mapped[list[ListEntry]] = relationship(
        back_populates="number_list", cascade="all, delete-orphan", passive_deletes=True
    )


class ListEntry(Base):
    """One number (E.164) or prefix range (``+44207946`` with ``is_prefix``) on a list."""

    __tablename__ = "list_entries"
    __table_args__ = (
        # One index serves both the lookup (value IN prefixes) and idempotent imports.
        UniqueConstraint("value", "is_prefix", "list_id"),
        Index("ix_list_entries_list_id_id", "list_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(20))
    is_prefix: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    added_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    number_list: Mapped[NumberList] = relationship(back_populates="entries")


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_caller_number_started_at", "caller_number", "started_at"),
        Index("ix_calls_flagged_started_at", "flagged", "started_at"),
        Index("ix_calls_channel_id", "channel_id"),
        # The desk phone's "last caller" of an extension or a DID (migration 0006).
        Index("ix_calls_delivered_to_started_at", "delivered_to", "started_at"),
        Index("ix_calls_did_started_at", "did", "started_at"),
        # Statistics by day read only this index (migration 0003).
        Index(
            "ix_calls_stats",
            "started_at",
            "action",
            "verdict",
            "outcome",
            "delivery",
            "flagged",
            "caller_number",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), default="main")
    source: Mapped[str] = mapped_column(String(16), default="ari")  # CallSource
    channel_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    caller_number_raw: Mapped[str] = mapped_column(String(256), default="")
    caller_name: Mapped[str] = mapped_column(String(256), default="")
    caller_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    number_type: Mapped[str] = mapped_column(String(32), default="unknown")
    presentation: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withheld: Mapped[bool] = mapped_column(Boolean, default=False)
    did: Mapped[str | None] = mapped_column(String(64), nullable=True)
    trunk: Mapped[str | None] = mapped_column(String(128), nullable=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The decision (Action), written when the call arrives; the result (Verdict, Outcome,
    # Delivery), written when it leaves Screener's hands and after. Never overwritten.
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_ms: Mapped[float | None] = mapped_column(nullable=True)
    challenge_digit: Mapped[str | None] = mapped_column(String(1), nullable=True)
    challenge_attempts: Mapped[int] = mapped_column(Integer, default=0)
    challenge_result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome_step: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivery: Mapped[str | None] = mapped_column(String(16), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    delivered_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The extension the dialplan reported the call delivered to (FastAGI ``/outcome``)."""
    recording: Mapped[str | None] = mapped_column(String(200), nullable=True)
    review_state: Mapped[str] = mapped_column(String(16), default="unreviewed")  # ReviewState
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    events: Mapped[list[CallEvent]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CallEvent.id"
    )
    transcripts: Mapped[list[Transcript]] = relationship(
        back_populates="call",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Transcript.id",
    )

    @property
    def transcript(self) -> Transcript | None:
        """The latest transcript of the caller's recordings (load ``transcripts`` first)."""
        return self.transcripts[-1] if self.transcripts else None


class CallEvent(Base):
    """One step on a call's timeline."""

    __tablename__ = "call_events"
    __table_args__ = (Index("ix_call_events_call_id_id", "call_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(48))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[Call] = relationship(back_populates="events")


class Transcript(Base):
    """What the caller said in one recording of a call, and the claims found in it.

    Written once, after the call's decision (migration 0004). ``status`` is a
    ``TranscriptStatus``; ``text`` is attacker-controlled (what the caller said).
    """

    __tablename__ = "transcripts"
    __table_args__ = (UniqueConstraint("call_id", "recording"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    recording: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # TranscriptStatus
    text: Mapped[str] = mapped_column(Text, default="")
    claims: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why a recording was not transcribed (skipped, failed, timed out)."""
    model: Mapped[str] = mapped_column(String(300), default="")
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    audio_seconds: Mapped[float | None] = mapped_column(nullable=True)
    fetch_seconds: Mapped[float | None] = mapped_column(nullable=True)
    """Reading the recording (the file, or ARI)."""
    wait_seconds: Mapped[float | None] = mapped_column(nullable=True)
    """Waiting for a free worker."""
    worker_seconds: Mapped[float | None] = mapped_column(nullable=True)
    cpu_seconds: Mapped[float | None] = mapped_column(nullable=True)
    total_seconds: Mapped[float | None] = mapped_column(nullable=True)
    """From the end of the recording to the transcript being ready."""
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    call: Mapped[Call] = relationship(back_populates="transcripts")


class Screening(Base):
    """Live screening of one call: on the board, on hold, and reception's decision.

    Written when screening starts (``offered_at``) and when the caller is put on hold
    (``on_hold_at``, ``decide_by``, ``recording``). ``decision`` (a ``ScreenDecision``) is
    written once, by a conditional update on a row whose decision is still empty: of
    two receptionists deciding at once exactly one wins (migration 0005).
    """

    __tablename__ = "screenings"
    __table_args__ = (
        Index("ix_screenings_decided_at", "decided_at"),
        Index("ix_screenings_decision_offered_at", "decision", "offered_at"),
    )

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    on_hold_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    decide_by: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    recording: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_via: Mapped[str | None] = mapped_column(String(16), nullable=True)  # Via
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    waited_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """From ``on_hold_at`` to the decision (None: decided before the caller was on hold)."""
    list_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    list_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """The block list the number went on (decision ``block``)."""


class CallReason(Base):
    """Each reason code of a call, so the console can filter by reason on an index."""

    __tablename__ = "call_reasons"
    __table_args__ = (
        Index("ix_call_reasons_code_flagged_started_at", "code", "flagged", "started_at"),
    )

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # Role
    can_edit_lists: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    via: Mapped[str] = mapped_column(String(16), default="web")  # Via
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(48))  # AuditAction
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PolicySetting(Base):
    """Policy overrides changed at run time (web console); settings file gives the base."""

    __tablename__ = "policy_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(100))

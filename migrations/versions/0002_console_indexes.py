"""console: call reasons table and statistics index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 13:45:00

``call_reasons`` holds each reason code of a call so the flagged-calls queue can
filter by reason on an index instead of scanning the ``reasons`` JSON; existing
calls are backfilled. ``ix_calls_stats`` lets the statistics page group calls by
day and verdict from the index alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = {
    "sqlite": (
        "INSERT OR IGNORE INTO call_reasons (call_id, code, started_at, flagged) "
        "SELECT calls.id, json_extract(r.value, '$.code'), calls.started_at, calls.flagged "
        "FROM calls, json_each(calls.reasons) AS r "
        "WHERE json_extract(r.value, '$.code') IS NOT NULL"
    ),
    "postgresql": (
        "INSERT INTO call_reasons (call_id, code, started_at, flagged) "
        "SELECT calls.id, r ->> 'code', calls.started_at, calls.flagged "
        "FROM calls, json_array_elements(calls.reasons) AS r "
        "WHERE r ->> 'code' IS NOT NULL ON CONFLICT DO NOTHING"
    ),
}


def upgrade() -> None:
    op.create_table(
        "call_reasons",
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_reasons_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", "code", name=op.f("pk_call_reasons")),
    )
    op.create_index(
        "ix_call_reasons_code_flagged_started_at",
        "call_reasons",
        ["code", "flagged", "started_at"],
        unique=False,
    )
    op.create_index(
        "ix_calls_stats",
        "calls",
        ["started_at", "verdict", "flagged", "challenge_result", "caller_number"],
        unique=False,
    )
    dialect = op.get_bind().dialect.name
    if dialect in BACKFILL:
        op.execute(BACKFILL[dialect])


def downgrade() -> None:
    op.drop_index("ix_calls_stats", table_name="calls")
    op.drop_index("ix_call_reasons_code_flagged_started_at", table_name="call_reasons")
    op.drop_table("call_reasons")

"""transcripts of what callers said, and the claims found in them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:00:00

One row per recording of a call sent to speech to text: the transcript, the claims of
authority found in it, what became of it (``done``, ``skipped``, ``failed``,
``timed_out``), the model and the timings. Rows go with their call.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("recording", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("audio_seconds", sa.Double(), nullable=True),
        sa.Column("fetch_seconds", sa.Double(), nullable=True),
        sa.Column("wait_seconds", sa.Double(), nullable=True),
        sa.Column("worker_seconds", sa.Double(), nullable=True),
        sa.Column("cpu_seconds", sa.Double(), nullable=True),
        sa.Column("total_seconds", sa.Double(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_transcripts_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sa.UniqueConstraint("call_id", "recording", name=op.f("uq_transcripts_call_id_recording")),
    )


def downgrade() -> None:
    op.drop_table("transcripts")

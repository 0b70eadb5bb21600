"""live screening: reception's decision on a call that waits

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:00:01

One row per call that went on reception's board (action ``screen``): when it was offered,
put on hold and must be decided by, its recording, and the decision once taken (who,
from where, when, how long the caller waited, the block list for a block). The decision
is written by a conditional update, so one call has exactly one. Rows go with their call.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screenings",
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_hold_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decide_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recording", sa.String(length=200), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_via", sa.String(length=16), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waited_ms", sa.Integer(), nullable=True),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("list_name", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_screenings_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_screenings")),
    )
    op.create_index("ix_screenings_decided_at", "screenings", ["decided_at"], unique=False)
    op.create_index(
        "ix_screenings_decision_offered_at",
        "screenings",
        ["decision", "offered_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_screenings_decision_offered_at", table_name="screenings")
    op.drop_index("ix_screenings_decided_at", table_name="screenings")
    op.drop_table("screenings")

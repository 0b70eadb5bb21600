"""desk phone feature codes: the extension a call was delivered to

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:00:02

The dialplan's ``/outcome`` report may name the extension that answered (its caller ID
number); ``delivered_to`` keeps it, so a feature code dialled on that phone finds "the
last caller" of the extension (or, by ``did``, of a number the office is called on).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("delivered_to", sa.String(length=64), nullable=True))
        batch.create_index(
            "ix_calls_delivered_to_started_at", ["delivered_to", "started_at"], unique=False
        )
        batch.create_index("ix_calls_did_started_at", ["did", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_did_started_at")
        batch.drop_index("ix_calls_delivered_to_started_at")
        batch.drop_column("delivered_to")

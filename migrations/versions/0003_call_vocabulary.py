"""one call vocabulary: decision and result apart, delivery, audit origin

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:00:00

A call's ``action`` is the decision and its ``verdict`` the result of the screening;
the result is written when the call leaves Screener's hands, so a call still in
progress has none. FastAGI calls used to keep the decision as their verdict and the
dialplan's report words (``passed``, ``answered``...) as their outcome: they are
carried over to the words the ARI flow uses, with what happened after the hand-back in
the new ``delivery`` column. The audit log says where a change came from (``via``: web,
api, cli...) and from which address.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# FastAGI report word -> (outcome, challenge_result, delivery), as of this revision.
AGI_WORDS = {
    "passed": ("connected", "passed", None),
    "failed": ("challenge-failed", "failed", None),
    "timeout": ("challenge-failed", "failed", None),
    "blocked": ("blocked", None, None),
    "continued": ("connected", None, None),
    "answered": ("connected", None, "answered"),
    "voicemail": ("connected", None, "voicemail"),
    "busy": ("connected", None, "busy"),
    "no_answer": ("connected", None, "no_answer"),
    "abandoned": ("abandoned", None, None),
    "error": ("fail-open", None, None),
}

VERDICT_OF_ACTION = (
    "CASE action WHEN 'allow' THEN 'allow' WHEN 'block' THEN 'block' ELSE 'challenge' END"
)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("delivery", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_index("ix_calls_stats")
        batch.create_index(
            "ix_calls_stats",
            ["started_at", "action", "verdict", "outcome", "delivery", "flagged", "caller_number"],
            unique=False,
        )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(
            sa.Column("via", sa.String(length=16), nullable=False, server_default="web")
        )
        batch.add_column(sa.Column("address", sa.String(length=64), nullable=True))

    # FastAGI calls: report words -> outcome, challenge result and delivery.
    for word, (outcome, challenge, delivery) in AGI_WORDS.items():
        sets = ["outcome = :outcome", "outcome_step = 'dialplan'"]
        params = {"outcome": outcome, "word": word}
        if challenge is not None:
            sets.append("challenge_result = :challenge")
            params["challenge"] = challenge
        if delivery is not None:
            sets += ["delivery = :delivery", "delivered_at = ended_at"]
            params["delivery"] = delivery
        op.execute(
            sa.text(
                f"UPDATE calls SET {', '.join(sets)} "  # noqa: S608 - constant column names
                "WHERE source = 'agi' AND outcome = :word"
            ).bindparams(**params)
        )
    # A challenged FastAGI call that was put through passed the challenge.
    op.execute(
        "UPDATE calls SET challenge_result = 'passed' WHERE source = 'agi' "
        "AND action = 'challenge' AND outcome = 'connected' AND challenge_result IS NULL"
    )
    # The verdict is the result: none while a call is in progress; for FastAGI calls it
    # follows from the decision and the challenge.
    op.execute("UPDATE calls SET verdict = NULL WHERE outcome IS NULL")
    agi_verdicts = (
        "UPDATE calls SET verdict = CASE "  # noqa: S608 - constant SQL
        "WHEN action = 'challenge' AND challenge_result = 'passed' THEN 'challenge-passed' "
        "WHEN action = 'challenge' AND challenge_result = 'failed' THEN 'challenge-failed' "
        f"ELSE {VERDICT_OF_ACTION} END "
        "WHERE source = 'agi' AND outcome IS NOT NULL"
    )
    op.execute(agi_verdicts)
    # Where audit records came from, as far as their detail said.
    dialect = op.get_bind().dialect.name
    via = "json_extract(detail, '$.via')" if dialect == "sqlite" else "detail ->> 'via'"
    op.execute(f"UPDATE audit_log SET via = {via} WHERE {via} IN ('api', 'cli')")  # noqa: S608
    op.execute("UPDATE audit_log SET via = 'cli' WHERE actor = 'cli'")


def downgrade() -> None:
    op.execute(f"UPDATE calls SET verdict = {VERDICT_OF_ACTION} WHERE verdict IS NULL")  # noqa: S608
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("address")
        batch.drop_column("via")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_stats")
        batch.create_index(
            "ix_calls_stats",
            ["started_at", "verdict", "flagged", "challenge_result", "caller_number"],
            unique=False,
        )
        batch.drop_column("delivered_at")
        batch.drop_column("delivery")

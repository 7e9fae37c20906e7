"""Risk rating and perpetual KYC: review cases, their events and EDD items, analyst tier overrides, each
customer's review state, and the rating history (kyc_assets/risk/reviews_store.py).

Review cases live beside ``cases`` (not in it): a customer may have an alert case and a review open at the
same time, and escalation's "one active case per subject" stays true for alert cases.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"  # written against 0003; relinked after 0004 (audit keys) landed on main
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_reviews",
        sa.Column("review_id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),  # periodic_review | event_review
        sa.Column("status", sa.String(20), nullable=False),  # open | closed
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),  # JSON list
        sa.Column("rating", sa.Text, nullable=False),  # JSON: run, methodology version, input versions, score
        sa.Column("opened_on", sa.String(10), nullable=False),
        sa.Column("opened_at", sa.String(40), nullable=False),
        sa.Column("due_date", sa.String(10), nullable=False),
        sa.Column("assigned_to", sa.String(200)),
        sa.Column("closed_on", sa.String(10)),
        sa.Column("closed_by", sa.String(200)),
        sa.Column("outcome", sa.Text),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_risk_reviews_customer", "risk_reviews", ["customer_id", "status"])
    op.create_index("ix_risk_reviews_queue", "risk_reviews", ["status", "due_date"])
    op.create_table(
        "risk_review_events",
        sa.Column("customer_id", sa.String(200), primary_key=True),
        sa.Column("event_key", sa.String(200), primary_key=True),  # once per customer and cycle / event
        sa.Column("review_id", sa.String(40), sa.ForeignKey("risk_reviews.review_id"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),  # JSON
        sa.Column("added_on", sa.String(10), nullable=False),
    )
    op.create_index("ix_risk_review_events_review", "risk_review_events", ["review_id"])
    op.create_table(
        "risk_review_edd",
        sa.Column("review_id", sa.String(40), sa.ForeignKey("risk_reviews.review_id"), primary_key=True),
        sa.Column("item", sa.String(40), primary_key=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "risk_overrides",
        sa.Column("override_id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("computed_tier", sa.String(20), nullable=False),
        sa.Column("override_tier", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # pending | active | rejected | expired
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.String(40), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.String(40)),
        sa.Column("expires_on", sa.String(10)),
    )
    op.create_index("ix_risk_overrides_customer", "risk_overrides", ["customer_id", "status"])
    op.create_table(
        "risk_customer_state",
        sa.Column("customer_id", sa.String(200), primary_key=True),
        sa.Column("first_rated_on", sa.String(10), nullable=False),
        sa.Column("last_review_on", sa.String(10)),
        sa.Column("next_review_on", sa.String(10), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("flags", sa.Text, nullable=False),  # JSON: what the last day's events were judged against
        sa.Column("updated_on", sa.String(10), nullable=False),
    )
    op.create_table(
        "risk_rating_history",
        sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("rated_at", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("computed_tier", sa.String(20), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("methodology_version", sa.String(60), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
    )
    op.create_index("ix_risk_rating_history_customer", "risk_rating_history", ["customer_id", "entry_id"])


def downgrade() -> None:
    op.drop_index("ix_risk_rating_history_customer", table_name="risk_rating_history")
    op.drop_table("risk_rating_history")
    op.drop_table("risk_customer_state")
    op.drop_index("ix_risk_overrides_customer", table_name="risk_overrides")
    op.drop_table("risk_overrides")
    op.drop_table("risk_review_edd")
    op.drop_index("ix_risk_review_events_review", table_name="risk_review_events")
    op.drop_table("risk_review_events")
    op.drop_index("ix_risk_reviews_queue", table_name="risk_reviews")
    op.drop_index("ix_risk_reviews_customer", table_name="risk_reviews")
    op.drop_table("risk_reviews")

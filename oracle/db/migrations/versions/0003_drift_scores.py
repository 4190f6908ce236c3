"""drift scores: one row per confirmed update scored against the day it forecast

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'drift_scores',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('job_id', sa.String(length=32), nullable=False),
        sa.Column('model_version', sa.String(length=64), nullable=False),
        sa.Column('market', sa.String(length=16), nullable=False),
        sa.Column('epoch', sa.Integer(), nullable=False),
        sa.Column('realised_job_id', sa.String(length=32), nullable=False),
        sa.Column('ret', sa.Float(), nullable=False),
        sa.Column('rv', sa.Float(), nullable=False),
        sa.Column('qlike', sa.Float(), nullable=False),
        sa.Column('var_breach', sa.Boolean(), nullable=False),
        sa.Column('es_breach', sa.Boolean(), nullable=False),
        sa.Column('excess_loss', sa.Float(), nullable=False),
        sa.Column('baseline_qlike', sa.JSON(), nullable=False),
        sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id']),
        sa.ForeignKeyConstraint(['realised_job_id'], ['jobs.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('job_id'),
    )
    op.create_index('ix_drift_scores_model_version', 'drift_scores', ['model_version'])
    op.create_index('ix_drift_scores_market', 'drift_scores', ['market'])


def downgrade() -> None:
    op.drop_index('ix_drift_scores_market', table_name='drift_scores')
    op.drop_index('ix_drift_scores_model_version', table_name='drift_scores')
    op.drop_table('drift_scores')

"""signed reports and two models: batches per model version with domain, signatures and policy state;
jobs per (model version, market, epoch) with their report; posted reports; commitments gone

Jobs a pre-0002 service left unfinished were waiting for on-chain commitments, which no longer exist:
they are failed with that reason (their markets are simply requested again).

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

LEGACY = 'legacy@pre-0002'


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_version', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('layout_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('domain', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('signatures', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('state_before', sa.JSON(), nullable=True))
    op.execute(f"UPDATE batches SET model_version = COALESCE(model_key, '{LEGACY}'), layout_id = 1")
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.alter_column('model_version', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('layout_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('model_key')

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_version', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('data_hash', sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column('report', sa.JSON(), nullable=True))
    op.execute("UPDATE jobs SET model_version = (SELECT batches.model_version FROM batches "
               "WHERE batches.id = jobs.batch_id)")
    op.execute(f"UPDATE jobs SET model_version = '{LEGACY}' WHERE model_version IS NULL")
    op.execute("UPDATE jobs SET state = 'failed', error_kind = 'configuration', "
               "error_message = 'superseded: the service no longer posts on-chain commitments; request again' "
               "WHERE state NOT IN ('confirmed', 'failed')")
    op.execute("UPDATE batches SET state = 'failed' WHERE state NOT IN ('confirmed', 'failed')")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.alter_column('model_version', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint('uq_jobs_market_epoch', type_='unique')
        batch_op.create_unique_constraint('uq_jobs_model_market_epoch', ['model_version', 'market_id', 'epoch'])
        batch_op.create_index(batch_op.f('ix_jobs_model_version'), ['model_version'], unique=False)
        batch_op.drop_column('commit_txs')

    op.create_table('posted_reports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_key', sa.String(length=64), nullable=False),
    sa.Column('signer', sa.String(length=42), nullable=False),
    sa.Column('reports', sa.JSON(), nullable=False),
    sa.Column('signature', sa.JSON(), nullable=False),
    sa.Column('posted_by', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_key', 'signer', name='uq_posted_reports_batch_signer')
    )
    with op.batch_alter_table('posted_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posted_reports_batch_key'), ['batch_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('posted_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posted_reports_batch_key'))
    op.drop_table('posted_reports')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commit_txs', sa.JSON(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_jobs_model_version'))
        batch_op.drop_constraint('uq_jobs_model_market_epoch', type_='unique')
        batch_op.create_unique_constraint('uq_jobs_market_epoch', ['market_id', 'epoch'])
        batch_op.drop_column('report')
        batch_op.drop_column('data_hash')
        batch_op.drop_column('model_version')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_key', sa.String(length=64), nullable=True))
    op.execute("UPDATE batches SET model_key = model_version")
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('state_before')
        batch_op.drop_column('signatures')
        batch_op.drop_column('domain')
        batch_op.drop_column('layout_id')
        batch_op.drop_column('model_version')

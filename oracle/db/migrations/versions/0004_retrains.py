"""retrains: a drift rule that fired, the retrained version and the upgrade proposals it opened

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'retrains',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('model_version', sa.String(length=64), nullable=False),
        sa.Column('epoch', sa.Integer(), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('new_version', sa.String(length=64), nullable=True),
        sa.Column('proposals', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('model_version', 'epoch'),
    )
    op.create_index('ix_retrains_model_version', 'retrains', ['model_version'])
    op.create_index('ix_retrains_state', 'retrains', ['state'])


def downgrade() -> None:
    op.drop_index('ix_retrains_state', table_name='retrains')
    op.drop_index('ix_retrains_model_version', table_name='retrains')
    op.drop_table('retrains')

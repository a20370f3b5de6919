"""The evidence trail: an append-only, hash-chained ``audit_log`` and its ``audit_head``; triggers that
move the head with every insert and refuse changing or deleting log rows or moving the head backwards
(SQLite and PostgreSQL alike).

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_log_moves_head AFTER INSERT ON audit_log
       BEGIN INSERT INTO audit_head (id, seq, hash) VALUES (1, NEW.seq, NEW.hash)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash; END""",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
    """CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head WHEN NEW.seq < OLD.seq
       BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END""",
)

_PG_TRIGGERS = (
    """CREATE FUNCTION audit_log_moves_head() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO audit_head (id, seq, hash) VALUES (1, NEW.seq, NEW.hash)
           ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER audit_log_moves_head AFTER INSERT ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_moves_head()""",
    """CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION USING MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused';
       END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()""",
    """CREATE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           RAISE EXCEPTION USING MESSAGE = 'audit_head cannot be deleted';
         END IF;
         IF NEW.seq < OLD.seq THEN
           RAISE EXCEPTION USING MESSAGE = 'audit_head only moves forward';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head
       FOR EACH ROW EXECUTE FUNCTION audit_head_forward()""",
)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(120), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("before_json", sa.Text),
        sa.Column("after_json", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id", "seq"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_one_row"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_TRIGGERS if postgres else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_head_forward()")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse()")
        op.execute("DROP FUNCTION IF EXISTS audit_log_moves_head()")

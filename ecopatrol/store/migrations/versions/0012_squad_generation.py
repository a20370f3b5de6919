"""A counter moved by the database itself whenever squads, their members, rosters or phones change: a
process keeps the squads in memory and reloads them only when the counter moved (its own writes,
another process, the CLI, a hand-written SQL fix; triggers see them all).

Revision ID: 0012
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: the tables a squad record is read from (``people.load_squads``); units only for their squad_id
_TABLES = ("squads", "squad_members", "personnel", "squad_shifts", "squad_duty_windows")
#: a row that is gone (an emptied table) comes back at a random count, so no memory from before matches
_BUMP = ("INSERT INTO squad_generation (id, n) VALUES (1, {random}) "
         "ON CONFLICT (id) DO UPDATE SET n = squad_generation.n + 1")
_PG_BUMP = _BUMP.format(random="(random() * 1e15)::bigint")
_SQLITE_BUMP = _BUMP.format(random="abs(random() % 1000000000000000)")


def upgrade() -> None:
    table = op.create_table(
        "squad_generation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "n": secrets.randbits(53)}])
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _postgres_triggers() -> None:
    op.execute(f"""CREATE FUNCTION bump_squad_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_PG_BUMP}; RETURN NULL; END $$""")
    for name in _TABLES:
        op.execute(f"CREATE TRIGGER {name}_squad_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {name} FOR EACH STATEMENT EXECUTE FUNCTION bump_squad_generation()")
    op.execute("CREATE TRIGGER units_squad_generation_ins AFTER INSERT ON units FOR EACH ROW "
               "WHEN (NEW.squad_id IS NOT NULL) EXECUTE FUNCTION bump_squad_generation()")
    op.execute("CREATE TRIGGER units_squad_generation_upd AFTER UPDATE OF squad_id ON units FOR EACH ROW "
               "WHEN (OLD.squad_id IS DISTINCT FROM NEW.squad_id) EXECUTE FUNCTION bump_squad_generation()")
    op.execute("CREATE TRIGGER units_squad_generation_del AFTER DELETE ON units FOR EACH ROW "
               "WHEN (OLD.squad_id IS NOT NULL) EXECUTE FUNCTION bump_squad_generation()")


def _sqlite_triggers() -> None:
    for name in _TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {name}_squad_generation_{event.lower()} AFTER {event} ON {name} "
                       f"BEGIN {_SQLITE_BUMP}; END")
    op.execute("CREATE TRIGGER units_squad_generation_insert AFTER INSERT ON units "
               f"WHEN NEW.squad_id IS NOT NULL BEGIN {_SQLITE_BUMP}; END")
    op.execute("CREATE TRIGGER units_squad_generation_update AFTER UPDATE OF squad_id ON units "
               f"WHEN OLD.squad_id IS NOT NEW.squad_id BEGIN {_SQLITE_BUMP}; END")
    op.execute("CREATE TRIGGER units_squad_generation_delete AFTER DELETE ON units "
               f"WHEN OLD.squad_id IS NOT NULL BEGIN {_SQLITE_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_squad_generation ON {name}")
        for suffix in ("ins", "upd", "del"):
            op.execute(f"DROP TRIGGER IF EXISTS units_squad_generation_{suffix} ON units")
        op.execute("DROP FUNCTION IF EXISTS bump_squad_generation()")
    else:
        for name in (*_TABLES, "units"):
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_squad_generation_{event}")
    op.drop_table("squad_generation")

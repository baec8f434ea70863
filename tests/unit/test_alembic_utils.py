"""module_utils/_alembic.py against SQLite and a temporary Alembic script directory."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _alembic as am

ENV_PY = '''
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def _run(connection):
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
'''

REVISION = '''"""{doc}"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    {upgrade}


def downgrade():
    {downgrade}
'''

R1 = ("r1_initial", None, "initial", 'op.create_table("a", sa.Column("id", sa.Integer, primary_key=True))',
      'op.drop_table("a")')
R2 = ("r2_more", "r1_initial", "more", 'op.create_table("b", sa.Column("id", sa.Integer, primary_key=True))',
      'op.drop_table("b")')
R3_BAD = ("r3_broken", "r2_more", "broken", 'op.create_table("c", sa.Column("id", sa.Integer, primary_key=True))\n'
          '    op.execute("UPDATE a SET nope = 1")', 'op.drop_table("c")')
R3_FORK = ("r3_fork", "r1_initial", "fork", 'op.create_table("f", sa.Column("id", sa.Integer, primary_key=True))',
           'op.drop_table("f")')


def make_project(tmp_path: Path, *revisions) -> tuple[Path, str]:
    """alembic.ini, env.py and the given revisions; returns (config file, database URL)."""
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(ENV_PY)
    for rev, down, doc, up, downgrade in revisions:
        (scripts / "versions" / f"{rev}.py").write_text(
            REVISION.format(rev=rev, down=down, doc=doc, upgrade=up, downgrade=downgrade))
    ini = tmp_path / "alembic.ini"
    ini.write_text(textwrap.dedent(f"""\
        [alembic]
        script_location = {scripts}
        """))
    return ini, f"sqlite:///{tmp_path / 'db.sqlite'}"


def version_rows(url: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        try:
            return sorted(r[0] for r in db.execute("SELECT version_num FROM alembic_version"))
        except sqlite3.OperationalError:
            return []


def tables(url: str) -> set[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path, R1, R2)


def session(ini, url, **kw):
    return am.AlembicSession(config_file=str(ini), database_url=url, **kw)


def test_upgrade_head_then_idempotent(project):
    ini, url = project
    first = am.run_migration(session(ini, url), "upgrade", "head")
    assert first["changed"] is True
    assert first["revision_before"] is None
    assert first["revision_after"] == "r2_more"
    assert [s["revision"] for s in first["applied"]] == ["r1_initial", "r2_more"]
    assert first["heads"] == ["r2_more"]
    assert version_rows(url) == ["r2_more"]
    assert {"a", "b"} <= tables(url)
    second = am.run_migration(session(ini, url), "upgrade", "head")
    assert second["changed"] is False
    assert second["applied"] == [] and second["pending"] == []


def test_check_mode_lists_pending_and_changes_nothing(project):
    ini, url = project
    result = am.run_migration(session(ini, url), "upgrade", "head", check_mode=True)
    assert result["changed"] is True
    assert [s["revision"] for s in result["pending"]] == ["r1_initial", "r2_more"]
    assert result["revision_after"] == "r2_more"
    assert result["applied"] == []
    assert version_rows(url) == []
    assert "a" not in tables(url)


@pytest.mark.parametrize("target, expected", [("+1", "r1_initial"), ("r1_initial", "r1_initial"), ("head", "r2_more")])
def test_upgrade_targets(project, target, expected):
    ini, url = project
    result = am.run_migration(session(ini, url), "upgrade", target)
    assert result["revision_after"] == expected
    assert version_rows(url) == [expected]


def test_downgrade_relative_and_base(project):
    ini, url = project
    am.run_migration(session(ini, url), "upgrade", "head")
    one = am.run_migration(session(ini, url), "downgrade", "-1")
    assert one["changed"] and one["revision_after"] == "r1_initial"
    assert [s["revision"] for s in one["applied"]] == ["r2_more"]
    assert "b" not in tables(url)
    base = am.run_migration(session(ini, url), "downgrade", "base")
    assert base["revision_after"] is None and base["revisions_after"] == []
    assert version_rows(url) == []
    again = am.run_migration(session(ini, url), "downgrade", "base")
    assert again["changed"] is False


def test_downgrade_below_base(project):
    ini, url = project
    am.run_migration(session(ini, url), "upgrade", "r1_initial")
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url), "downgrade", "-2")
    assert err.value.kind == "below_base"
    assert "below base" in err.value.message
    assert version_rows(url) == ["r1_initial"]


def test_upgrade_beyond_head(project):
    ini, url = project
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url), "upgrade", "+3")
    assert err.value.kind == "beyond_head"


def test_unknown_revision(project):
    ini, url = project
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url), "upgrade", "nosuchrev")
    assert err.value.kind == "unknown_revision"
    assert "'nosuchrev'" in err.value.message and "r2_more" in err.value.message


def test_database_at_unknown_revision(project):
    ini, url = project
    am.run_migration(session(ini, url), "upgrade", "head")
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE alembic_version SET version_num = 'zz_newer'")
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url), "upgrade", "head")
    assert err.value.kind == "unknown_current"
    assert "zz_newer" in err.value.message
    info = am.gather_info(session(ini, url))
    assert info["current"] == ["zz_newer"] and info["current_known"] is False
    assert info["pending"] is None and info["up_to_date"] is False


def test_wrong_direction(project):
    ini, url = project
    am.run_migration(session(ini, url), "upgrade", "r1_initial")
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url), "downgrade", "r2_more")
    assert err.value.kind == "wrong_direction"
    assert "use upgrade" in err.value.message
    # an upgrade to a revision the database is already past is a no-op, as in Alembic
    am.run_migration(session(ini, url), "upgrade", "head")
    result = am.run_migration(session(ini, url), "upgrade", "r1_initial")
    assert result["changed"] is False and result["revision_after"] == "r2_more"


def test_multiple_heads(tmp_path):
    ini, url = make_project(tmp_path, R1, R2, R3_FORK)
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url), "upgrade", "head")
    assert err.value.kind == "multiple_heads"
    assert "r2_more, r3_fork" in err.value.message
    assert version_rows(url) == []
    # 'heads' upgrades every branch
    result = am.run_migration(session(ini, url), "upgrade", "heads")
    assert result["revisions_after"] == ["r2_more", "r3_fork"]
    assert result["revision_after"] == "r2_more,r3_fork"


def test_failing_migration_names_revision_and_stays(tmp_path):
    ini, url = make_project(tmp_path, R1, R2, R3_BAD)
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url), "upgrade", "head")
    exc = err.value
    assert exc.kind == "migration_failed"
    assert exc.details["failed_revision"] == "r3_broken"
    assert exc.details["revision_after"] == "r2_more"
    assert [s["revision"] for s in exc.details["applied"]] == ["r1_initial", "r2_more"]
    assert "r3_broken" in exc.message and "stayed at r2_more" in exc.message
    assert "nope" in exc.message
    assert version_rows(url) == ["r2_more"]


def test_unreachable_database(project):
    ini, _unused = project
    url = "postgresql://user:s3cretpw@127.0.0.1:1/nodb"
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url, connect_timeout=2), "upgrade", "head")
    assert err.value.kind == "unreachable"
    assert "127.0.0.1" in err.value.message
    assert "s3cretpw" not in err.value.message


def test_offline_sql(project):
    ini, url = project
    result = am.run_migration(session(ini, url), "upgrade", "head", sql=True)
    assert result["changed"] is False
    assert "CREATE TABLE a" in result["sql"] and "CREATE TABLE b" in result["sql"]
    assert result["revision_after"] == "r2_more" and result["revision_before"] is None
    assert version_rows(url) == [] and "a" not in tables(url)
    partial = am.run_migration(session(ini, url), "upgrade", "+1", sql=True, from_revision="r1_initial")
    assert "CREATE TABLE b" in partial["sql"] and "CREATE TABLE a" not in partial["sql"]
    assert partial["revision_after"] == "r2_more"
    down = am.run_migration(session(ini, url), "downgrade", "-1", sql=True, from_revision="r2_more")
    assert "DROP TABLE b" in down["sql"]
    assert down["revision_after"] == "r1_initial"
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(session(ini, url), "downgrade", "base", sql=True)
    assert err.value.kind == "config"


def test_info(project):
    ini, url = project
    am.run_migration(session(ini, url), "upgrade", "r1_initial")
    info = am.gather_info(session(ini, url))
    assert info["current"] == ["r1_initial"]
    assert info["heads"] == ["r2_more"]
    assert [s["revision"] for s in info["pending"]] == ["r2_more"]
    assert info["up_to_date"] is False
    assert [(h["revision"], h["applied"], h["is_current"]) for h in info["history"]] == [
        ("r1_initial", True, True), ("r2_more", False, False)]
    scripts_only = am.gather_info(session(ini, None), database=False)
    assert scripts_only["current"] is None and scripts_only["heads"] == ["r2_more"]


def test_missing_config_and_url(tmp_path, monkeypatch):
    with pytest.raises(am.AlembicModuleError) as err:
        am.AlembicSession(config_file=str(tmp_path / "nope.ini"))
    assert err.value.kind == "config" and "does not exist" in err.value.message
    ini, _unused = make_project(tmp_path, R1)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(am.AlembicModuleError) as err:
        am.run_migration(am.AlembicSession(config_file=str(ini)), "upgrade", "head")
    assert err.value.kind == "config" and "database URL" in err.value.message


def test_url_from_environment(project, monkeypatch):
    ini, url = project
    monkeypatch.setenv("MY_DB", url)
    result = am.run_migration(am.AlembicSession(config_file=str(ini), database_url_env="MY_DB"), "upgrade", "head")
    assert result["revision_after"] == "r2_more"


@pytest.mark.parametrize("value, expected", [("5s", "5s"), ("500", "500ms"), (0, "0ms"), ("2 min", "2min")])
def test_duration(value, expected):
    assert am.duration(value, "lock_timeout") == expected


@pytest.mark.parametrize("value", ["5 seconds", "-1", "abc", "1.5s"])
def test_duration_invalid(value):
    with pytest.raises(am.AlembicModuleError) as err:
        am.duration(value, "lock_timeout")
    assert "lock_timeout" in err.value.message


def test_pg_options():
    assert am.pg_options("5s", "0") == "-c lock_timeout=5s -c statement_timeout=0ms"
    assert am.pg_options(None, None) == ""

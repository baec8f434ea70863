# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Alembic through its own API, shared by the alembic and alembic_info modules.

Works with Alembic 1.8 / SQLAlchemy 1.4 (Debian bookworm, inside the app image) and with
Alembic 1.20 / SQLAlchemy 2.x. Every failure is an :class:`AlembicModuleError` with a ``kind``
the caller (and the tests) can tell apart and a message an operator can act on.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import re
import time
import traceback

try:
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.script.revision import MultipleHeads, RangeNotAncestorError, ResolutionError, RevisionError
    from alembic.util import CommandError
    from sqlalchemy.engine import make_url
except ImportError:
    HAS_ALEMBIC = False
    ALEMBIC_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_ALEMBIC = True
    ALEMBIC_IMPORT_ERROR = None

# PostgreSQL durations as SET accepts them: a number with an optional unit (0 turns the limit off).
DURATION_RE = re.compile(r"^\s*(\d+)\s*(us|ms|s|min|h|d)?\s*$")
RELATIVE_RE = re.compile(r"^(?P<base>[^+-]*)(?P<sign>[+-])(?P<count>\d+)$")
# SQLSTATEs of a statement cancelled by lock_timeout and by statement_timeout.
SQLSTATE_LOCK_TIMEOUT = "55P03"
SQLSTATE_QUERY_CANCELED = "57014"
STEP_LOGGER = "alembic.runtime.migration"


class AlembicModuleError(Exception):
    """A failure with a kind (``config``, ``multiple_heads``, ``unknown_revision``, ``unknown_current``,
    ``below_base``, ``beyond_head``, ``wrong_direction``, ``unreachable``, ``migration_failed``,
    ``lock_timeout``, ``statement_timeout``) and details for the module's result."""

    def __init__(self, kind, message, **details):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details


def duration(value, name):
    """Normalise a PostgreSQL duration ('5s', '500ms', '2 min', 0) or fail with a clear message."""
    if value is None:
        return None
    match = DURATION_RE.match(str(value))
    if not match:
        raise AlembicModuleError(
            "config", f"Invalid {name} {value!r}: use a number with an optional unit us, ms, s, min, h or d (0 turns it off)"
        )
    return match.group(1) + (match.group(2) or "ms")


def pg_options(lock_timeout=None, statement_timeout=None):
    """The libpq ``options`` string that sets the timeouts for the whole session."""
    parts = []
    for name, given in (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout)):
        value = duration(given, name)
        if value is not None:
            parts.append(f"-c {name}={value}")
    return " ".join(parts)


class _Redactor:
    """Remove the database password from any text that leaves the module."""

    def __init__(self, url=None):
        self.secrets = []
        if url:
            try:
                password = make_url(url).password
            except Exception:  # noqa: BLE001 -- an unparsable URL fails later with its own message
                password = None
            if password:
                self.secrets.append(str(password))

    def __call__(self, text):
        text = str(text)
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text


def _first_line(exc):
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _sqlstate(exc):
    while exc is not None:
        orig = getattr(exc, "orig", None)
        for candidate in (orig, exc):
            code = getattr(candidate, "pgcode", None) or getattr(candidate, "sqlstate", None)
            if code:
                return code
        exc = exc.__cause__ or exc.__context__
    return None


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v]
    return [value]


def _joined(revisions):
    """Revisions as one string ('a,b'), None at base: the release record's format."""
    revisions = sorted(_as_list(revisions))
    return ",".join(revisions) if revisions else None


def _script_info(script, direction=None):
    info = {
        "revision": script.revision,
        "down_revision": _joined(script.down_revision),
        "doc": (script.doc or "").strip(),
        "branch_labels": sorted(script.branch_labels or []),
    }
    if direction:
        info["direction"] = direction
    return info


def alembic_common_argument_spec():
    """The options of every module that reads or runs migrations (documented by the opskit.webstack.alembic fragment)."""
    return {
        "config_file": {"type": "path", "default": "alembic.ini"},
        "chdir": {"type": "path"},
        "script_location": {"type": "str"},
        "database_url": {"type": "str", "no_log": True},
        "database_url_env": {"type": "str", "default": "DATABASE_URL"},
        "connect_timeout": {"type": "int", "default": 10},
    }


def enter_chdir(params):
    """Work in chdir (else the config file's directory); return the config file's absolute path, or None
    when there is none and the script location is enough. Raises AlembicModuleError for a missing chdir."""
    if params["chdir"]:
        if not os.path.isdir(params["chdir"]):
            raise AlembicModuleError("config", "Failed to enter {}: no such directory".format(params["chdir"]))
        os.chdir(params["chdir"])
    config_file = os.path.abspath(params["config_file"]) if params["config_file"] else None
    if config_file and not os.path.exists(config_file) and params["script_location"]:
        return None
    if not params["chdir"] and config_file and os.path.isdir(os.path.dirname(config_file)):
        os.chdir(os.path.dirname(config_file))
    return config_file


def session_from_params(params, **options):
    """Enter the working directory and open an AlembicSession from the common options plus ``options``."""
    return AlembicSession(
        config_file=enter_chdir(params),
        script_location=params["script_location"],
        database_url=params["database_url"],
        database_url_env=params["database_url_env"],
        connect_timeout=params["connect_timeout"],
        **options,
    )


# The advisory lock every migration of this module holds ("opskit" as a 48-bit number).
ADVISORY_LOCK_KEY = 0x6F70736B6974


class AlembicSession:
    """One Alembic configuration, script directory and (lazily) database engine."""

    def __init__(self, *, config_file=None, script_location=None, database_url=None, database_url_env="DATABASE_URL",
                 x_arguments=None, lock_timeout=None, statement_timeout=None, connect_timeout=10, sql=False,
                 advisory_lock_wait=60):
        if not HAS_ALEMBIC:
            raise AlembicModuleError("config", "Alembic and SQLAlchemy are not importable: " + (ALEMBIC_IMPORT_ERROR or ""))
        self.output_buffer = io.StringIO()
        self.stdout_buffer = io.StringIO()
        self.sql = sql
        if config_file and not os.path.isfile(config_file):
            raise AlembicModuleError("config", f"Failed to read the Alembic configuration: {config_file} does not exist")
        if not config_file and not script_location:
            raise AlembicModuleError("config", "Failed to find the migrations: give config_file or script_location")
        self.config = Config(
            file_=config_file or None,
            output_buffer=self.output_buffer,
            stdout=self.stdout_buffer,
            cmd_opts=argparse.Namespace(x=list(x_arguments or [])),
        )
        # The module handles logging itself; env.py files that honour this leave the loggers alone.
        self.config.attributes["configure_logger"] = False
        if script_location:
            self.config.set_main_option("script_location", script_location)
        if not self.config.get_main_option("script_location"):
            raise AlembicModuleError("config", f"Failed to find the migrations: {config_file} has no script_location")
        try:
            self.script = ScriptDirectory.from_config(self.config)
        except CommandError as exc:
            raise AlembicModuleError("config", f"Failed to read the migration scripts: {exc}") from exc
        self.url = database_url or self.config.get_main_option("sqlalchemy.url") or os.environ.get(database_url_env or "")
        self.redact = _Redactor(self.url)
        if self.url:
            # env.py files that build their own engine find the URL where Alembic's own template looks.
            self.config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        self.options = pg_options(lock_timeout, statement_timeout)
        self.connect_timeout = connect_timeout
        self.advisory_lock_wait = advisory_lock_wait
        self._engine = None

    # -- database -------------------------------------------------------------------------------
    def _where(self):
        try:
            url = make_url(self.url)
            return "{}://{}@{}:{}/{}".format(url.get_backend_name(), url.username or "", url.host or "", url.port or "", url.database or "")
        except Exception:  # noqa: BLE001 -- only for a message
            return "the database"

    @property
    def engine(self):
        if self._engine is None:
            if not self.url:
                raise AlembicModuleError(
                    "config", "Failed to find the database URL: give database_url, set sqlalchemy.url in the config "
                    "file, or set the environment variable named by database_url_env"
                )
            try:
                url = make_url(self.url)
            except Exception as exc:
                raise AlembicModuleError("config", f"Invalid database URL: {self.redact(exc)}") from exc
            connect_args = {}
            if url.get_backend_name() == "postgresql":
                if self.options:
                    given = url.query.get("options")
                    connect_args["options"] = ((given + " ") if given else "") + self.options
                if self.connect_timeout:
                    connect_args["connect_timeout"] = int(self.connect_timeout)
            try:
                self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args)
            except Exception as exc:  # a missing DBAPI driver, an unknown dialect
                raise AlembicModuleError("config", f"Failed to set up the database engine: {self.redact(exc)}") from exc
        return self._engine

    @contextlib.contextmanager
    def connect(self):
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise AlembicModuleError(
                "unreachable", f"Failed to connect to {self._where()}: {self.redact(_first_line(exc))}"
            ) from exc
        try:
            yield conn
        finally:
            conn.close()

    def current(self):
        """The revisions the database is at, sorted (an empty list at base)."""
        with self.connect() as conn:
            try:
                heads = MigrationContext.configure(conn).get_current_heads()
            except sa.exc.DBAPIError as exc:
                raise AlembicModuleError("unreachable", f"Failed to read the current revision: {self.redact(_first_line(exc))}") from exc
        return sorted(heads)

    # -- scripts ----------------------------------------------------------------------------------
    def heads(self):
        return sorted(self.script.get_heads())

    def history(self, current=()):
        """Every revision from base to the heads, each with ``applied`` from the database's position."""
        applied = self.ancestors(current)
        scripts = list(self.script.walk_revisions("base", "heads"))
        heads = set(self.script.get_heads())
        out = []
        for script in reversed(scripts):
            item = _script_info(script)
            item["is_head"] = script.revision in heads
            item["is_current"] = script.revision in set(current)
            item["applied"] = script.revision in applied
            out.append(item)
        return out

    def ancestors(self, revisions):
        """The revisions at or below ``revisions`` (what a database at them has applied)."""
        revisions = tuple(_as_list(revisions))
        if not revisions:
            return set()
        return set(s.revision for s in self.script.iterate_revisions(revisions, "base"))

    def plan(self, current, target, direction):
        """The steps from ``current`` to ``target`` in the order Alembic runs them, or a clear error."""
        current = tuple(current)
        try:
            if direction == "upgrade":
                scripts = list(self.script.iterate_revisions(target, current or None, implicit_base=True))
                scripts.reverse()
            else:
                scripts = list(self.script.iterate_revisions(current or None, target, select_for_downgrade=True))
        except MultipleHeads:
            raise AlembicModuleError(
                "multiple_heads",
                "Failed to {} to {!r}: the migrations have several heads ({}); merge them with 'alembic merge', "
                "or name one head as the target".format(direction, target, ", ".join(self.heads())),
                heads=self.heads(),
            ) from None
        except ResolutionError as exc:
            unknown = getattr(exc, "argument", None)
            if unknown and unknown in current:
                raise AlembicModuleError(
                    "unknown_current",
                    f"Failed to {direction}: the database is at revision {unknown}, which these migrations do not know "
                    "(a newer release migrated it? run with that release's code)",
                ) from exc
            raise AlembicModuleError(
                "unknown_revision",
                "Failed to {} to {!r}: no such revision in {} (heads: {})".format(direction, target, self.script.dir, ", ".join(self.heads()) or "none"),
            ) from exc
        except RangeNotAncestorError:
            other = "downgrade" if direction == "upgrade" else "upgrade"
            raise AlembicModuleError(
                "wrong_direction",
                f"Failed to {direction} to {target!r}: it is not {'above' if direction == 'upgrade' else 'below'} "
                f"the current revision {_joined(current) or 'base'} (use {other})",
            ) from None
        except RevisionError as exc:
            if direction == "downgrade":
                raise AlembicModuleError(
                    "below_base",
                    f"Failed to downgrade to {target!r}: that is below base (the database is at {_joined(current) or 'base'}): {exc}",
                ) from exc
            raise AlembicModuleError(
                "beyond_head",
                f"Failed to upgrade to {target!r}: that is beyond the heads ({', '.join(self.heads())}), "
                f"the database is at {_joined(current) or 'base'}: {exc}",
            ) from exc
        return [_script_info(s, direction) for s in scripts]

    def resolve_end(self, start, target, direction):
        """The revision a relative target ('+1', '-2', 'abc+1') lands on from ``start`` (for offline mode)."""
        if not RELATIVE_RE.match(target or ""):
            return target
        steps = self.plan(_as_list(start), target, direction)
        if not steps:
            return start or "base"
        if direction == "upgrade":
            return steps[-1]["revision"]
        down = steps[-1]["down_revision"]
        if down and "," in down:
            raise AlembicModuleError("config", f"Failed to resolve {target!r} offline: it lands on a merge point; name the revision")
        return down or "base"

    # -- running ----------------------------------------------------------------------------------
    def offline_sql(self, direction, target, from_revision=None):
        """The SQL that the migration from ``from_revision`` (base when unset) to ``target`` would run."""
        if direction == "downgrade" and not from_revision:
            raise AlembicModuleError("config", "Failed to render a downgrade offline: from_revision is required with sql=true")
        start = from_revision or None
        steps = self.plan(_as_list(start), target, direction)
        end = self.resolve_end(start, target, direction)
        spec = f"{start}:{end}" if start else end
        with self._capture():
            try:
                getattr(command, direction)(self.config, spec, sql=True)
            except CommandError as exc:
                raise AlembicModuleError("config", f"Failed to render the SQL of {direction} {spec}: {self.redact(exc)}") from exc
        return steps, self.redact(self.output_buffer.getvalue())

    @contextlib.contextmanager
    def _capture(self):
        """Keep anything env.py prints off the module's stdout (which carries its JSON result)."""
        with contextlib.redirect_stdout(self.stdout_buffer):
            yield

    def migrate(self, direction, target):
        """Run the migration with a connection that carries the timeouts; return the steps started.

        On a failure, raises ``migration_failed`` (or ``lock_timeout`` / ``statement_timeout``) naming
        the revision whose migration failed; the caller reads where the database stayed.
        """
        recorder = _StepRecorder()
        logger = logging.getLogger(STEP_LOGGER)
        saved = (logger.level, logger.propagate)
        logger.addHandler(recorder)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        saved_pgoptions = os.environ.get("PGOPTIONS")
        if self.options:
            # For env.py files that ignore config.attributes["connection"] and connect on their own.
            os.environ["PGOPTIONS"] = ((saved_pgoptions + " ") if saved_pgoptions else "") + self.options
        try:
            with self.advisory_lock(direction), self.connect() as conn:
                self.config.attributes["connection"] = conn
                try:
                    with self._capture():
                        getattr(command, direction)(self.config, target)
                except AlembicModuleError:
                    raise
                except Exception as exc:
                    raise self._failure(direction, recorder.steps, exc) from exc
                finally:
                    self.config.attributes.pop("connection", None)
        finally:
            logger.removeHandler(recorder)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]
            if saved_pgoptions is None:
                os.environ.pop("PGOPTIONS", None)
            else:
                os.environ["PGOPTIONS"] = saved_pgoptions
        return recorder.steps

    @contextlib.contextmanager
    def advisory_lock(self, direction, *, sleep=time.sleep, clock=time.monotonic):
        """Hold a PostgreSQL advisory lock (its own session) while migrating, so that two migrators never
        run together; wait up to ``advisory_lock_wait`` seconds for it (0: take none)."""
        if not self.advisory_lock_wait or self.engine.dialect.name != "postgresql":
            yield
            return
        deadline = clock() + float(self.advisory_lock_wait)
        with self.connect() as session:
            lock_conn = session.execution_options(isolation_level="AUTOCOMMIT")
            while not lock_conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}).scalar():
                if clock() >= deadline:
                    holder = lock_conn.execute(sa.text(
                        "SELECT string_agg(a.pid || ' (' || coalesce(a.application_name, '') || ', since ' || a.backend_start || ')', ', ') "
                        "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                        "WHERE l.locktype = 'advisory' AND l.granted AND (l.classid::bigint << 32 | l.objid::bigint) = :k"),
                        {"k": ADVISORY_LOCK_KEY}).scalar()
                    raise AlembicModuleError(
                        "lock_timeout",
                        f"Failed to {direction}: another migration holds the advisory lock {ADVISORY_LOCK_KEY} "
                        f"(session {holder or 'unknown'}) and did not end within {self.advisory_lock_wait}s; "
                        "nothing was migrated. Run again when it has ended.")
                sleep(0.5)
            try:
                yield
            finally:
                lock_conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})

    def _failure(self, direction, started, exc):
        failed = started[-1] if started else None
        state = _sqlstate(exc)
        reason = self.redact(_first_line(exc))
        kind = "migration_failed"
        if state == SQLSTATE_LOCK_TIMEOUT:
            kind = "lock_timeout"
            reason = "waited longer than lock_timeout for a lock (another session holds it): " + reason
        elif state == SQLSTATE_QUERY_CANCELED:
            kind = "statement_timeout"
            reason = "ran longer than statement_timeout: " + reason
        if failed:
            what = f"the {direction} of revision {failed}"
        else:
            what = f"the {direction} before any revision ran"
        statement = getattr(exc, "statement", None)
        return AlembicModuleError(
            kind,
            f"Failed to {direction}: {what} failed: {reason}",
            failed_revision=failed,
            error=reason,
            sqlstate=state,
            statement=self.redact(statement)[:500] if statement else None,
        )


class _StepRecorder(logging.Handler):
    """Alembic logs ("Running %s", step) before each migration step; keep the step's revision id."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.steps = []

    def emit(self, record):
        args = record.args if isinstance(record.args, tuple) else ()
        step = args[0] if args else None
        script = getattr(step, "revision", None)
        revision = getattr(script, "revision", None)
        if revision:
            self.steps.append(revision)


def run_migration(session, direction, target, *, check_mode=False, sql=False, from_revision=None):
    """What the alembic module does; returns its result dict (without ``msg``) or raises."""
    heads = session.heads()
    result = {"heads": heads, "direction": direction, "target": target, "applied": [], "pending": [], "sql": None}
    if sql:
        steps, text = session.offline_sql(direction, target, from_revision)
        end = from_revision or None
        if steps:
            end = steps[-1]["revision"] if direction == "upgrade" else steps[-1]["down_revision"]
        result.update(changed=False, pending=steps, sql=text, revision_before=from_revision or None,
                      revision_after=None if end == "base" else end)
        return result
    before = session.current()
    steps = session.plan(before, target, direction)
    result.update(revision_before=_joined(before), revisions_before=before, pending=steps, changed=bool(steps))
    if check_mode or not steps:
        result.update(revision_after=_joined(before), revisions_after=before)
        if check_mode and steps:
            # What the run would end at: the last step's revision (upgrade) or what it revises (downgrade).
            last = steps[-1]
            result["revision_after"] = last["revision"] if direction == "upgrade" else last["down_revision"]
            result["revisions_after"] = _as_list(result["revision_after"].split(",") if result["revision_after"] else [])
        return result
    failure = None
    try:
        session.migrate(direction, target)
    except AlembicModuleError as exc:
        if exc.kind not in ("migration_failed", "lock_timeout", "statement_timeout"):
            raise
        failure = exc
    after = session.current()
    below_after = session.ancestors(after)
    if direction == "upgrade":
        done = set(s["revision"] for s in steps if s["revision"] in below_after)
    else:
        done = set(s["revision"] for s in steps if s["revision"] not in below_after)
    applied = [s for s in steps if s["revision"] in done]
    result.update(revision_after=_joined(after), revisions_after=after, applied=applied, changed=after != before,
                  pending=[s for s in steps if s["revision"] not in done])
    if failure is not None:
        result.update(failed_revision=failure.details.get("failed_revision"), error=failure.details.get("error"),
                      sqlstate=failure.details.get("sqlstate"), statement=failure.details.get("statement"),
                      failure_kind=failure.kind)
        failure.details.update(result)
        failure.message = "{}; the database stayed at {}".format(failure.message, _joined(after) or "base")
        raise failure
    return result


def gather_info(session, database=True):
    """What the alembic_info module returns."""
    heads = session.heads()
    result = {"heads": heads, "script_location": session.script.dir, "current": None, "revision": None,
              "pending": None, "up_to_date": None}
    current = []
    known = True
    if database:
        current = session.current()
        try:
            pending = session.plan(current, "heads", "upgrade")
        except AlembicModuleError as exc:
            if exc.kind != "unknown_current":
                raise
            # The database is ahead of (or beside) this code: say so rather than fail.
            known, pending = False, None
        result.update(current=current, revision=_joined(current), pending=pending, up_to_date=bool(known and not pending))
    result["current_known"] = known if database else None
    result["history"] = session.history(current if known else ())
    result["multiple_heads"] = len(heads) > 1
    return result

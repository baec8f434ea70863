"""Alembic environment of the ledger app: the database URL is built from the POSTGRES_* variables
of the app's environment (there is no DATABASE_URL). A caller may hand over an open connection in
``config.attributes["connection"]`` (the opskit.webstack.alembic module does); it is used as it is.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from urllib.parse import quote

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    env = os.environ
    missing = [name for name in ("POSTGRES_HOST", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB") if not env.get(name)]
    if missing:
        raise RuntimeError("the database is not configured: set " + ", ".join(missing))
    return "postgresql://{}:{}@{}:{}/{}".format(
        quote(env["POSTGRES_USER"], safe=""), quote(env["POSTGRES_PASSWORD"], safe=""), env["POSTGRES_HOST"],
        env.get("POSTGRES_PORT", "5432"), quote(env["POSTGRES_DB"], safe=""))


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=database_url(), literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)

"""Alembic environment of the example app.

The URL: `-x url=...`, else the config's sqlalchemy.url when a caller set it, else DATABASE_URL.
A caller may hand over an open connection in ``config.attributes["connection"]`` (the
opskit.webstack.alembic module does, to set lock and statement timeouts); it is used as it is.
Each migration runs in its own transaction (transactional DDL on PostgreSQL), so a migration that
fails leaves the database at the revision before it.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
# The CLI logs "Running upgrade ..." through alembic.ini's loggers; a caller that handles logging
# itself (the opskit.webstack.alembic module) sets attributes["configure_logger"] = False.
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    url = url or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set DATABASE_URL or pass -x url=...")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"}, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

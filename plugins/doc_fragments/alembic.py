# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Where the migrations and the database are, for opskit.webstack.alembic and alembic_info
    # (the argument spec is _alembic.alembic_common_argument_spec()).
    DOCUMENTATION = r"""
options:
  config_file:
    description: The Alembic configuration file (C(alembic.ini)).
    type: path
    default: alembic.ini
  chdir:
    description:
      - Directory to work in (a relative O(config_file) is found from there); the directory of
        O(config_file) when unset.
    type: path
  script_location:
    description: The migrations directory, instead of the config file's C(script_location).
    type: str
  database_url:
    description:
      - SQLAlchemy URL of the database. Never logged.
      - When unset, the config file's C(sqlalchemy.url), else the environment variable named by
        O(database_url_env).
    type: str
  database_url_env:
    description: Environment variable holding the URL when O(database_url) is unset.
    type: str
    default: DATABASE_URL
  connect_timeout:
    description: Seconds to wait for the database connection (PostgreSQL).
    type: int
    default: 10
requirements:
  - alembic >= 1.8
  - sqlalchemy >= 1.4
  - the database driver of the URL (psycopg2 or psycopg for PostgreSQL)
"""

# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Redis connection of every redis_* module: one argument spec, one way to connect.

Private to the opskit.webstack collection, after community.postgresql's
``postgres_common_argument_spec()`` and ``connect_to_db()``::

    module = redis_module(pattern=dict(type="str", required=True))  # redis_common_argument_spec() + these
    client = connect(module)     # answered PING, or the module failed: "Failed to connect to Redis at ..."

``connect()`` and ``connect_raw()`` also take a plain dict of the options; they then raise
RedisConnectError with the same message. The options are documented by the doc fragment
``opskit.webstack.redis`` (plugins/doc_fragments/redis.py); keep the two in step.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import redis
    from redis.exceptions import RedisError

    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the target
    redis = None
    RedisError = OSError  # so that ``except (RedisError, OSError)`` stays valid without redis-py
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()


class RedisConnectError(Exception):
    """The server could not be reached or refused us; the message never holds the password."""


def redis_common_argument_spec():
    """The connection options shared by the collection's redis_* modules (a new dict each call)."""
    return dict(
        login_host=dict(type="str", default="127.0.0.1"),
        login_port=dict(type="int", default=6379),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        db=dict(type="int", default=0),
        tls=dict(type="bool", default=False),
        validate_certs=dict(type="bool", default=True),
        ca_certs=dict(type="path"),
        client_cert_file=dict(type="path"),
        client_key_file=dict(type="path"),
        connect_timeout=dict(type="float", default=10.0),
        socket_timeout=dict(type="float", default=60.0),
    )


_DEFAULTS = {name: spec.get("default") for name, spec in redis_common_argument_spec().items()}


def redis_module(*specs, **options):
    """The AnsibleModule of a redis_* module: the connection options, then each argument spec of
    ``specs`` and the ``options`` (name=spec), with check mode supported."""
    argument_spec = redis_common_argument_spec()
    for spec in specs:
        argument_spec.update(spec)
    argument_spec.update(options)
    return AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)


def _options(module_or_params):
    """(the options with their defaults filled in, the module or None)."""
    module = module_or_params if hasattr(module_or_params, "fail_json") else None
    given = module.params if module is not None else module_or_params
    params = dict(_DEFAULTS)
    params.update((name, value) for name, value in given.items() if name in _DEFAULTS and value is not None)
    return params, module


def connection_kwargs(params, decode_responses=False):
    """Keyword arguments of redis.Redis (and of redis.Connection, without ``ssl``) for the options."""
    kwargs = dict(
        host=params["login_host"],
        port=params["login_port"],
        db=params["db"],
        username=params["login_user"] or None,
        password=params["login_password"] or None,
        socket_connect_timeout=params["connect_timeout"],
        socket_timeout=params["socket_timeout"],
        decode_responses=decode_responses,
    )
    if int(getattr(redis, "__version__", "0").split(".")[0]) >= 5:
        kwargs["protocol"] = 2  # RESP2 on every version: the bulk loader parses the replies itself
    if params["tls"]:
        kwargs.update(
            ssl_cert_reqs="required" if params["validate_certs"] else "none",
            ssl_ca_certs=params["ca_certs"],
            ssl_certfile=params["client_cert_file"],
            ssl_keyfile=params["client_key_file"],
        )
    return kwargs


def where(module_or_params):
    """``host:port`` of the server, for messages."""
    params, _module = _options(module_or_params)
    return "{}:{}".format(params["login_host"], params["login_port"])


def _why(exc, password):
    if isinstance(exc, redis.exceptions.AuthenticationError):
        text = f"authentication refused ({exc})"
    else:
        text = str(exc) or type(exc).__name__
    if password:
        text = text.replace(password, "********")
    return text


def _connected(module_or_params, make):
    params, module = _options(module_or_params)
    if not HAS_REDIS:
        if module is not None:
            module.fail_json(msg=missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)
        raise RedisConnectError(missing_required_lib("redis"))
    try:
        return make(params)
    except (RedisError, OSError, ValueError) as exc:
        msg = "Failed to connect to Redis at {}:{}: {}".format(params["login_host"], params["login_port"], _why(exc, params["login_password"]))
    if module is not None:
        module.fail_json(msg=msg)
    raise RedisConnectError(msg)


def connect(module_or_params, decode_responses=False):
    """A redis-py client that answered PING (so a refused password or a closed port shows here).

    ``module_or_params`` is an AnsibleModule (a failure ends it with fail_json) or a dict of the
    options of redis_common_argument_spec() (a failure raises RedisConnectError). Either way the
    message is ``Failed to connect to Redis at host:port: <why>``, without the password.
    """

    def make(params):
        kwargs = connection_kwargs(params, decode_responses)
        if params["tls"]:
            kwargs["ssl"] = True
        client = redis.Redis(**kwargs)
        client.ping()
        return client

    return _connected(module_or_params, make)


def connect_raw(module_or_params):
    """A connected redis-py Connection (TLS, AUTH, SELECT done) that answered PING, for code that
    writes RESP on its socket itself (the bulk loader). Fails as connect() does."""

    def make(params):
        kwargs = connection_kwargs(params)
        conn = (redis.SSLConnection if params["tls"] else redis.Connection)(**kwargs)
        conn.connect()
        try:
            conn.send_command("PING")
            conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        return conn

    return _connected(module_or_params, make)

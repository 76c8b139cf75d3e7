"""Airflow Connections -> what the pipeline needs: a Spark target and the state store URL.

- `spark_default`: conn type `spark` with host `local[2]`, `yarn` or `spark://master` (+ port), or a
  Spark Connect server (conn type `spark_connect`, or a URI `sc://host:15002`; login = user id,
  password = token). Extra keys starting with `spark.` (or an extra `conf` mapping) become Spark conf.
- `mq_state_store`: conn type `postgres` (login, password, host, port, schema = database), `sqlite`
  (host = file path), or any type with an extra `url` (a SQLAlchemy URL).
- `slack_api_default`: read by `mq.receivers` inside a task (its password is the bot token).

A missing Connection falls back to the config (and its environment overrides), exactly what the `mq`
command line would use. Passwords, tokens and URLs that hold them are registered with Airflow's secret
masker, so they are redacted from task logs; nothing here logs them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from mq.config import Config
from mq.errors import ConfigError

SPARK_CONN_ID = "spark_default"
STATE_CONN_ID = "mq_state_store"


@dataclass(frozen=True)
class SparkTarget:
    master: str | None = None
    remote: str | None = field(default=None, repr=False)   # may carry a token
    conf: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """Where Spark runs, for logs: the Connect host without credentials, or the master."""
        if self.remote:
            return self.remote.split("/;", 1)[0]
        return self.master or "local[*]"


def _extra(conn) -> dict:
    extra = getattr(conn, "extra_dejson", None)
    if extra is None:
        raw = getattr(conn, "extra", None)
        extra = json.loads(raw) if raw else {}
    return dict(extra or {})


def spark_target_from_connection(conn, base_conf: dict[str, str] | None = None) -> SparkTarget:
    """Map a Spark Connection to get_spark() arguments; `base_conf` (the config's) comes first."""
    extra = _extra(conn)
    conf = dict(base_conf or {})
    conf.update({k: str(v) for k, v in extra.items() if k.startswith("spark.")})
    conf.update({k: str(v) for k, v in (extra.get("conf") or {}).items()})
    conn_type, host, port = (conn.conn_type or "").lower(), conn.host or "", conn.port
    if conn_type in ("spark_connect", "sc") or host.startswith("sc://"):
        netloc = host.split("://", 1)[-1].rstrip("/") + (f":{port}" if port else "")
        params = []
        if conn.login:
            params.append(f"user_id={quote(conn.login)}")
        if conn.password:
            _mask(conn.password)
            params.append(f"token={quote(conn.password)}")
        if extra.get("use_ssl") is not None:
            params.append(f"use_ssl={str(extra['use_ssl']).lower()}")
        remote = f"sc://{netloc}/" + (";" + ";".join(params) if params else "")
        if conn.password:
            _mask(remote)
        return SparkTarget(remote=remote, conf=conf)
    if not host:
        raise ConfigError(f"Airflow Connection {conn.conn_id}", "host",
                          "a Spark connection needs a host: local[N], yarn, spark://master or sc://server")
    # Entered in the UI the host holds the whole master URL; from a URI the scheme is the conn type.
    if conn_type == "spark" and ("://" in host or not port):
        master = host
    else:
        master = f"{conn_type}://{host}"
    return SparkTarget(master=f"{master}:{port}" if port else master, conf=conf)


def state_url_from_connection(conn) -> str:
    """A SQLAlchemy URL for the state store Connection."""
    import sqlalchemy as sa

    extra, conn_type = _extra(conn), (conn.conn_type or "").lower()
    if conn.password:
        _mask(conn.password)
    if extra.get("url"):
        url = str(extra["url"])
    elif conn_type in ("postgres", "postgresql"):
        url = sa.engine.URL.create("postgresql+psycopg", username=conn.login or None,
                                   password=conn.password or None, host=conn.host or None,
                                   port=conn.port or None,
                                   database=conn.schema or extra.get("database") or None
                                   ).render_as_string(hide_password=False)
    elif conn_type == "sqlite":
        url = f"sqlite:///{conn.host}"
    else:
        raise ConfigError(f"Airflow Connection {conn.conn_id}", "conn_type",
                          "the state store needs a postgres or sqlite connection, or an extra `url`",
                          conn_type)
    _mask(url)
    return url


def _lookup(conn_id: str):
    """The Connection, or None when it is not defined anywhere (env AIRFLOW_CONN_*, secrets, DB)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError

    try:
        return BaseHook.get_connection(conn_id)
    except (AirflowNotFoundException, AirflowRuntimeError):
        return None


def resolve_spark_target(config: Config) -> SparkTarget:
    conn = _lookup(SPARK_CONN_ID)
    if conn is None:
        return SparkTarget(master=config.spark.master, remote=config.spark.remote, conf=dict(config.spark.conf))
    return spark_target_from_connection(conn, base_conf=dict(config.spark.conf))


def resolve_state_url(config: Config) -> str:
    conn = _lookup(STATE_CONN_ID)
    url = state_url_from_connection(conn) if conn is not None else config.state_url
    _mask_url_password(url)
    return url


def _mask_url_password(url: str) -> None:
    import sqlalchemy as sa

    try:
        password = sa.engine.make_url(url).password
    except Exception:  # not a URL SQLAlchemy understands: the engine will say so, without logging it
        return
    if password:
        _mask(str(password))
        _mask(url)


def _mask(secret: str) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside Airflow nothing logs task output
        return
    mask_secret(secret)

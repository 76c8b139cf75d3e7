"""The pool of the Spark tasks must exist: check it (or create it) through Airflow's REST API.

Airflow does not fail a task whose pool is missing: the scheduler logs "Tasks using non-existent pool"
and never schedules it, so a run passes its sensors and waits at `pull` for ever. An Airflow 3 task has
no metadata database access, and the execution API it talks to does not expose pools, so the first
task of the daily DAG asks the public REST API instead: `GET /api/v2/pools/{name}`, and
`POST /api/v2/pools` when `MQ_AIRFLOW_POOL_CHECK=create`.

Where the API is: the Connection `mq_airflow_api` (conn type `http`: host, port, schema; login and
password are exchanged for a token at `POST /auth/token`), else the API server the worker already
talks to (`[core] execution_api_server_url` without `/execution/`, else `[api] base_url`) with a token
from `GET /auth/token`, which the simple auth manager grants only when `simple_auth_manager_all_admins`
is on. See https://airflow.apache.org/docs/apache-airflow/3.3.0/core-concepts/auth-manager/simple/token.html
and the pools endpoints of the REST API reference.

Every way this can go wrong ends in one line (`PoolError`) saying what to run or set.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import httpx

API_CONN_ID = "mq_airflow_api"
POOL_SLOTS = 2
POOL_DESCRIPTION = "Spark tasks of metrics-quality (pull, validate)"
TIMEOUT_S = 10.0


class PoolError(Exception):
    """The pool is missing or cannot be checked: one line, with the command or setting that fixes it."""


@dataclass(frozen=True)
class ApiTarget:
    """Where the REST API is and how to get a token: login/password, or none (all-admins)."""
    base_url: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)


def create_command(pool: str) -> str:
    return f'airflow pools set {pool} {POOL_SLOTS} "{POOL_DESCRIPTION}"'


def ensure_pool(client: httpx.Client, target: ApiTarget, pool: str, create: bool) -> str:
    """'exists' or 'created'; raises PoolError when the pool is missing (and not created) or unreadable."""
    try:
        client.headers["Authorization"] = f"Bearer {_token(client, target)}"
        found = client.get(f"/api/v2/pools/{pool}")
        if found.status_code == 200:
            return "exists"
        if found.status_code != 404:
            raise _refused(target, found, f"reading pool {pool!r}")
        if not create:
            raise PoolError(f"Airflow pool {pool!r} does not exist, so the Spark tasks would never be "
                            f"scheduled; run: {create_command(pool)} (or set MQ_AIRFLOW_POOL_CHECK=create)")
        made = client.post("/api/v2/pools", json={"name": pool, "slots": POOL_SLOTS,
                                                   "description": POOL_DESCRIPTION})
        if made.status_code not in (200, 201, 409):   # 409: created meanwhile by another run
            raise _refused(target, made, f"creating pool {pool!r}")
        return "created"
    except httpx.HTTPError as exc:
        raise PoolError(f"cannot check Airflow pool {pool!r}: the API at {target.base_url} is unreachable "
                        f"({type(exc).__name__}); set the Connection {API_CONN_ID}, or create the pool "
                        f"({create_command(pool)}) and set MQ_AIRFLOW_POOL_CHECK=off") from None


def _token(client: httpx.Client, target: ApiTarget) -> str:
    if target.login:
        reply = client.post("/auth/token", json={"username": target.login, "password": target.password or ""})
    else:
        reply = client.get("/auth/token")
    if reply.status_code not in (200, 201):
        raise _refused(target, reply, "getting an API token")
    return reply.json()["access_token"]


def _refused(target: ApiTarget, reply: httpx.Response, doing: str) -> PoolError:
    who = f"user {target.login!r}" if target.login else "no credentials"
    return PoolError(f"{doing} at {target.base_url} was refused ({reply.status_code}) with {who}; give the "
                     f"Connection {API_CONN_ID} a user allowed to read pools, or set MQ_AIRFLOW_POOL_CHECK=off "
                     f"once the pool exists")


def api_target() -> ApiTarget:
    """The Connection `mq_airflow_api`, else the API server this worker already reports to."""
    from mq.airflow.connections import _lookup, _mask

    conn = _lookup(API_CONN_ID)
    if conn is not None:
        if conn.password:
            _mask(conn.password)
        scheme = conn.schema or "http"
        host = (conn.host or "localhost").split("://", 1)[-1].rstrip("/")
        return ApiTarget(base_url=f"{scheme}://{host}" + (f":{conn.port}" if conn.port else ""),
                         login=conn.login or None, password=conn.password or None)
    return ApiTarget(base_url=_configured_api_url())


def _configured_api_url() -> str:
    from airflow.sdk.configuration import conf

    execution = conf.get("core", "execution_api_server_url", fallback=None)
    if execution:
        return execution.rstrip("/").removesuffix("/execution")
    base = conf.get("api", "base_url", fallback=None) or ""
    return base.rstrip("/") if base.startswith("http") else "http://localhost:8080"


def check_pool(pool: str, mode: str, under_test: bool) -> str:
    """What the `pool` task does; returns a line for its log and result."""
    if mode == "off":
        return f"pool {pool!r} not checked (MQ_AIRFLOW_POOL_CHECK=off)"
    if under_test:
        return f"pool {pool!r} not checked: dag.test() runs every task in-process and ignores pools"
    target = api_target()
    with httpx.Client(base_url=target.base_url, timeout=TIMEOUT_S) as client:
        outcome = ensure_pool(client, target, pool, create=mode == "create")
    return f"pool {pool!r} {outcome}"

"""Distinct users of a pair (pairs.<name>.user_column): on a hand-built client/warehouse pair with known
user sets, the pull stage stores the exact warehouse and missed users per monitored slice and day, a
re-run records nothing new, late client rows make a new version, and a bad user column errors clearly."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import config_from_yaml
from core.config import user_metric_names
from core.errors import ConfigError, PullError

D1, D2 = dt.date(2026, 9, 14), dt.date(2026, 9, 15)
USERS, MISSED = user_metric_names("cw")

# (day, platform, user) per side; None: an event without a user.
WAREHOUSE = [(D1, "ios", "u1"), (D1, "ios", "u2"), (D1, "ios", "u3"), (D1, "ios", "u3"),
             (D1, "android", "u1"), (D1, "android", "u4"), (D1, "android", None), (D1, "web", "u5"),
             (D2, "ios", "u1"), (D2, "ios", "u9")]
CLIENT = [(D1, "ios", "u1"), (D1, "ios", None), (D1, "android", "u2"), (D1, "android", None), (D1, "web", "u5"),
          (D1, "web", "u7"), (D2, "ios", "u1")]
# D1: warehouse users {u1..u5}; the client logged u1 (ios), u2 (android only), u5 (web), and a user the
# warehouse never saw (u7). Null users are nobody: not a warehouse user, no client user.
EXPECTED = {D1: {"(total)": (5, 2),            # u3, u4
                 "platform=ios": (3, 2),       # u2 (logged on android, not ios), u3
                 "platform=android": (2, 2),   # u1, u4 (the null-user event adds no user)
                 "platform=web": (1, 0)},
            D2: {"(total)": (2, 1), "platform=ios": (2, 1)}}   # u9

CONFIG = """
version: 1
workdir: {work}
dimensions: [platform, country]
slices: [[], [platform]]
tables:
  client: {{path: {data}/client}}
  warehouse: {{path: {data}/warehouse}}
metrics:
  client_events: {{table: client}}
  warehouse_events: {{table: warehouse}}
pairs:
  cw: {{client: client_events, warehouse: warehouse_events, user_column: {column}}}
"""


def write_side(spark, folder, rows, mode="overwrite"):
    data = [(e, p, "US", u, d.isoformat()) for e, (d, p, u) in enumerate(rows)]
    (spark.createDataFrame(data, "event_id long, platform string, country string, user_id string, ds string")
     .write.mode(mode).partitionBy("ds").parquet(str(folder)))


@pytest.fixture
def pair(spark, tmp_path, migrated_store_url):
    from mq.pipeline import Pipeline

    write_side(spark, tmp_path / "data" / "warehouse", WAREHOUSE)
    write_side(spark, tmp_path / "data" / "client", CLIENT)
    config = config_from_yaml(tmp_path, CONFIG.format(work=tmp_path / "work", data=tmp_path / "data",
                                                      column="user_id"))
    pipe = Pipeline(config, spark=spark, state_url=migrated_store_url)
    yield pipe, tmp_path
    pipe.engine.dispose()


def stored(pipe, version=None) -> dict:
    """{day: {slice: (warehouse users, missed users)}} of the latest (or the given) version."""
    points = pipe.store.points([USERS, MISSED], D1, D2, version=version)
    out: dict = {}
    for r in points.itertuples():
        day = r.partition if isinstance(r.partition, dt.date) else dt.date.fromisoformat(str(r.partition)[:10])
        users, missed = out.setdefault(day, {}).get(r.slice_key, (None, None))
        out[day][r.slice_key] = (r.value, missed) if r.metric == USERS else (users, r.value)
    return out


def test_the_backfill_stores_the_exact_missed_users_per_slice_and_day(pair):
    from mq.stages.pull import run_range_pulls

    pipe, _ = pair
    run_range_pulls(pipe, D1, D2)
    assert stored(pipe) == EXPECTED
    # The user capture a reader computes from them: 1 - missed / warehouse users.
    assert 1 - EXPECTED[D1]["(total)"][1] / EXPECTED[D1]["(total)"][0] == pytest.approx(0.6)


def test_a_rerun_records_nothing_new_and_late_client_rows_make_a_new_version(pair, spark):
    from mq.stages.pull import run_range_pulls

    pipe, tmp_path = pair
    run_range_pulls(pipe, D1, D2)
    before = len(pipe.store.points([USERS, MISSED], D1, D2, version=1))
    pipe.pull(D1)                  # a daily run of the same day
    run_range_pulls(pipe, D1, D2)  # and the backfill again
    assert len(pipe.store.points([USERS, MISSED], D1, D2, version=2)) == 0
    assert len(pipe.store.points([USERS, MISSED], D1, D2, version=1)) == before
    # u3 shows up in the client's ios events of D1 after the first pull: a new version, the old one kept.
    write_side(spark, tmp_path / "data" / "client", [(D1, "ios", "u3")], mode="append")
    pipe.refresh_tables()
    pipe.pull(D1)
    now = stored(pipe)
    assert now[D1]["platform=ios"] == (3, 1) and now[D1]["(total)"] == (5, 1)
    assert now[D2] == EXPECTED[D2]                          # the other day untouched
    assert stored(pipe, version=1)[D1] == EXPECTED[D1]      # the first version still readable


def test_a_day_whose_client_partition_cannot_be_read_is_skipped_and_the_rest_stored(pair):
    """A failed side would make every warehouse user look missed (and its files fail the job): the
    day is skipped, the other days are stored, the backfill goes on."""
    from mq.stages.pull import run_range_pulls

    pipe, tmp_path = pair
    (tmp_path / "data" / "client" / f"ds={D1}" / "part-junk.parquet").write_bytes(b"not parquet")
    pipe.refresh_tables()
    run_range_pulls(pipe, D1, D2)
    assert pipe.store.latest_pull("client", D1)["status"] == "error"
    assert stored(pipe) == {D2: EXPECTED[D2]}


def test_a_user_column_missing_from_a_table_names_the_file_key_and_value(pair):
    from mq.config import load_config

    pipe, tmp_path = pair
    config = config_from_yaml(tmp_path, CONFIG.format(work=tmp_path / "work", data=tmp_path / "data",
                                                      column="account_id"))
    from mq.pipeline import Pipeline

    other = Pipeline(config, spark=pipe.spark, state_url=str(pipe.engine.url))
    with pytest.raises(PullError) as err:
        other.pull(D1)
    message = str(err.value)
    assert str(tmp_path / "mq.yml") in message and "pairs.cw.user_column" in message and "'account_id'" in message
    other.engine.dispose()
    assert load_config(tmp_path / "mq.yml").pairs["cw"].user_column == "account_id"


def test_a_malformed_user_column_is_refused_on_load(tmp_path):
    with pytest.raises(ConfigError) as err:
        config_from_yaml(tmp_path, CONFIG.format(work=tmp_path, data=tmp_path, column='"user id"'))
    message = str(err.value)
    assert str(tmp_path / "mq.yml") in message and "pairs.cw.user_column" in message and "'user id'" in message


def test_folded_values_give_the_user_slices_the_keys_of_the_event_slices(spark, tmp_path, sqlite_url):
    """With `min_slice_rows: 2` on the warehouse, web (one warehouse event on D1) is `(other)` in the
    event counts; its users are `(other)`'s too, on both sides, so user and event slices line up."""
    from mq.pipeline import Pipeline
    from mq.stages.pull import run_range_pulls

    write_side(spark, tmp_path / "data" / "warehouse", WAREHOUSE)
    write_side(spark, tmp_path / "data" / "client", CLIENT)
    text = CONFIG.format(work=tmp_path / "work", data=tmp_path / "data", column="user_id")
    text = text.replace("warehouse: {path:", "warehouse: {min_slice_rows: 2, path:")
    pipe = Pipeline(config_from_yaml(tmp_path, text), spark=spark, state_url=sqlite_url)
    run_range_pulls(pipe, D1, D1)
    events = set(pipe.store.points(["warehouse_events"], D1, D1, groupings=["platform"]).slice_key)
    users = stored(pipe)[D1]
    assert events == {"platform=ios", "platform=android", "platform=(other)"}
    assert set(users) - {"(total)"} == events
    assert users["platform=(other)"] == (1, 0)   # u5, logged by the client's web events
    pipe.engine.dispose()


def test_users_are_counted_only_on_days_whose_latest_pulls_of_both_tables_are_ok(migrated_store_url):
    # A partition first missing then re-pulled ok counts; one pulled ok then found missing does not.
    from metricstore import MetricStore
    from mq.stages.users import pulled_days

    store = MetricStore(migrated_store_url)
    d1, d2, d3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)
    for table, day, status in (("client", d1, "ok"), ("warehouse", d1, "ok"),
                               ("client", d2, "missing"), ("client", d2, "ok"), ("warehouse", d2, "ok"),
                               ("client", d3, "ok"), ("warehouse", d3, "ok"), ("warehouse", d3, "missing")):
        store.record_pull({"table_name": table, "partition": day, "status": status, "row_count": 1,
                           "content_hash": f"{table}{day}{status}"}, None)
    assert pulled_days(store, ("client", "warehouse"), d1, d3 + dt.timedelta(days=1)) == {
        d1: "", d2: "", d3: "warehouse not pulled ok", d3 + dt.timedelta(days=1): "client not pulled ok"}

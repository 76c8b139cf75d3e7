"""The demo warehouse: two Hive-partitioned Parquet event tables with known incidents.

`client_events` holds what apps and web logged; `warehouse_events` what the backend saw. Every client
event is also a warehouse event (same `event_id`), captured with a probability below 1 that differs by
platform, so client/warehouse is a ratio a little under 1 per slice. Daily volume has a trend, weekly
seasonality and Poisson noise. Injected incidents (written to `incidents.json` as ground truth):

- client logging loss in one slice (android, app 10.3) for two days;
- a duplicated warehouse load (one file of the partition loaded twice);
- a missing warehouse partition;
- a null spike in client `user_id`;
- a public holiday with low traffic on both sides (must NOT alert: it is in the calendar).

At scale (`DemoSpec(countries=..., app_versions=..., event_types=..., incidents_per_kind=...)`, used by
bench/incident_recall.py) the dimensions take more values and the incidents are drawn from the seed:
`incidents_per_kind` of every kind at random non-overlapping dates after `warmup_days`, each logging
loss on a random (platform, app version), plus two kinds the fixed demo lacks: a slow drift of the
client capture rate in one country (down linearly to -10% over two weeks, then fixed) and a timezone
shift (one warehouse partition cut at UTC-5, so its last five hours land in the next partition).
Kinds that test whether baselines learn from incidents (`params` gives each one's size):
five-day losses on one country (`slice_loss`); a first and a second loss on the same slice 1-3 weeks
apart (`repeat_first`, `repeat_second`, drawn as one `repeat_loss` block); a one-day table-wide
timezone shock followed within four weeks by a loss on one country (`shock`, `post_shock_loss`, one
`shock_then_loss` block); and slow capture drifts of 0.3-0.7% a day over 2-3 weeks on a platform
or country (`slow_drift`). `bot_spikes` adds that many bot spikes to a drawn schedule (one country x event type gets three times
its traffic for a day, on both sides: a count anomaly, not a discrepancy).
The default spec generates exactly the demo it always did.

Network: every event also names the network it was sent on (`network`: wifi / cellular /
offline_batched), and the client capture rate depends on network x platform x app version
(`network_capture`): every network captures ORDINARY_CAPTURE except one failure mode per platform
(NETWORK_FAILURES: android loses events it batches offline, ios and web lose events sent on
cellular), and on the two oldest app versions of a mobile platform less traffic goes through the
failing network but far more of it is lost (a smaller queue that overflows). The shares of the networks per platform
and app version are chosen so that each (platform, app version) mixes to its platform's CAPTURE, and
`captured` is drawn exactly as before; the network is drawn afterwards from its own random stream,
given whether the event was captured (Bayes: P(network | captured) is proportional to share x
capture, P(network | lost) to share x (1 - capture)). So every count of the demo without the
network is what it always was, and the per-network truth is exact: incidents.json lists it
(`capture`).

Late arrival: a client event logged offline reaches the backend hours or days after it happened.
Every client row has a `received_at` timestamp and sits in the partition of its event day (so each
partition's final count is what it always was); `received_at` says when it arrived. The day it
arrives on, D+k, is drawn per (platform, app version, network) from `arrival_days` (wifi: nearly
all the same day; cellular: some the next day; offline_batched: many days late, longest on the
oldest app versions, whose queue is flushed less often), the hour from a uniform draw after the
event (same day) or over the arrival day, all from a third random stream. incidents.json lists
each cell's true completeness (`arrival`: the share of its received events present by the end of
D+0, D+1, D+2, D+7).

Generation is numpy + pyarrow, one partition at a time, so memory stays flat at any size.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PLATFORMS = {"ios": 0.36, "android": 0.46, "web": 0.18}
CAPTURE = {"ios": 0.965, "android": 0.935, "web": 0.895}   # client capture rate by platform
APP_VERSIONS = {"10.0": 0.10, "10.1": 0.15, "10.2": 0.25, "10.3": 0.30, "10.4": 0.20}
COUNTRIES = {"US": 0.30, "IN": 0.20, "BR": 0.12, "DE": 0.09, "JP": 0.08, "GB": 0.08, "FR": 0.07, "MX": 0.06}
EVENT_TYPES = {"page_view": 0.55, "click": 0.30, "share": 0.07, "purchase": 0.05, "signup": 0.03}
WEEKLY = [1.00, 1.03, 1.04, 1.02, 0.97, 0.82, 0.78]            # Monday .. Sunday
DIMENSIONS = ["platform", "country", "app_version", "event_type"]
NETWORKS = ("wifi", "cellular", "offline_batched")
# Share of a platform's events sent on each network (a browser does not batch events offline).
NETWORK_SHARES = {"ios": {"wifi": 0.60, "cellular": 0.30, "offline_batched": 0.10},
                  "android": {"wifi": 0.50, "cellular": 0.35, "offline_batched": 0.15},
                  "web": {"wifi": 0.70, "cellular": 0.30, "offline_batched": 0.0}}
ORDINARY_CAPTURE = 0.975       # capture of every (platform, network) but the failure modes
NETWORK_FAILURES = {"ios": "cellular", "android": "offline_batched", "web": "cellular"}
OLD_VERSIONS = 2               # a mobile platform's oldest versions: a smaller, lossier offline queue
OLD_VERSION_FAILURE_SHARE = 0.6    # their failing network's share of traffic, relative to the platform's
# Late arrival (`arrival_days`): share of a network's events that arrive the day they happen, and how
# slowly the rest trickle in (each later day holds `decay` times the share of the day before), up to
# MAX_ARRIVAL_DAYS late. Old app versions (OLD_VERSIONS) flush their offline queue less often.
ARRIVAL = {"wifi": (0.995, 0.2), "cellular": (0.96, 0.35), "offline_batched": (0.55, 0.6)}
OLD_VERSION_ARRIVAL = {"wifi": (0.99, 0.2), "cellular": (0.93, 0.4), "offline_batched": (0.35, 0.75)}
MAX_ARRIVAL_DAYS = 10
ARRIVAL_TRUTH_LAGS = (0, 1, 2, 7)  # the completeness incidents.json records

# At scale: the values a larger demo draws from (the demo's own values first).
MORE_COUNTRIES = ["US", "IN", "BR", "DE", "JP", "GB", "FR", "MX", "ID", "PH", "NG", "TR", "VN", "EG", "IT", "ES",
                  "KR", "CA", "PL", "AR", "CO", "TH", "PK", "SA", "ZA", "NL", "AU", "UA", "MY", "SE", "CL", "PE",
                  "BD", "RO", "BE", "CH", "AT", "PT", "GR", "CZ"]
MORE_EVENT_TYPES = ["page_view", "click", "share", "purchase", "signup", "search", "add_to_cart", "login",
                    "video_play", "comment", "like", "follow", "notification_open", "logout", "rate", "invite"]
MAX_APP_VERSIONS = 30
# Incident kinds of a drawn schedule and how many days each one lasts.
INCIDENT_DAYS = {"client_logging_loss": 2, "duplicate_load": 1, "missing_partition": 1, "null_spike": 1,
                 "holiday": 1, "ratio_drift": 14, "timezone_shift": 2}
# Kinds drawn only when a spec asks for them (`DemoSpec.baseline_kinds`), with the days each block reserves.
BASELINE_KIND_DAYS = {"slice_loss": 5, "repeat_loss": 3 + 21 + 3, "shock_then_loss": 2 + 26 + 3, "slow_drift": 21}
# The incidents (ground-truth kinds) each drawn block yields, in the order the bench reports them.
BLOCK_KINDS = {"repeat_loss": ("repeat_first", "repeat_second"), "shock_then_loss": ("shock", "post_shock_loss")}
SLICE_LOSS = (0.10, 0.18)       # share of client events a slice loss drops (uniform)
INCIDENT_GAP_DAYS = 3          # clean days at least between two drawn incidents
LOGGING_LOSS_CAPTURE = 0.5     # share of its events a slice with a logging loss still sends
RATIO_DRIFT_DEPTH = 0.10       # capture rate lost by the last day of a drift
TIMEZONE_SHIFT_HOURS = 5       # a partition cut at UTC-5: its last 5 hours land in the next partition
BOT_SPIKE_FACTOR = 3.0         # traffic of the slice a bot spike hits, both sides
# Kinds drawn only on request (DemoSpec.bot_spikes), so the schedules of existing specs do not change.
OPTIONAL_INCIDENT_DAYS = {"bot_spike": 1}


@dataclass(frozen=True)
class Incident:
    id: str
    kind: str
    start: str
    end: str
    table: str
    labels: dict[str, str] = field(default_factory=dict)
    should_alert: bool = True
    description: str = ""
    params: dict[str, float] = field(default_factory=dict)   # size of a drawn loss or drift


@dataclass(frozen=True)
class DemoSpec:
    # The incidents sit at fixed offsets from `end`, so the holiday in config/demo.yml (2026-10-05)
    # stays right whatever `days` is.
    end: dt.date = dt.date(2026, 10, 11)
    days: int = 70
    daily_events: int = 20_000                # warehouse events per day before trend/seasonality
    seed: int = 7
    # Scale. None / 0 keep the demo's own values and its five fixed incidents.
    countries: int | None = None              # the n first of MORE_COUNTRIES, Zipf-distributed
    app_versions: int | None = None           # versions per mobile platform, newest-but-one most used
    event_types: int | None = None            # the n first of MORE_EVENT_TYPES, Zipf-distributed
    incidents_per_kind: int = 0               # n of every INCIDENT_DAYS kind at random dates (0: fixed demo)
    warmup_days: int = 56                     # drawn incidents start after this much clean history
    bot_spikes: int = 0                       # bot spikes added to a drawn schedule
    baseline_kinds: bool = False              # also draw BASELINE_KIND_DAYS blocks (bench/incident_recall.py)

    def __post_init__(self) -> None:
        limits = {"countries": len(MORE_COUNTRIES), "app_versions": MAX_APP_VERSIONS,
                  "event_types": len(MORE_EVENT_TYPES)}
        for name, most in limits.items():
            value = getattr(self, name)
            if value is not None and not 1 <= value <= most:
                raise ValueError(f"DemoSpec.{name}: must be between 1 and {most} (got {value!r})")
        if self.bot_spikes < 0:
            raise ValueError(f"DemoSpec.bot_spikes: must be >= 0 (got {self.bot_spikes!r})")
        if self.incidents_per_kind < 0:
            raise ValueError(f"DemoSpec.incidents_per_kind: must be >= 0 (got {self.incidents_per_kind!r})")

    @property
    def start(self) -> dt.date:
        return self.end - dt.timedelta(days=self.days - 1)

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    def day(self, offset: int) -> dt.date:
        return self.start + dt.timedelta(days=offset if offset >= 0 else self.days + offset)


def plan_incidents(spec: DemoSpec) -> list[Incident]:
    """Place the incidents in the last weeks, after enough history for the detectors (or draw a
    schedule, when the spec asks for `incidents_per_kind`)."""
    if spec.incidents_per_kind or spec.bot_spikes:
        return draw_incidents(spec)
    if spec.days < 56:
        raise ValueError(f"the demo needs at least 56 days (6 weeks of history + incidents), got {spec.days}")
    d = lambda off: spec.day(off).isoformat()  # noqa: E731 - a tiny local helper
    return [
        Incident("logging-loss", "client_logging_loss", d(-25), d(-24), "client_events",
                 {"platform": "android", "app_version": "10.3"},
                 description="android app 10.3 stops sending half of its events (client SDK bug)"),
        _same_every_time("duplicate-load", "duplicate_load", d(-20), d(-20)),
        _same_every_time("missing-partition", "missing_partition", d(-16), d(-16)),
        _same_every_time("null-spike", "null_spike", d(-12), d(-12)),
        _same_every_time("holiday", "holiday", d(-7), d(-7)),
    ]


# Incidents that look the same wherever they fall: table, labels, should_alert, description.
_SAME_EVERY_TIME = {
    "duplicate_load": ("warehouse_events", {}, True, "one file of the warehouse partition was loaded twice"),
    "missing_partition": ("warehouse_events", {}, True, "the warehouse partition never landed"),
    "null_spike": ("client_events", {"column": "user_id"}, True, "a quarter of client events lost their user_id"),
    "holiday": ("both", {}, False, "public holiday: traffic is low on both sides; in the calendar, must not alert"),
}


def _same_every_time(name: str, kind: str, start: str, end: str) -> Incident:
    table, labels, should_alert, description = _SAME_EVERY_TIME[kind]
    return Incident(name, kind, start, end, table, dict(labels), should_alert=should_alert, description=description)


def draw_incidents(spec: DemoSpec) -> list[Incident]:
    """`incidents_per_kind` incidents of every kind at random dates from the seed, in random order,
    none overlapping and at least INCIDENT_GAP_DAYS apart, all after `warmup_days`."""
    rng = np.random.default_rng([spec.seed, 1])   # its own stream: the data draws stay independent
    spans = {**INCIDENT_DAYS, **(BASELINE_KIND_DAYS if spec.baseline_kinds else {})}
    kinds = [kind for kind in spans for _ in range(spec.incidents_per_kind)]
    kinds += ["bot_spike"] * spec.bot_spikes
    spans = {**spans, **OPTIONAL_INCIDENT_DAYS}
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    needed = sum(spans[k] for k in kinds) + INCIDENT_GAP_DAYS * (len(kinds) - 1)
    slack = spec.days - spec.warmup_days - needed
    if slack < 0:
        raise ValueError(f"{len(kinds)} incidents need {needed + spec.warmup_days} days "
                         f"({spec.warmup_days} of warm-up), the spec has {spec.days}")
    # Spread the spare days over the gaps: sorted uniform cuts of the slack.
    extra = np.sort(rng.integers(0, slack + 1, size=len(kinds)))
    countries, versions, _ = dimension_values(spec)
    mobile = [(p, v) for p in PLATFORMS if p != "web" for v in versions]
    out, offset, seen = [], spec.warmup_days, {k: 0 for k in spans}
    for kind, shift in zip(kinds, extra):
        first = offset + int(shift)
        start, end = spec.day(first).isoformat(), spec.day(first + spans[kind] - 1).isoformat()
        offset += spans[kind] + INCIDENT_GAP_DAYS
        seen[kind] += 1
        name = f"{kind.removeprefix('client_').replace('_', '-')}-{seen[kind]:02d}"
        if kind in BASELINE_KIND_DAYS:
            out.extend(_baseline_block(spec, rng, kind, name, first, countries, mobile))
        elif kind == "client_logging_loss":
            platform, version = mobile[rng.integers(len(mobile))]
            out.append(Incident(name, kind, start, end, "client_events",
                                {"platform": platform, "app_version": version},
                                description=f"{platform} app {version} stops sending half of its events"))
        elif kind == "ratio_drift":
            country = list(countries)[rng.integers(len(countries))]
            out.append(Incident(name, kind, start, end, "client_events", {"country": country},
                                description=f"client capture in {country} drifts down to "
                                            f"-{RATIO_DRIFT_DEPTH:.0%} over {INCIDENT_DAYS[kind]} days, then is fixed"))
        elif kind == "bot_spike":
            country = list(countries)[rng.integers(len(countries))]
            event_type = list(dimension_values(spec)[2])[rng.integers(len(dimension_values(spec)[2]))]
            out.append(Incident(name, kind, start, end, "both", {"country": country, "event_type": event_type},
                                description=f"bots send {BOT_SPIKE_FACTOR:g}x the usual {event_type} events "
                                            f"from {country}, logged on both sides"))
        elif kind == "timezone_shift":
            out.append(Incident(name, kind, start, end, "warehouse_events",
                                description=f"the {start} warehouse partition was cut at "
                                            f"UTC-{TIMEZONE_SHIFT_HOURS}: its last hours landed in {end}"))
        else:
            out.append(_same_every_time(name, kind, start, end))
    return sorted(out, key=lambda inc: inc.start)


def _baseline_block(spec: DemoSpec, rng, kind: str, name: str, first: int, countries, mobile) -> list[Incident]:
    """The incidents of one BASELINE_KIND_DAYS block starting at day offset `first`."""
    day = lambda off: spec.day(first + off).isoformat()  # noqa: E731 - a tiny local helper

    def loss(label: str, kind_: str, off: int, days: int, labels: dict) -> Incident:
        share = round(float(rng.uniform(*SLICE_LOSS)), 3)
        where = " & ".join(f"{k}={v}" for k, v in labels.items())
        return Incident(f"{name}{label}", kind_, day(off), day(off + days - 1), "client_events", dict(labels),
                        description=f"{where} loses {share:.0%} of its client events for {days} days",
                        params={"loss": share})

    def country() -> dict:
        return {"country": list(countries)[rng.integers(len(countries))]}

    if kind == "slice_loss":
        return [loss("", "slice_loss", 0, 5, country())]
    if kind == "repeat_loss":
        platform, version = mobile[rng.integers(len(mobile))]
        labels, gap = {"platform": platform, "app_version": version}, int(rng.integers(7, 22))
        return [loss("a", "repeat_first", 0, 3, labels), loss("b", "repeat_second", 3 + gap, 3, labels)]
    if kind == "shock_then_loss":
        gap = int(rng.integers(7, 27))
        shock = Incident(f"{name}a", "shock", day(0), day(1), "warehouse_events",
                         description=f"the {day(0)} warehouse partition was cut at UTC-{TIMEZONE_SHIFT_HOURS}")
        return [shock, loss("b", "post_shock_loss", 2 + gap, 3, country())]
    # slow_drift
    rate, days = round(float(rng.uniform(0.003, 0.007)), 4), int(rng.integers(14, 22))
    labels = country() if rng.random() < 0.5 else {"platform": list(PLATFORMS)[rng.integers(len(PLATFORMS))]}
    where = " & ".join(f"{k}={v}" for k, v in labels.items())
    return [Incident(name, "slow_drift", day(0), day(days - 1), "client_events", labels,
                     description=f"client capture of {where} falls {rate:.1%} a day for {days} days, then is fixed",
                     params={"rate": rate})]


def dimension_values(spec: DemoSpec) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(countries, app versions, event types) with their shares of traffic."""
    countries = COUNTRIES if spec.countries is None else _zipf(MORE_COUNTRIES[:spec.countries], 0.9)
    event_types = EVENT_TYPES if spec.event_types is None else _zipf(MORE_EVENT_TYPES[:spec.event_types], 1.0)
    if spec.app_versions is None:
        versions = APP_VERSIONS
    else:
        # Adoption rises with each release; the newest one is still rolling out.
        n = spec.app_versions
        weights = [float(i + 1) for i in range(n - 1)] + [0.66 * (n - 1) if n > 1 else 1.0]
        versions = {f"{10 + i // 10}.{i % 10}": w / sum(weights) for i, w in enumerate(weights)}
    return countries, versions, event_types


def network_capture(app_versions: dict[str, float]) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """(platform, app version) -> network -> (share of its events, capture rate), mixing to CAPTURE.

    The failing network's capture is what is left of the platform's loss once every other network
    captures ORDINARY_CAPTURE: (1 - CAPTURE) = (1 - s) (1 - ORDINARY_CAPTURE) + s (1 - c)."""
    oldest = set(list(app_versions)[:OLD_VERSIONS])
    out = {}
    for platform, capture in CAPTURE.items():
        failing = NETWORK_FAILURES[platform]
        for version in ({"web": 1.0} if platform == "web" else app_versions):
            shares = dict(NETWORK_SHARES[platform])
            if version in oldest and len(app_versions) > OLD_VERSIONS:
                fail = shares[failing] * OLD_VERSION_FAILURE_SHARE
                rest = (1 - fail) / (1 - shares[failing])
                shares = {n: fail if n == failing else v * rest for n, v in shares.items()}
            s = shares[failing]
            lost = ((1 - capture) - (1 - s) * (1 - ORDINARY_CAPTURE)) / s
            out[(platform, version)] = {n: (shares[n], 1 - lost if n == failing else ORDINARY_CAPTURE)
                                        for n in NETWORKS}
    return out


def arrival_days(app_versions: dict[str, float]) -> dict[tuple[str, str, str], np.ndarray]:
    """(platform, app version, network) -> P(a received event arrives k days after its event day),
    k = 0 .. MAX_ARRIVAL_DAYS: the same-day share, then a geometric tail (ARRIVAL)."""
    oldest = set(list(app_versions)[:OLD_VERSIONS])
    out = {}
    for platform in PLATFORMS:
        for version in ({"web": 1.0} if platform == "web" else app_versions):
            old = platform != "web" and version in oldest and len(app_versions) > OLD_VERSIONS
            for network in NETWORKS:
                same_day, decay = (OLD_VERSION_ARRIVAL if old else ARRIVAL)[network]
                tail = decay ** np.arange(MAX_ARRIVAL_DAYS)
                out[(platform, version, network)] = np.concatenate([[same_day], (1 - same_day) * tail / tail.sum()])
    return out


def _draw_received_at(rng, event_ts: np.ndarray, day_start: np.datetime64, probs: np.ndarray) -> np.ndarray:
    """When each client event reached the backend: `probs` (events, days) gives its arrival day D+k;
    on the event's own day a uniform time between the event and midnight, on a later day a uniform
    time over that day."""
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(len(event_ts)) * cumulative[:, -1]
    lag = np.minimum((u[:, None] >= cumulative).sum(axis=1), probs.shape[1] - 1)
    day_us = 86_400 * 10**6
    after = (event_ts - day_start).astype("int64")            # microseconds into the event day
    frac = rng.random(len(event_ts))
    offset = np.where(lag == 0, after + frac * (day_us - 1 - after), lag * day_us + frac * (day_us - 1))
    return day_start + offset.astype("int64").astype("timedelta64[us]")


def _draw_networks(rng, captured: np.ndarray, p_capture: np.ndarray, mix: np.ndarray, shares: np.ndarray,
                   rates: np.ndarray) -> np.ndarray:
    """The network of each event given whether it was captured (index into NETWORKS).

    `shares`, `rates`: (events, networks); `mix`: the event's capture without incidents. An incident
    scales every network's capture by p_capture / mix, so P(network | lost) uses the scaled rates."""
    scaled = rates * (p_capture / mix)[:, None]
    weight = np.where(captured[:, None], shares * scaled, shares * (1 - scaled))
    cumulative = np.cumsum(weight, axis=1)
    u = rng.random(captured.size) * cumulative[:, -1]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), len(NETWORKS) - 1)


def _zipf(names: list[str], exponent: float) -> dict[str, float]:
    weights = np.arange(1, len(names) + 1, dtype=float) ** -exponent
    return dict(zip(names, (weights / weights.sum()).tolist()))


def _leaf_table(countries: dict[str, float], app_versions: dict[str, float],
                event_types: dict[str, float]) -> tuple[list[tuple[str, str, str, str]], np.ndarray]:
    leaves, probs = [], []
    for platform, p_platform in PLATFORMS.items():
        versions = {"web": 1.0} if platform == "web" else app_versions
        for version, p_version in versions.items():
            for country, p_country in countries.items():
                for event_type, p_type in event_types.items():
                    leaves.append((platform, country, version, event_type))
                    probs.append(p_platform * p_version * p_country * p_type)
    return leaves, np.asarray(probs) / np.sum(probs)


def _write(table: pa.Table, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)


def generate(out_dir: str | Path, spec: DemoSpec = DemoSpec(), progress=None) -> dict:
    """Write `<out>/client_events`, `<out>/warehouse_events` and `<out>/incidents.json`."""
    out = Path(out_dir)
    for table in ("client_events", "warehouse_events"):
        shutil.rmtree(out / table, ignore_errors=True)
    rng = np.random.default_rng(spec.seed)
    values = dimension_values(spec)
    leaves, probs = _leaf_table(*values)
    leaf_cols = [np.array([leaf[i] for leaf in leaves]) for i in range(4)]
    capture = np.array([CAPTURE[leaf[0]] for leaf in leaves])
    by_network = network_capture(values[1])
    net_shares = np.array([[by_network[(leaf[0], leaf[2])][n][0] for n in NETWORKS] for leaf in leaves])
    net_rates = np.array([[by_network[(leaf[0], leaf[2])][n][1] for n in NETWORKS] for leaf in leaves])
    net_rng = np.random.default_rng([spec.seed, 2])   # its own stream: every other draw stays as it was
    arrival_rng = np.random.default_rng([spec.seed, 3])   # the same for the arrival times
    by_cell = arrival_days(values[1])
    arrival_probs = np.array([[by_cell[(leaf[0], leaf[2], n)] for n in NETWORKS] for leaf in leaves])
    incidents = plan_incidents(spec)
    active = _active_days(incidents)
    rows = {"client_events": 0, "warehouse_events": 0}
    shifted = None   # warehouse rows a timezone shift pushed into the next partition

    for i, day in enumerate(spec.dates):
        iso = day.isoformat()
        today = active.get(iso, [])
        kinds = {inc.kind for inc, _ in today}
        volume = spec.daily_events * (1 + 0.0015 * i) * WEEKLY[day.weekday()]
        if "holiday" in kinds:
            volume *= 0.55
        rate = volume * probs
        for inc, _ in today:
            if inc.kind == "bot_spike":
                rate = np.where(_slice_mask(leaf_cols, inc.labels), rate * BOT_SPIKE_FACTOR, rate)
        counts = rng.poisson(rate)
        n = int(counts.sum())
        # Shuffled, as events arrive: a file of the partition holds a mix of every slice.
        leaf_index = rng.permutation(np.repeat(np.arange(len(leaves)), counts))
        day_start = np.datetime64(iso, "us")
        # Diurnal shape: more events in the afternoon (a triangular draw peaking at 15:00).
        seconds = rng.triangular(0, 15 * 3600, 86_400 - 1, size=n).astype("int64")
        event_ts = day_start + seconds.astype("timedelta64[s]")
        event_id = np.char.add(f"{iso.replace('-', '')}-", np.arange(n).astype(str))
        user_id = np.char.add("u", rng.integers(0, 400_000, size=n).astype(str)).astype(object)

        p_capture = capture[leaf_index]
        for inc, nth_day in today:
            if inc.kind == "client_logging_loss":
                hit = _slice_mask(leaf_cols, inc.labels)[leaf_index]
                p_capture = np.where(hit, p_capture * LOGGING_LOSS_CAPTURE, p_capture)
            elif inc.kind == "ratio_drift":
                hit = _slice_mask(leaf_cols, inc.labels)[leaf_index]
                lost = RATIO_DRIFT_DEPTH * (nth_day + 1) / INCIDENT_DAYS["ratio_drift"]
                p_capture = np.where(hit, p_capture * (1 - lost), p_capture)
            elif "loss" in inc.params or "rate" in inc.params:
                hit = _slice_mask(leaf_cols, inc.labels)[leaf_index]
                lost = inc.params.get("loss", inc.params.get("rate", 0.0) * (nth_day + 1))
                p_capture = np.where(hit, p_capture * (1 - lost), p_capture)
        captured = rng.random(n) < p_capture
        net_index = _draw_networks(net_rng, captured, p_capture, capture[leaf_index], net_shares[leaf_index],
                                   net_rates[leaf_index])
        network = np.asarray(NETWORKS)[net_index]

        columns = {
            "event_id": event_id, "event_ts": event_ts,
            "event_type": leaf_cols[3][leaf_index], "platform": leaf_cols[0][leaf_index],
            "country": leaf_cols[1][leaf_index], "app_version": leaf_cols[2][leaf_index],
            "user_id": user_id, "network": network,
        }
        warehouse = pa.table({k: pa.array(v) for k, v in columns.items()})
        client_user = user_id[captured].copy()
        if "null_spike" in kinds:
            client_user[rng.random(client_user.size) < 0.25] = None
        client = pa.table({k: pa.array(client_user if k == "user_id" else v[captured])
                           for k, v in columns.items()})
        received = _draw_received_at(arrival_rng, event_ts[captured], day_start,
                                     arrival_probs[leaf_index[captured], net_index[captured]])
        client = client.append_column("received_at", pa.array(received))
        if shifted is not None:
            warehouse, shifted = pa.concat_tables([shifted, warehouse]), None
        if any(inc.kind in ("timezone_shift", "shock") and nth_day == 0 for inc, nth_day in today):
            late = seconds >= (24 - TIMEZONE_SHIFT_HOURS) * 3600
            warehouse, shifted = warehouse.filter(pa.array(~late)), warehouse.filter(pa.array(late))

        _write(client, out / "client_events" / f"ds={iso}", "part-0.parquet")
        rows["client_events"] += client.num_rows
        if "missing_partition" not in kinds:
            _write(warehouse, out / "warehouse_events" / f"ds={iso}", "part-0.parquet")
            rows["warehouse_events"] += warehouse.num_rows
        if "duplicate_load" in kinds:
            again = warehouse.slice(0, warehouse.num_rows // 4)   # one of four files, loaded twice
            _write(again, out / "warehouse_events" / f"ds={iso}", "part-1.parquet")
            rows["warehouse_events"] += again.num_rows
        if progress:
            progress(1)

    truth = {"spec": {**_spec_record(spec), "start": spec.start.isoformat(), "end": spec.end.isoformat()},
             "dimensions": DIMENSIONS, "rows": rows,
             "incidents": [{k: v for k, v in asdict(inc).items() if k != "params" or v} for inc in incidents],
             "capture": [{"platform": p, "app_version": v, "network": n, "share": share, "capture": rate}
                         for (p, v), nets in by_network.items() for n, (share, rate) in nets.items() if share > 0],
             "arrival": [{"platform": p, "app_version": v, "network": n,
                          **{f"d{k}": round(float(probs[:k + 1].sum()), 9) for k in ARRIVAL_TRUTH_LAGS}}
                         for (p, v, n), probs in by_cell.items() if by_network[(p, v)][n][0] > 0]}
    (out / "incidents.json").write_text(json.dumps(truth, indent=2))
    return truth


def _active_days(incidents: list[Incident]) -> dict[str, list[tuple[Incident, int]]]:
    """ISO date -> [(incident, how many days it has already lasted)] for every day of every incident."""
    active: dict[str, list[tuple[Incident, int]]] = {}
    for inc in incidents:
        first, last = dt.date.fromisoformat(inc.start), dt.date.fromisoformat(inc.end)
        for k in range((last - first).days + 1):
            active.setdefault((first + dt.timedelta(days=k)).isoformat(), []).append((inc, k))
    return active


def _slice_mask(leaf_cols: list[np.ndarray], labels: dict[str, str]) -> np.ndarray:
    """Which leaves belong to the slice `labels` (leaf_cols in DIMENSIONS order)."""
    mask = np.ones(leaf_cols[0].size, dtype=bool)
    for dim, value in labels.items():
        mask &= leaf_cols[DIMENSIONS.index(dim)] == value
    return mask


def _spec_record(spec: DemoSpec) -> dict:
    """The spec as incidents.json records it: the scale fields only when set, so the demo's file is unchanged."""
    default = DemoSpec()
    return {k: v for k, v in asdict(spec).items()
            if k in ("end", "days", "daily_events", "seed") or v != getattr(default, k)}

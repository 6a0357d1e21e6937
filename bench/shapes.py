"""The shapes `make bench` measures: a deterministic generator for each (seeded, so every run and
every machine gets the same bytes), the etl dataset that maps it, and the same job written for
each peer (DuckDB with explicit columns, DuckDB auto-detecting, ClickHouse through chDB).

Every job writes the same columns (the partition columns as zero-padded strings) to
Hive-partitioned Snappy Parquet, so that `peers.py compare` can check the outputs row by row.
The standard job's data comes from `etl generate`; the others from the generators here.
"""

import json
import os
import random
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = os.path.join(ROOT, "bench", "datasets")


@dataclass
class Shape:
    name: str
    what: str
    dataset: str
    # The generated data: (file name, records); None for the standard job (etl generate).
    file: str
    records: int
    # DuckDB: the raw columns for read_ndjson(columns = ...), and the job's select list over them
    # (the auto-detecting configuration uses the same select list on its own reading).
    duckdb_columns: str
    duckdb_select: str
    partitions: list
    # chDB: the structure of file(..., 'JSONEachRow', ...) and the select list over it, with the
    # partition columns last (chDB writes one file per partition and keeps them in the file).
    chdb_structure: str
    chdb_select: str
    # The columns compared: (name, kind), kind "time" (compared as epoch microseconds),
    # "string", or "value"; partition columns are compared as strings.
    columns: list
    # Settings a peer needs for this shape (DuckDB's PARTITION_BY and chDB's partition limits).
    fan_out: bool = False


def _partition_strings(time, parts):
    """DuckDB expressions for zero-padded UTC partition values of a TIMESTAMPTZ expression."""
    fmt = {"year": "%Y", "month": "%m", "day": "%d"}
    return ", ".join(f"strftime({time}, '{fmt[p]}') AS {p}" for p in parts)


def _chdb_partition_strings(time, parts):
    fmt = {"year": "%Y", "month": "%m", "day": "%d"}
    return ", ".join(f"formatDateTime({time}, '{fmt[p]}', 'UTC') AS {p}" for p in parts)


WIDE_METRICS = 48
_metrics = [f"m{i:02d}" for i in range(WIDE_METRICS)]

STANDARD = Shape(
    name="standard",
    what="standard IoT job",
    dataset=os.path.join(ROOT, "datasets", "iot_sensors.toml"),
    file=None,
    records=0,
    duckdb_columns=(
        "{device_id: 'VARCHAR', timestamp: 'BIGINT', location: 'STRUCT(lat VARCHAR, long VARCHAR)', "
        "temperature: 'DOUBLE', humidity: 'DOUBLE', pressure: 'DOUBLE'}"
    ),
    duckdb_select=(
        'device_id, "timestamp", CAST(location.lat AS DOUBLE) AS latitude, '
        "CAST(location.long AS DOUBLE) AS longitude, temperature, humidity, pressure, "
        + _partition_strings('to_timestamp("timestamp")', ["year", "month"])
    ),
    partitions=["year", "month", "device_id"],
    chdb_structure=(
        "device_id String, timestamp Int64, location Tuple(lat String, long String), "
        "temperature Nullable(Float64), humidity Nullable(Float64), pressure Nullable(Float64)"
    ),
    chdb_select=(
        "device_id, timestamp, toFloat64(location.lat) AS latitude, "
        "toFloat64(location.long) AS longitude, temperature, humidity, pressure, "
        + _chdb_partition_strings("toDateTime(timestamp, 'UTC')", ["year", "month"])
    ),
    columns=[("device_id", "string"), ("timestamp", "value"), ("latitude", "value"),
             ("longitude", "value"), ("temperature", "value"), ("humidity", "value"),
             ("pressure", "value")],
)

WIDE = Shape(
    name="wide",
    what=f"wide numeric ({WIDE_METRICS} doubles)",
    dataset=os.path.join(DATASETS, "wide_metrics.toml"),
    file="wide.ndjson",
    records=475_000,
    duckdb_columns="{host: 'VARCHAR', time: 'BIGINT', "
    + ", ".join(f"{m}: 'DOUBLE'" for m in _metrics) + "}",
    duckdb_select="host, epoch_ms(CAST(time AS BIGINT)) AS time, "
    + ", ".join(f"CAST({m} AS DOUBLE) AS {m}" for m in _metrics) + ", "
    + _partition_strings("epoch_ms(CAST(time AS BIGINT))", ["year", "month", "day"]),
    partitions=["year", "month", "day"],
    chdb_structure="host String, time Int64, " + ", ".join(f"{m} Nullable(Float64)" for m in _metrics),
    chdb_select="host, fromUnixTimestamp64Milli(time, 'UTC') AS time, " + ", ".join(_metrics) + ", "
    + _chdb_partition_strings("fromUnixTimestamp64Milli(time, 'UTC')", ["year", "month", "day"]),
    columns=[("host", "string"), ("time", "time")] + [(m, "value") for m in _metrics],
)

_CLICK_COLUMNS = ["user_id", "session_id", "event_type", "page_url", "referrer", "user_agent",
                  "ip", "country", "device"]
CLICKSTREAM = Shape(
    name="clickstream",
    what="string-heavy clickstream",
    dataset=os.path.join(DATASETS, "clickstream.toml"),
    file="clickstream.ndjson",
    records=880_000,
    duckdb_columns="{event_id: 'VARCHAR', event_time: 'TIMESTAMPTZ', "
    + ", ".join(f"{c}: 'VARCHAR'" for c in _CLICK_COLUMNS) + ", duration_ms: 'BIGINT'}",
    duckdb_select="event_id, CAST(event_time AS TIMESTAMPTZ) AS event_time, "
    + ", ".join(_CLICK_COLUMNS) + ", duration_ms, "
    + _partition_strings("CAST(event_time AS TIMESTAMPTZ)", ["year", "month", "day"]),
    partitions=["year", "month", "day"],
    chdb_structure="event_id String, event_time DateTime64(3, 'UTC'), "
    + ", ".join(f"{c} Nullable(String)" for c in _CLICK_COLUMNS) + ", duration_ms Nullable(Int64)",
    chdb_select="event_id, event_time, " + ", ".join(_CLICK_COLUMNS) + ", duration_ms, "
    + _chdb_partition_strings("event_time", ["year", "month", "day"]),
    columns=[("event_id", "string"), ("event_time", "time")]
    + [(c, "string") for c in _CLICK_COLUMNS] + [("duration_ms", "value")],
)

DEEP = Shape(
    name="deep",
    what="deep documents, 5 fields kept",
    dataset=os.path.join(DATASETS, "deep_documents.toml"),
    file="deep.ndjson",
    records=92_000,
    duckdb_columns="{id: 'VARCHAR', created: 'TIMESTAMPTZ', "
    "customer: 'STRUCT(id BIGINT, address STRUCT(city VARCHAR))', summary: 'STRUCT(total DOUBLE)'}",
    duckdb_select="id AS order_id, CAST(created AS TIMESTAMPTZ) AS created, "
    "CAST(customer.id AS BIGINT) AS customer_id, customer.address.city AS city, "
    "CAST(summary.total AS DOUBLE) AS total, "
    + _partition_strings("CAST(created AS TIMESTAMPTZ)", ["year", "month"]),
    partitions=["year", "month"],
    chdb_structure="id String, created DateTime64(3, 'UTC'), "
    "customer Tuple(id Nullable(Int64), address Tuple(city Nullable(String))), "
    "summary Tuple(total Nullable(Float64))",
    chdb_select="id AS order_id, created, customer.id AS customer_id, "
    "customer.address.city AS city, summary.total AS total, "
    + _chdb_partition_strings("created", ["year", "month"]),
    columns=[("order_id", "string"), ("created", "time"), ("customer_id", "value"),
             ("city", "string"), ("total", "value")],
)

# 19,500 rather than 20,000: chDB holds every partition's file open at once, and 20,000 is the
# hard limit of open files here.
FAN_OUT_DEVICES = 19_500
FAN_OUT = Shape(
    name="fan_out",
    what=f"fan-out to {FAN_OUT_DEVICES:,} partitions",
    dataset=os.path.join(DATASETS, "fan_out.toml"),
    file="fan_out.ndjson",
    records=1_250_000,
    duckdb_columns="{device_id: 'VARCHAR', timestamp: 'BIGINT', reading: 'DOUBLE', status: 'VARCHAR'}",
    duckdb_select='device_id, "timestamp", CAST(reading AS DOUBLE) AS reading, status, '
    + _partition_strings('to_timestamp("timestamp")', ["year", "month"]),
    partitions=["year", "month", "device_id"],
    chdb_structure="device_id String, timestamp Int64, reading Nullable(Float64), status Nullable(String)",
    chdb_select="device_id, timestamp, reading, status, "
    + _chdb_partition_strings("toDateTime(timestamp, 'UTC')", ["year", "month"]),
    columns=[("device_id", "string"), ("timestamp", "value"), ("reading", "value"),
             ("status", "string")],
    fan_out=True,
)

SHAPES = {s.name: s for s in [STANDARD, WIDE, CLICKSTREAM, DEEP, FAN_OUT]}

# 2020-06-01T00:00:00Z: the generated times start here.
_START = 1590969600


def _float(rng, scale, digits):
    return round(rng.uniform(-scale, scale), digits)


def write_wide(out, records, rng):
    hosts = [f"host-{i:04d}" for i in range(200)]
    scales = [(10 ** rng.randint(0, 5), rng.randint(1, 6)) for _ in _metrics]
    for i in range(records):
        ms = (_START + i * 9) * 1000 + rng.randrange(1000)  # ~45 days over the file
        values = ",".join(f'"{m}":{_float(rng, s, d)!r}' for m, (s, d) in zip(_metrics, scales))
        out.write(f'{{"host":"{rng.choice(hosts)}","time":{ms},{values}}}\n')


_PATHS = ["/", "/search", "/cart", "/checkout", "/account/orders", "/category/shoes",
          "/category/outdoor/tents", "/help/returns", "/product/"]
_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/83.0.4103.116 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.1.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_5_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/13.1.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; SM-G975F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/83.0.4103.106 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:77.0) Gecko/20100101 Firefox/77.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
_EVENTS = ["page_view", "click", "add_to_cart", "search", "purchase", "scroll", "sign_in"]
_COUNTRIES = ["JP", "US", "DE", "FR", "GB", "BR", "IN", "KR", "AU", "CA", "ES", "NL"]
_REFERRERS = [None, "https://www.google.com/", "https://t.co/x1y2z3", "https://news.example.org/a/1",
              "https://shop.example.com/search?q=tent"]


def write_clickstream(out, records, rng):
    for i in range(records):
        seconds = _START + i * 3 + rng.randrange(3)  # ~35 days over the file
        t = _iso_millis(seconds, rng.randrange(1000))
        user = rng.randrange(200_000)
        path = rng.choice(_PATHS)
        if path == "/product/":
            path += f"{rng.randrange(10**6):06d}-{rng.choice(['blue', 'red', 'green'])}"
        url = f"https://shop.example.com{path}?utm_source={rng.choice(['mail', 'ads', 'social'])}&s={rng.randrange(10**8):08x}"
        record = {
            "event_id": f"{rng.getrandbits(128):032x}",
            "event_time": t,
            "user_id": f"u-{user:07d}",
            "session_id": f"{user:07d}-{rng.getrandbits(48):012x}",
            "event_type": rng.choice(_EVENTS),
            "page_url": url,
            "referrer": rng.choice(_REFERRERS),
            "user_agent": rng.choice(_AGENTS),
            "ip": f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "country": rng.choice(_COUNTRIES),
            "device": rng.choice(["desktop", "mobile", "tablet"]),
            "duration_ms": rng.randrange(60_000),
        }
        out.write(json.dumps(record, separators=(",", ":")))
        out.write("\n")


def _iso_millis(seconds, millis):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


_CITIES = ["Tokyo", "Osaka", "Berlin", "Paris", "London", "São Paulo", "Mumbai", "Seoul",
           "Sydney", "Toronto", "Madrid", "Amsterdam", "New York", "Zürich"]


def write_deep(out, records, rng):
    for i in range(records):
        seconds = _START + i * 60 + rng.randrange(60)  # ~45 days over the file
        items = []
        for n in range(rng.randint(3, 12)):
            items.append({
                "sku": f"SKU-{rng.randrange(10**6):06d}",
                "name": rng.choice(["Tent", "Boots", "Jacket", "Lamp", "Stove", "Rope"]) + f" {n}",
                "qty": rng.randint(1, 5),
                "price": round(rng.uniform(1, 500), 2),
                "attrs": {"color": rng.choice(["blue", "red", "green"]), "size": rng.choice("SMLX"),
                          "tags": [f"t{rng.randrange(100)}" for _ in range(rng.randint(0, 4))]},
            })
        history = [{"at": _iso_millis(seconds + k, 0), "by": f"agent-{rng.randrange(50)}",
                    "change": {"field": rng.choice(["status", "address", "items"]),
                               "from": None if k == 0 else "pending", "to": "confirmed"}}
                   for k in range(rng.randint(1, 6))]
        doc = {
            "id": f"ord-{i:08d}",
            "created": _iso_millis(seconds, rng.randrange(1000)),
            "status": rng.choice(["confirmed", "shipped", "delivered", "returned"]),
            "customer": {
                "id": rng.randrange(10**9),
                "name": {"first": "Ada", "last": f"Lovelace-{rng.randrange(1000)}"},
                "email": f"customer{rng.randrange(10**6)}@example.com",
                "address": {"street": f"{rng.randrange(1, 999)} Example St.",
                            "city": rng.choice(_CITIES), "zip": f"{rng.randrange(10**5):05d}",
                            "geo": {"lat": round(rng.uniform(-90, 90), 6),
                                    "lon": round(rng.uniform(-180, 180), 6)}},
                "segments": [rng.choice(["new", "loyal", "vip", "b2b"]) for _ in range(rng.randint(0, 3))],
            },
            "items": items,
            "payment": {"method": rng.choice(["card", "invoice", "wallet"]),
                        "card": {"brand": "visa", "last4": f"{rng.randrange(10**4):04d}"},
                        "captured": rng.random() < 0.9},
            "audit": {"history": history, "source": {"app": "web", "version": "4.2.1"}},
            "summary": {"total": round(sum(x["price"] * x["qty"] for x in items), 2),
                        "currency": "EUR", "items": len(items)},
        }
        out.write(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")


def write_fan_out(out, records, rng):
    statuses = ["ok", "ok", "ok", "warn", "error"]
    for _ in range(records):
        device = rng.randrange(FAN_OUT_DEVICES)
        ts = _START + rng.randrange(30 * 86400)  # June 2020: one month, so a partition per device
        out.write(f'{{"device_id":"d-{device:05d}","timestamp":{ts},'
                  f'"reading":{round(rng.uniform(-40, 120), 2)!r},"status":"{rng.choice(statuses)}"}}\n')


WRITERS = {"wide": write_wide, "clickstream": write_clickstream, "deep": write_deep,
           "fan_out": write_fan_out}


def generate(shape, path):
    """Writes the shape's records to path (seeded by the shape's name)."""
    rng = random.Random(shape.name)
    with open(path + ".part", "w", encoding="utf-8", buffering=1 << 20) as out:
        WRITERS[shape.name](out, shape.records, rng)
    os.replace(path + ".part", path)

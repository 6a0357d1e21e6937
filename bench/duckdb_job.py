#!/usr/bin/env python3
"""The standard job in DuckDB, for comparison: `duckdb_job.py INPUT OUT_DIR`.

Same columns, types and partitions as datasets/iot_sensors.toml (latitude/longitude cast from
strings, year/month from the epoch-seconds timestamp, device_id as a value partition), Snappy
Parquet, one thread.
"""

import sys

import duckdb

source, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads=1")
con.execute("SET preserve_insertion_order=false")
columns = (
    "{device_id: 'VARCHAR', timestamp: 'BIGINT', location: 'STRUCT(lat VARCHAR, long VARCHAR)', "
    "temperature: 'DOUBLE', humidity: 'DOUBLE', pressure: 'DOUBLE'}"
)
con.execute(
    f"""
    COPY (
      SELECT device_id, "timestamp",
             CAST(location.lat AS DOUBLE) AS latitude, CAST(location.long AS DOUBLE) AS longitude,
             temperature, humidity, pressure,
             strftime(to_timestamp("timestamp"), '%Y') AS year,
             strftime(to_timestamp("timestamp"), '%m') AS month
      FROM read_ndjson('{source}', columns = {columns})
    ) TO '{out}' (FORMAT PARQUET, COMPRESSION snappy, PARTITION_BY (year, month, device_id))
    """
)

#!/usr/bin/env python3
"""A shape's job run by a peer, single-threaded, and the comparison of outputs.

  peers.py duckdb-columns SHAPE INPUT OUT   DuckDB, read_ndjson with explicit columns
  peers.py duckdb-auto SHAPE INPUT OUT      DuckDB, read_ndjson auto-detecting the schema
  peers.py chdb SHAPE INPUT OUT             ClickHouse (chDB), JSONEachRow with a structure
  peers.py compare SHAPE ETL_OUT PEER_OUT PEER
                                            the rows of both outputs, EXCEPT ALL both ways
  peers.py versions                         each peer's version, one line

Each job is the shape's dataset (bench/shapes.py): same columns, types and Hive partitions,
Snappy Parquet. The peer's process is what `bench.py` times, so each job imports only its tool.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes import SHAPES  # noqa: E402


def duckdb_job(shape, source, out, auto):
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=1")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET TimeZone='UTC'")
    read = f"read_ndjson('{source}')" if auto else f"read_ndjson('{source}', columns = {shape.duckdb_columns})"
    con.execute(
        f"""COPY (SELECT {shape.duckdb_select} FROM {read})
            TO '{out}' (FORMAT PARQUET, COMPRESSION snappy,
                        PARTITION_BY ({", ".join(shape.partitions)}))"""
    )


def chdb_job(shape, source, out):
    import resource

    import chdb

    # chDB keeps every partition's file open until the insert ends (20,000 for the fan-out).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.makedirs(out, exist_ok=True)
    partition = ", ".join(shape.partitions)
    structure = shape.chdb_structure.replace("'", "\\'")
    chdb.query(
        f"""INSERT INTO FUNCTION file('{out}/{{_partition_id}}.parquet', 'Parquet')
            PARTITION BY ({partition})
            SELECT {shape.chdb_select}
            FROM file('{source}', 'JSONEachRow', '{structure}')
            SETTINGS max_threads = 1, max_insert_threads = 1,
                     output_format_parquet_compression_method = 'snappy',
                     max_partitions_per_insert_block = 0,
                     prefer_column_name_to_alias = 1,
                     input_format_json_read_numbers_as_strings = 0""",
        "CSV",
    )


def _canonical(shape):
    """The select list both sides are compared by: times as epoch microseconds, strings as
    VARCHAR (chDB writes some as binary), partition values as strings."""
    cols = []
    for name, kind in shape.columns:
        if kind == "time":
            cols.append(f'epoch_us("{name}") AS "{name}"')
        elif kind == "string":
            cols.append(f'CAST("{name}" AS VARCHAR) AS "{name}"')
        else:
            cols.append(f'"{name}"')
    for p in shape.partitions:
        if p not in dict(shape.columns):
            cols.append(f'CAST("{p}" AS VARCHAR) AS "{p}"')
    return ", ".join(cols)


def compare(shape, ours, theirs, peer):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    # etl's and DuckDB's partition values are in the paths; chDB's inside the files.
    peer_hive = "false" if peer == "chdb" else "true"
    con.execute(
        f"""CREATE VIEW a AS SELECT {_canonical(shape)} FROM read_parquet('{ours}/**/*.parquet',
                hive_partitioning = true, hive_types_autocast = false)"""
    )
    con.execute(
        f"""CREATE VIEW b AS SELECT {_canonical(shape)} FROM read_parquet('{theirs}/**/*.parquet',
                hive_partitioning = {peer_hive}, hive_types_autocast = false)"""
    )
    rows_a, rows_b, only_a, only_b = con.execute(
        """SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b),
                  (SELECT count(*) FROM (FROM a EXCEPT ALL FROM b)),
                  (SELECT count(*) FROM (FROM b EXCEPT ALL FROM a))"""
    ).fetchone()
    if rows_a != rows_b or only_a or only_b:
        sample = con.execute("FROM (FROM a EXCEPT ALL FROM b) LIMIT 3").fetchall()
        sample_b = con.execute("FROM (FROM b EXCEPT ALL FROM a) LIMIT 3").fetchall()
        sys.exit(
            f"{shape.name}: etl's output and {peer}'s differ: {rows_a} rows vs {rows_b}, "
            f"{only_a} only in etl's, {only_b} only in {peer}'s\n"
            f"  etl: {sample}\n  {peer}: {sample_b}"
        )
    print(f"{shape.name}: etl = {peer}: {rows_a} rows, EXCEPT ALL both ways empty")


def versions():
    import chdb
    import duckdb

    clickhouse = chdb.query("SELECT version()", "CSV").data().strip().strip('"')
    print(f"DuckDB {duckdb.__version__}, chDB {chdb.__version__} (ClickHouse {clickhouse})")


def main():
    tool = sys.argv[1]
    if tool == "versions":
        return versions()
    shape = SHAPES[sys.argv[2]]
    if tool == "compare":
        return compare(shape, sys.argv[3], sys.argv[4], sys.argv[5])
    source, out = sys.argv[3], sys.argv[4]
    if tool == "chdb":
        chdb_job(shape, source, out)
    else:
        duckdb_job(shape, source, out, auto=tool == "duckdb-auto")


if __name__ == "__main__":
    main()

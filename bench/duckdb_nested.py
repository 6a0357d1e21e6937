#!/usr/bin/env python3
"""The nested job in DuckDB, for comparison: `duckdb_nested.py INPUT OUT_DIR`.

The columns of datasets/examples/github_push.toml (commits as a list of structs, the commit SHAs
as a list, the last commit's message), partitioned by year/month/day of `created_at`, Snappy
Parquet, one thread.
"""

import sys

import duckdb

source, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads=1")
con.execute("SET preserve_insertion_order=false")
con.execute(
    f"""
    COPY (
      SELECT id, created_at, actor.login AS actor_login, repo.name AS repo_name,
             payload.ref AS ref, payload.size AS commit_count, payload.commits AS commits,
             list_transform(payload.commits, lambda c: c.sha) AS commit_shas,
             payload.commits[-1].message AS head_message,
             strftime(created_at, '%Y') AS year, strftime(created_at, '%m') AS month,
             strftime(created_at, '%d') AS day
      FROM read_ndjson('{source}', columns = {{
          id: 'VARCHAR', created_at: 'TIMESTAMPTZ',
          actor: 'STRUCT(login VARCHAR)', repo: 'STRUCT(name VARCHAR)',
          payload: 'STRUCT(ref VARCHAR, size INTEGER, commits STRUCT(sha VARCHAR,
              author STRUCT(name VARCHAR, email VARCHAR), message VARCHAR, "distinct" BOOLEAN)[])'
      }})
    ) TO '{out}' (FORMAT PARQUET, COMPRESSION snappy, PARTITION_BY (year, month, day))
    """
)

#!/usr/bin/env python3
"""The nested jobs in DuckDB, for comparison: `duckdb_nested.py INPUT OUT_DIR [push|commits]`.

push (default): the columns of datasets/examples/github_push.toml (commits as a list of structs,
the commit SHAs as a list, the last commit's message), partitioned by year/month/day of
`created_at`. commits: datasets/examples/github_commits.toml, one row per commit (a push without
commits one row of nulls, as `empty = "null_row"`), partitioned by year/month. Snappy Parquet,
one thread.
"""

import sys

import duckdb

source, out = sys.argv[1], sys.argv[2]
job = sys.argv[3] if len(sys.argv) > 3 else "push"
con = duckdb.connect()
con.execute("SET threads=1")
con.execute("SET preserve_insertion_order=false")
COMMITS = f"""
    COPY (
      WITH events AS (
        SELECT id, created_at, repo, actor, payload,
               unnest(CASE WHEN len(coalesce(payload.commits, [])) = 0 THEN [NULL]
                           ELSE payload.commits END) AS c
        FROM read_ndjson('{source}', columns = {{
            id: 'VARCHAR', created_at: 'TIMESTAMPTZ',
            actor: 'STRUCT(login VARCHAR)', repo: 'STRUCT(name VARCHAR)',
            payload: 'STRUCT(ref VARCHAR, commits STRUCT(sha VARCHAR,
                author STRUCT(name VARCHAR, email VARCHAR), message VARCHAR, "distinct" BOOLEAN)[])'
        }})
      )
      SELECT id AS event_id, created_at, repo.name AS repo_name, actor.login AS actor_login,
             payload.ref AS ref, c.sha, c.author.name AS author_name,
             c.author.email AS author_email, c.message, c."distinct",
             strftime(created_at, '%Y') AS year, strftime(created_at, '%m') AS month
      FROM events
    ) TO '{out}' (FORMAT PARQUET, COMPRESSION snappy, PARTITION_BY (year, month))
"""
con.execute(
    COMMITS if job == "commits" else f"""
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

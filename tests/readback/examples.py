"""The example datasets' Parquet output, read by DuckDB, equals DuckDB's own reading of the same
raw records into the same lists and structs (EXCEPT ALL both ways, row counts equal).

Usage: examples.py NAME RAW_FILE TABLE_DIR  (run by `make readback` after `etl transform`)
"""

import sys

import duckdb

# Per example: DuckDB's reading of the raw file into the dataset's columns, in table order.
REFERENCES = {
    "github_push": """
        SELECT id, created_at, actor.login AS actor_login, repo.name AS repo_name,
               payload.ref AS ref, payload.size AS commit_count,
               payload.commits AS commits,
               list_transform(payload.commits, lambda c: c.sha) AS commit_shas,
               payload.commits[-1].message AS head_message
        FROM read_json('{raw}', format = 'newline_delimited', columns = {{
            id: 'VARCHAR', created_at: 'TIMESTAMPTZ',
            actor: 'STRUCT(login VARCHAR)', repo: 'STRUCT(name VARCHAR)',
            payload: 'STRUCT(ref VARCHAR, size INTEGER, commits STRUCT(sha VARCHAR,
                author STRUCT(name VARCHAR, email VARCHAR), message VARCHAR,
                "distinct" BOOLEAN)[])'
        }})
    """,
    # One row per commit; a push without commits gives one row with the commit columns null
    # (`empty = "null_row"`, Spark's explode_outer): unnest of [NULL] for an empty list.
    "github_commits": """
        WITH events AS (
            SELECT id, created_at, repo, actor, payload,
                   unnest(CASE WHEN len(coalesce(payload.commits, [])) = 0 THEN [NULL]
                               ELSE payload.commits END) AS c
            FROM read_json('{raw}', format = 'newline_delimited', columns = {{
                id: 'VARCHAR', created_at: 'TIMESTAMPTZ',
                actor: 'STRUCT(login VARCHAR)', repo: 'STRUCT(name VARCHAR)',
                payload: 'STRUCT(ref VARCHAR, commits STRUCT(sha VARCHAR,
                    author STRUCT(name VARCHAR, email VARCHAR), message VARCHAR,
                    "distinct" BOOLEAN)[])'
            }})
        )
        SELECT id AS event_id, created_at, repo.name AS repo_name, actor.login AS actor_login,
               payload.ref AS ref, c.sha, c.author.name AS author_name,
               c.author.email AS author_email, c.message, c."distinct"
        FROM events
    """,
    "kubernetes_audit": """
        SELECT auditID, stageTimestamp, requestReceivedTimestamp, level, stage, verb, requestURI,
               "user".username, "user".groups, sourceIPs, userAgent,
               CASE WHEN objectRef IS NOT NULL THEN struct_pack(
                   resource := objectRef.resource, namespace := objectRef.namespace,
                   name := objectRef.name, api_group := objectRef.apiGroup,
                   api_version := objectRef.apiVersion)
               END,
               responseStatus.code,
               annotations['authorization.k8s.io/decision'],
               annotations['authorization.k8s.io/reason'],
               annotations
        FROM read_json('{raw}', format = 'newline_delimited', columns = {{
            auditID: 'VARCHAR', stageTimestamp: 'TIMESTAMPTZ',
            requestReceivedTimestamp: 'TIMESTAMPTZ', level: 'VARCHAR', stage: 'VARCHAR',
            verb: 'VARCHAR', requestURI: 'VARCHAR',
            "user": 'STRUCT(username VARCHAR, groups VARCHAR[])', sourceIPs: 'VARCHAR[]',
            userAgent: 'VARCHAR',
            objectRef: 'STRUCT(resource VARCHAR, namespace VARCHAR, name VARCHAR,
                apiGroup VARCHAR, apiVersion VARCHAR)',
            responseStatus: 'STRUCT(code SMALLINT)',
            annotations: 'MAP(VARCHAR, VARCHAR)'
        }})
    """,
    # Three levels to rows (plain unnest: `empty = "skip"`); nanosecond strings to microseconds,
    # floored; attributes by key with list_filter.
    "otlp_logs": """
        WITH requests AS (
            SELECT unnest(resourceLogs) AS rl
            FROM read_json('{raw}', format = 'newline_delimited', columns = {{ resourceLogs:
                'STRUCT(resource STRUCT(attributes STRUCT(key VARCHAR, value STRUCT(
                    stringValue VARCHAR))[]),
                scopeLogs STRUCT(scope STRUCT(name VARCHAR, version VARCHAR),
                    logRecords STRUCT(timeUnixNano VARCHAR, observedTimeUnixNano VARCHAR,
                        severityNumber INTEGER, severityText VARCHAR,
                        body STRUCT(stringValue VARCHAR), traceId VARCHAR, spanId VARCHAR,
                        attributes STRUCT(key VARCHAR, value STRUCT(stringValue VARCHAR,
                            intValue VARCHAR, boolValue BOOLEAN, doubleValue DOUBLE))[])[])[])[]'
            }})
        ), scopes AS (
            SELECT rl, unnest(rl.scopeLogs) AS sl FROM requests
        ), logs AS (
            SELECT rl, sl, unnest(sl.logRecords) AS lr FROM scopes
        )
        SELECT make_timestamp(CAST(CAST(lr.timeUnixNano AS HUGEINT) // 1000 AS BIGINT))::TIMESTAMPTZ,
               make_timestamp(CAST(CAST(lr.observedTimeUnixNano AS HUGEINT) // 1000 AS BIGINT))::TIMESTAMPTZ,
               lr.severityNumber, lr.severityText, lr.body.stringValue, lr.traceId, lr.spanId,
               CAST(list_filter(lr.attributes,
                   lambda a: a.key = 'http.response.status_code')[1].value.intValue AS BIGINT),
               list_transform(lr.attributes, lambda a: struct_pack(key := a.key,
                   value := CASE WHEN a.value IS NOT NULL THEN struct_pack(
                       string_value := a.value.stringValue,
                       int_value := CAST(a.value.intValue AS BIGINT),
                       bool_value := a.value.boolValue,
                       double_value := a.value.doubleValue) END)),
               sl.scope.name, sl.scope.version,
               list_filter(rl.resource.attributes,
                   lambda a: a.key = 'service.name')[1].value.stringValue,
               list_filter(rl.resource.attributes,
                   lambda a: a.key = 'host.name')[1].value.stringValue
        FROM logs
    """,
    "cloudtrail": """
        WITH events AS (
            SELECT unnest(Records) AS e
            FROM read_json('{raw}', columns = {{ Records: 'STRUCT(
                eventID VARCHAR, eventTime TIMESTAMPTZ, eventSource VARCHAR,
                eventName VARCHAR, awsRegion VARCHAR, sourceIPAddress VARCHAR,
                userAgent VARCHAR,
                userIdentity STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR,
                    accountId VARCHAR, accessKeyId VARCHAR, userName VARCHAR,
                    sessionContext STRUCT(attributes STRUCT(creationDate TIMESTAMPTZ,
                        mfaAuthenticated BOOLEAN))),
                requestParameters JSON, responseElements JSON,
                resources STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[],
                errorCode VARCHAR, recipientAccountId VARCHAR)[]' }})
        )
        SELECT e.eventID, e.eventTime, e.eventSource, e.eventName, e.awsRegion,
               e.sourceIPAddress, e.userAgent,
               CASE WHEN e.userIdentity IS NOT NULL THEN struct_pack(
                   type := e.userIdentity.type,
                   principal_id := e.userIdentity.principalId,
                   arn := e.userIdentity.arn,
                   account_id := e.userIdentity.accountId,
                   access_key_id := e.userIdentity.accessKeyId,
                   user_name := e.userIdentity.userName,
                   session_context := CASE WHEN e.userIdentity.sessionContext IS NOT NULL
                       THEN struct_pack(attributes := CASE
                           WHEN e.userIdentity.sessionContext.attributes IS NOT NULL
                           THEN struct_pack(
                               creation_date := e.userIdentity.sessionContext.attributes.creationDate,
                               mfa_authenticated := e.userIdentity.sessionContext.attributes.mfaAuthenticated)
                           END)
                       END)
               END,
               json(e.requestParameters), json(e.responseElements),
               list_transform(e.resources, lambda r: struct_pack(
                   arn := r.ARN, account_id := r.accountId, type := r.type)),
               e.errorCode, e.recipientAccountId
        FROM events
    """,
    # The log events with their payload's members (the payloads one after the other: DuckDB's
    # 'unstructured'); inside the message only when it is JSON, as json_valid says.
    "cloudwatch_logs": """
        WITH events AS (
            SELECT messageType, owner, logGroup, logStream, unnest(logEvents) AS e
            FROM read_json('{raw}', format = 'unstructured', columns = {{
                messageType: 'VARCHAR', owner: 'VARCHAR', logGroup: 'VARCHAR',
                logStream: 'VARCHAR',
                logEvents: 'STRUCT(id VARCHAR, "timestamp" BIGINT, message VARCHAR)[]'
            }})
        ), messages AS (
            SELECT *, CASE WHEN json_valid(e.message) THEN e.message::JSON END AS doc FROM events
        )
        SELECT messageType, owner, logGroup, logStream, e.id,
               make_timestamp(e.timestamp * 1000)::TIMESTAMPTZ, e.message,
               json_extract_string(doc, '$.level'), json_extract_string(doc, '$.requestId'),
               json_extract_string(doc, '$.message'), json_extract_string(doc, '$.errorType'),
               json_extract_string(doc, '$.type'), json(json_extract(doc, '$.record'))
        FROM messages
    """,
}

# How the Parquet columns are compared: JSON text minified, as DuckDB writes it.
PARQUET = {
    "github_push": "SELECT * FROM read_parquet('{table}/**/*.parquet', hive_partitioning = false)",
    "github_commits": "SELECT * FROM read_parquet('{table}/**/*.parquet', hive_partitioning = false)",
    "kubernetes_audit": "SELECT * FROM read_parquet('{table}/**/*.parquet', hive_partitioning = false)",
    "otlp_logs": "SELECT * FROM read_parquet('{table}/**/*.parquet', hive_partitioning = false)",
    # `delivered` is the object's creation time, which the raw file does not hold.
    "cloudwatch_logs": """
        SELECT * EXCLUDE (delivered) REPLACE (json(record) AS record)
        FROM read_parquet('{table}/**/*.parquet', hive_partitioning = false)
    """,
    "cloudtrail": """
        SELECT * REPLACE (json(request_parameters) AS request_parameters,
                          json(response_elements) AS response_elements)
        FROM read_parquet('{table}/**/*.parquet', hive_partitioning = false)
    """,
}


def main() -> int:
    name, raw, table = sys.argv[1:4]
    db = duckdb.connect()
    reference = REFERENCES[name].format(raw=raw)
    ours = PARQUET[name].format(table=table)
    counts = [db.sql(f"SELECT count(*) FROM ({q})").fetchall()[0][0] for q in (reference, ours)]
    # Rows as text: DuckDB's Python values for time zones would need pytz.
    def rows(query: str) -> list:
        return [r[0] for r in db.sql(f"SELECT t::VARCHAR FROM ({query}) t").fetchall()]

    only_ours = rows(f"({ours}) EXCEPT ALL ({reference})")
    only_reference = rows(f"({reference}) EXCEPT ALL ({ours})")
    if counts[0] != counts[1] or only_ours or only_reference or counts[0] == 0:
        print(f"{name}: rows {counts[1]} (DuckDB reading the raw file: {counts[0]})")
        for row in only_ours:
            print("  only in the Parquet output:", row)
        for row in only_reference:
            print("  only in DuckDB's reading:", row)
        return 1
    print(f"{name}: {counts[1]} rows, equal to DuckDB's reading of {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

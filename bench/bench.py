#!/usr/bin/env python3
"""`make bench`: etl side by side with DuckDB and ClickHouse (chDB) on every shape.

Generates the data once (deterministic: `etl generate` for the standard IoT job, bench/shapes.py
for the wide numeric, clickstream, deep-document and fan-out shapes), then runs each job several
times, the tools in turn run by run: `etl transform`, DuckDB with explicit columns, DuckDB
auto-detecting the schema, and chDB, each single-threaded. Every figure is the whole process:
median wall time, CPU time and peak RSS from wait4's rusage, so nothing is sampled or estimated.
"faster by" is the faster DuckDB configuration's (and chDB's) median wall time over etl's. After
the runs, DuckDB compares etl's Parquet with each peer's row by row (EXCEPT ALL both ways); a
difference fails the bench.

Environment: BENCH_RUNS (default 3), BENCH_RECORDS (standard job, default 2000000), BENCH_3GB=0
to skip the 3 GB variant (20,000,000 records), BENCH_DATA (default bench/data), BENCH_PYTHON
(the venv's python with duckdb and chdb), BENCH_PEERS=0 to run etl alone, BENCH_SHAPES (a
comma-separated subset of standard,wide,clickstream,deep,fan_out).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402

ROOT = shapes.ROOT
ETL = os.path.join(ROOT, "target", "release", "etl")
DATASET = os.path.join(ROOT, "datasets", "iot_sensors.toml")
DATA = os.environ.get("BENCH_DATA", os.path.join(ROOT, "bench", "data"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "2000000"))
WITH_3GB = os.environ.get("BENCH_3GB", "1") != "0"
PYTHON = os.environ.get("BENCH_PYTHON", sys.executable)
WITH_PEERS = os.environ.get("BENCH_PEERS", "1") != "0"
ONLY = [s for s in os.environ.get("BENCH_SHAPES", "").split(",") if s]
PEERS_SCRIPT = os.path.join(ROOT, "bench", "peers.py")
PEERS = ["duckdb-columns", "duckdb-auto", "chdb"]
NESTED_RECORDS = int(os.environ.get("BENCH_NESTED_RECORDS", "300000"))
NESTED_GENERATOR = os.path.join(ROOT, "bench", "github_events.py")
DUCKDB_NESTED = os.path.join(ROOT, "bench", "duckdb_nested.py")
READBACK = os.path.join(ROOT, "tests", "readback", "examples.py")


def generate(name, records, layout):
    path = os.path.join(DATA, name)
    marker = path + f".{records}.done"
    if not os.path.exists(marker):
        subprocess.run([ETL, "generate", "--records", str(records), "--layout", layout, "--out", path], check=True)
        open(marker, "w").close()
    return path


def run_once(argv, may_fail=False):
    """(wall seconds, cpu seconds, peak RSS MiB, stdout) of one child process; with may_fail, the
    last line of its stderr when it fails."""
    # The previous run's output is written back to disk before this one starts: otherwise each
    # tool runs while the kernel flushes the other's files (the same for both tools).
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        if may_fail:
            return err.decode().strip().splitlines()[-1]
        sys.exit(f"failed: {' '.join(argv)}\n{err.decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def transform(path, out_dir, dataset=DATASET):
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.rmtree(out_dir + ".rejected", ignore_errors=True)
    return run_once([ETL, "transform", "--dataset", dataset, "--input", path, "--out", out_dir])


def nested(table):
    """The nested workload: GitHub-style push events into lists of structs, and the same events
    one row per commit; etl and DuckDB (explicit columns) in turn; then DuckDB compares etl's
    Parquet with its own reading of the events."""
    path = os.path.join(DATA, "github.ndjson")
    marker = path + f".{NESTED_RECORDS}.done"
    if not os.path.exists(marker):
        subprocess.run([sys.executable, NESTED_GENERATOR, path, str(NESTED_RECORDS)], check=True)
        open(marker, "w").close()
    jobs = [
        ("github_push", "push", "GitHub events, lists of structs"),
        ("github_commits", "commits", "GitHub events, a row per commit"),
    ]
    for name, job, what in jobs:
        dataset = os.path.join(ROOT, "datasets", "examples", f"{name}.toml")
        out_dir = os.path.join(DATA, "out", name)
        duck_dir = os.path.join(DATA, "out", f"duckdb-{name}")
        ours, theirs = [], []
        for _ in range(RUNS):
            ours.append(transform(path, out_dir, dataset))
            if WITH_PEERS:
                shutil.rmtree(duck_dir, ignore_errors=True)
                theirs.append(run_once([PYTHON, DUCKDB_NESTED, path, duck_dir, job]))
        summary = json.loads(ours[-1][3])
        assert summary["records_written"] == NESTED_RECORDS, summary
        if WITH_PEERS:
            subprocess.run([PYTHON, READBACK, name, path, out_dir], check=True)
        table.append((what, summary["bytes_decoded"] / 1e6, median_of(ours),
                      {"duckdb-columns": median_of(theirs)} if theirs else {}))


def median_of(runs):
    """(median wall, median CPU, max peak RSS) of a tool's runs."""
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            max(r[2] for r in runs))


def input_of(shape):
    if shape.file is None:
        return generate("iot.ndjson", RECORDS, "ndjson")
    path = os.path.join(DATA, shape.file)
    marker = path + f".{shape.records}.done"
    if not os.path.exists(marker):
        shapes.generate(shape, path)
        open(marker, "w").close()
    return path


def run_shape(shape, table):
    """Runs etl and each peer in turn, RUNS times, compares their outputs, adds the job's row."""
    path = input_of(shape)
    ours_dir = os.path.join(DATA, "out", shape.name)
    ours = []
    failed = {}
    theirs = {peer: [] for peer in (PEERS if WITH_PEERS else [])}
    for _ in range(RUNS):
        ours.append(transform(path, ours_dir, shape.dataset))
        for peer, runs in theirs.items():
            if failed.get(peer):
                continue
            out = os.path.join(DATA, "out", f"{peer}-{shape.name}")
            shutil.rmtree(out, ignore_errors=True)
            result = run_once([PYTHON, PEERS_SCRIPT, peer, shape.name, path, out], may_fail=True)
            if isinstance(result, str):
                # A peer that cannot do the job (chDB's memory on the fan-out) is reported, not timed.
                failed[peer] = result
                print(f"{shape.name}: {peer} failed: {result}")
            else:
                runs.append(result)
    summary = json.loads(ours[-1][3])
    assert summary["records_in"] == summary["records_written"] + summary["records_rejected"], summary
    for peer in theirs:
        if peer not in failed:
            out = os.path.join(DATA, "out", f"{peer}-{shape.name}")
            subprocess.run([PYTHON, PEERS_SCRIPT, "compare", shape.name, ours_dir, out, peer], check=True)
    table.append((shape.what, summary["bytes_decoded"] / 1e6, median_of(ours),
                  {peer: median_of(runs) if peer not in failed else "failed"
                   for peer, runs in theirs.items()}))
    return summary


def print_table(table, standard_rate):
    print()
    print(f"etl transform and its peers, single-threaded, {RUNS} runs each in turn (median wall and CPU s; "
          f"peak RSS is the max), {os.cpu_count()} cores")
    if WITH_PEERS:
        print(subprocess.run([PYTHON, PEERS_SCRIPT, "versions"], check=True, capture_output=True,
                             text=True).stdout.strip())
    head = (f"{'job':<32} {'MB in':>6} {'etl s':>6} {'CPU s':>6} {'MiB':>6} {'MB/s':>5} | "
            f"{'DuckDB cols':>11} {'DuckDB auto':>11} {'MiB':>6} {'faster by':>9} | "
            f"{'chDB s':>6} {'MiB':>6} {'faster by':>9}")
    print(head)
    print("-" * len(head))
    for job, mb, (wall, cpu, rss), peers in table:
        # A layout variant of the standard job is set against the peers' standard NDJSON rate.
        rate = standard_rate if peers == "variant" else {}
        peers = {} if peers == "variant" else peers
        cells = [f"{job:<32} {mb:>6.0f} {wall:>6.2f} {cpu:>6.2f} {rss:>6.1f} {mb / wall:>5.0f} |"]
        peers = {k: v for k, v in peers.items() if v != "failed"} | {
            k: None for k, v in peers.items() if v == "failed"}
        cols, auto = peers.get("duckdb-columns"), peers.get("duckdb-auto")
        duck = [p for p in (cols, auto) if p]
        if duck:
            best = min(p[0] for p in duck)
            cells.append(f"{cols[0] if cols else 0:>11.2f} "
                         + (f"{auto[0]:>11.2f}" if auto else f"{'-':>11}")
                         + f" {max(p[2] for p in duck):>6.0f} {best / wall:>8.2f}x |")
        elif "duckdb" in rate:
            cells.append(f"{'-':>11} {'-':>11} {'-':>6} {mb / wall / rate['duckdb']:>8.2f}x*|")
        else:
            cells.append(f"{'-':>11} {'-':>11} {'-':>6} {'-':>9} |")
        ch = peers.get("chdb")
        if "chdb" in peers and ch is None:
            cells.append(f"{'failed':>24}")
        elif ch:
            cells.append(f"{ch[0]:>6.2f} {ch[2]:>6.0f} {ch[0] / wall:>8.2f}x")
        elif "chdb" in rate:
            cells.append(f"{'-':>6} {'-':>6} {mb / wall / rate['chdb']:>8.2f}x*")
        else:
            cells.append(f"{'-':>6} {'-':>6} {'-':>9}")
        print(" ".join(cells))
    print("faster by: the peer's median wall time over etl's (DuckDB: its faster configuration); higher is")
    print("faster. * the same input in another layout: etl's MB/s over the peer's on the standard NDJSON.")
    print("Every peer's output equals etl's (EXCEPT ALL both ways, checked above); failed: the peer")
    print("stopped with an error, printed above.")


def main():
    os.makedirs(DATA, exist_ok=True)
    table = []
    chosen = [shapes.SHAPES[name] for name in (ONLY or shapes.SHAPES)]
    standard_rate = {}
    for shape in chosen:
        run_shape(shape, table)
        if shape is shapes.STANDARD:
            mb, peers = table[-1][1], table[-1][3]
            duck = [peers[p][0] for p in ("duckdb-columns", "duckdb-auto") if p in peers]
            if duck:
                standard_rate["duckdb"] = mb / min(duck)
            if "chdb" in peers:
                standard_rate["chdb"] = mb / peers["chdb"][0]
            # The same records gzipped, as one JSON array, and ten times as many (3 GB, one run).
            variants = [("standard job, gzip", generate("iot.ndjson.gz", RECORDS, "gzip"), RUNS),
                        ("standard job, JSON array", generate("iot-array.json", RECORDS, "array"), RUNS)]
            if WITH_3GB:
                variants.append(("standard job, 3 GB NDJSON",
                                 generate("iot-3gb.ndjson", RECORDS * 10, "ndjson"), 1))
            for job, path, runs in variants:
                out_dir = os.path.join(DATA, "out", "iot-variant")
                results = [transform(path, out_dir) for _ in range(runs)]
                summary = json.loads(results[-1][3])
                assert summary["records_in"] == summary["records_written"] + summary["records_rejected"]
                table.append((job, summary["bytes_decoded"] / 1e6, median_of(results), "variant"))
    if not ONLY:
        nested(table)
    print_table(table, standard_rate)


if __name__ == "__main__":
    main()

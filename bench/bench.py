#!/usr/bin/env python3
"""`make bench`: the standard transform job on the generated IoT data set.

Generates the data once (deterministic, `etl generate`), then runs `etl transform` on each
variant several times and prints the median wall time, CPU time and peak RSS of the whole
process (from wait4's rusage, so nothing is sampled or estimated). DuckDB (pinned in
bench/requirements.txt, `SET threads=1`) runs the same job on the NDJSON file, alternating with
`etl` run by run, and every row shows its ratio to DuckDB's median wall time.

Environment: BENCH_RUNS (default 3), BENCH_RECORDS (default 2000000), BENCH_3GB=0 to skip the
3 GB variant (20,000,000 records), BENCH_DATA (default bench/data), BENCH_PYTHON (the venv's
python with duckdb; BENCH_DUCKDB=0 skips DuckDB).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ETL = os.path.join(ROOT, "target", "release", "etl")
DATASET = os.path.join(ROOT, "datasets", "iot_sensors.toml")
DATA = os.environ.get("BENCH_DATA", os.path.join(ROOT, "bench", "data"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "2000000"))
WITH_3GB = os.environ.get("BENCH_3GB", "1") != "0"
PYTHON = os.environ.get("BENCH_PYTHON", sys.executable)
WITH_DUCKDB = os.environ.get("BENCH_DUCKDB", "1") != "0"
DUCKDB_JOB = os.path.join(ROOT, "bench", "duckdb_job.py")
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


def run_once(argv):
    """(wall seconds, cpu seconds, peak RSS MiB, stdout) of one child process."""
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
        sys.exit(f"failed: {' '.join(argv)}\n{err.decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def transform(path, out_dir, dataset=DATASET):
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.rmtree(out_dir + ".rejected", ignore_errors=True)
    return run_once([ETL, "transform", "--dataset", dataset, "--input", path, "--out", out_dir])


def nested():
    """The nested workload: GitHub-style push events into lists of structs, and the same events
    one row per commit; etl and DuckDB in turn; then DuckDB compares etl's Parquet with its own
    reading of the events."""
    path = os.path.join(DATA, "github.ndjson")
    marker = path + f".{NESTED_RECORDS}.done"
    if not os.path.exists(marker):
        subprocess.run([sys.executable, NESTED_GENERATOR, path, str(NESTED_RECORDS)], check=True)
        open(marker, "w").close()
    jobs = [
        ("github_push", "push", "lists of structs"),
        ("github_commits", "commits", "one row per commit"),
    ]
    for name, job, what in jobs:
        dataset = os.path.join(ROOT, "datasets", "examples", f"{name}.toml")
        out_dir = os.path.join(DATA, "out", name)
        duck_dir = os.path.join(DATA, "out", f"duckdb-{name}")
        ours, theirs = [], []
        for _ in range(RUNS):
            ours.append(transform(path, out_dir, dataset))
            if WITH_DUCKDB:
                shutil.rmtree(duck_dir, ignore_errors=True)
                theirs.append(run_once([PYTHON, DUCKDB_NESTED, path, duck_dir, job]))
        summary = json.loads(ours[-1][3])
        assert summary["records_written"] == NESTED_RECORDS, summary
        mb = summary["bytes_decoded"] / 1e6
        print()
        print(f"nested: {NESTED_RECORDS} GitHub-style push events ({mb:.0f} MB), {what} "
              f"({summary['rows_written']} rows), {RUNS} runs (median)")
        print(f"{'tool':<14} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9} {'MB/s':>7} {'vs DuckDB':>10}")
        wall = statistics.median(r[0] for r in ours)
        rows = [("etl", wall, statistics.median(r[1] for r in ours), max(r[2] for r in ours))]
        if theirs:
            rows.append(("DuckDB", statistics.median(r[0] for r in theirs),
                         statistics.median(r[1] for r in theirs), max(r[2] for r in theirs)))
        for tool, w, cpu, rss in rows:
            ratio = f"{rows[1][1] / w:>9.2f}x" if theirs else f"{'-':>10}"
            print(f"{tool:<14} {w:>7.2f} {cpu:>7.2f} {rss:>9.1f} {mb / w:>7.0f} {ratio}")
        if WITH_DUCKDB:
            subprocess.run([PYTHON, READBACK, name, path, out_dir], check=True)


def main():
    os.makedirs(DATA, exist_ok=True)
    variants = [
        ("NDJSON", generate("iot.ndjson", RECORDS, "ndjson")),
        ("gzip", generate("iot.ndjson.gz", RECORDS, "gzip")),
        ("array", generate("iot-array.json", RECORDS, "array")),
    ]
    if WITH_3GB:
        variants.append(("3 GB NDJSON", generate("iot-3gb.ndjson", RECORDS * 10, "ndjson")))
    out_dir = os.path.join(DATA, "out", "iot")
    duck_dir = os.path.join(DATA, "out", "duckdb")
    rows = []
    duck_runs = []
    for name, path in variants:
        runs = []
        for _ in range(RUNS if "3 GB" not in name else 1):
            runs.append(transform(path, out_dir))
            if name == "NDJSON" and WITH_DUCKDB:
                shutil.rmtree(duck_dir, ignore_errors=True)
                duck_runs.append(run_once([PYTHON, DUCKDB_JOB, path, duck_dir]))
        summary = json.loads(runs[-1][3])
        assert summary["records_in"] == summary["records_written"] + summary["records_rejected"]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rss = max(r[2] for r in runs)
        mb = summary["bytes_decoded"] / 1e6
        rows.append((name, summary["records_in"], mb, wall, cpu, rss, mb / wall))
    duck_rate = None
    if duck_runs:
        ndjson = rows[0]
        duck_wall = statistics.median(r[0] for r in duck_runs)
        duck_cpu = statistics.median(r[1] for r in duck_runs)
        duck_rss = max(r[2] for r in duck_runs)
        duck_rate = ndjson[2] / duck_wall
        rows.insert(1, ("DuckDB NDJSON", ndjson[1], ndjson[2], duck_wall, duck_cpu, duck_rss, duck_rate))
    print()
    print(f"etl transform, {RUNS} runs (median; peak RSS is the max), {os.cpu_count()} cores")
    print(f"{'variant':<14} {'records':>10} {'MB in':>8} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9} {'MB/s':>7} {'vs DuckDB':>10}")
    for name, records, mb, wall, cpu, rss, rate in rows:
        ratio = f"{rate / duck_rate:>9.2f}x" if duck_rate else f"{'-':>10}"
        print(f"{name:<14} {records:>10} {mb:>8.0f} {wall:>7.2f} {cpu:>7.2f} {rss:>9.1f} {rate:>7.0f} {ratio}")
    if duck_rate:
        print("vs DuckDB: this row's MB/s over DuckDB's (threads=1, same run, NDJSON); for the 307 MB rows")
        print("that is DuckDB's median wall time over this row's. Higher is faster.")
    nested()


if __name__ == "__main__":
    main()

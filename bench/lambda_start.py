#!/usr/bin/env python3
"""`make bench`, Lambda part: each function's `bootstrap` size, and the time from process start
to its first call of the Lambda runtime API (GET .../runtime/invocation/next), which is what a
cold start costs us on top of the Lambda service's own work.

The functions are the release builds (`cargo build --release`, the profile `sam build` uses) for
this machine's architecture. The arm64 `bootstrap` Lambda runs (from `make build`, in .aws-sam/,
or from `cargo lambda build --release --arm64`, in target/lambda/) is listed too when present,
the newer of the two, marked stale when older than the release build; the size target is judged
on it then.
A tiny runtime API on 127.0.0.1 records when the first poll arrives; the function is then
stopped. Nothing reaches AWS: the SDK clients are built at start but make no call before an
event arrives.

Environment: BENCH_START_RUNS (default 20).
"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_START_RUNS", "20"))
FUNCTIONS = ["s3-trigger", "transform", "catalog-update", "athena-poller", "failure-notifier"]
SAM_LOGICAL = {
    "s3-trigger": "S3TriggerFunction",
    "transform": "TransformFunction",
    "catalog-update": "CatalogUpdateFunction",
    "athena-poller": "AthenaPollerFunction",
    "failure-notifier": "FailureNotifierFunction",
}
BOOTSTRAP_LIMIT_MB = 8
START_LIMIT_MS = 20

# What the template sets (dummy values: nothing is called before the first event).
ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:bench",
    "CURATED_BUCKET": "bench-curated",
    "ATHENA_WORKGROUP": "bench",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
}


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    first_poll = None  # (perf_counter time) set by the handler, read by the runner
    polled = threading.Event()

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next") and not RuntimeApi.polled.is_set():
            RuntimeApi.first_poll = time.perf_counter()
            RuntimeApi.polled.set()
        # No event: the function is stopped before it would get one.
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_to_first_poll(binary, port):
    RuntimeApi.polled.clear()
    env = dict(os.environ, **ENVIRONMENT)
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{port}"
    env["AWS_LAMBDA_FUNCTION_NAME"] = os.path.basename(binary)
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not RuntimeApi.polled.wait(timeout=10):
            proc.kill()
            err = proc.communicate()[1].decode(errors="replace")
            sys.exit(f"{binary} did not poll the runtime API within 10 s:\n{err}")
        return (RuntimeApi.first_poll - start) * 1000
    finally:
        proc.kill()
        proc.wait()


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    print()
    print(f"Lambda functions: release build for this machine, start to first runtime API poll, {RUNS} runs")
    print(f"{'function':<18} {'bootstrap MB':>12} {'arm64 MB':>12} {'median ms':>10} {'p90 ms':>7}")
    over = []
    for name in FUNCTIONS:
        binary = os.path.join(ROOT, "target", "release", name)
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: run `cargo build --release --locked -p {name}`")
        size = os.path.getsize(binary) / 1e6
        arm64 = [
            os.path.join(ROOT, ".aws-sam", "build", SAM_LOGICAL[name], "bootstrap"),
            os.path.join(ROOT, "target", "lambda", name, "bootstrap"),
        ]
        arm64 = sorted((p for p in arm64 if os.path.exists(p)), key=os.path.getmtime)
        deployed = os.path.getsize(arm64[-1]) / 1e6 if arm64 else None
        stale = bool(arm64) and os.path.getmtime(arm64[-1]) < os.path.getmtime(binary)
        sam_size = f"{deployed:>12.1f}" if deployed else f"{'-':>12}"
        if stale:
            sam_size += " (stale)"
        start_to_first_poll(binary, port)  # page cache warm, as on a Lambda host after download
        times = sorted(start_to_first_poll(binary, port) for _ in range(RUNS))
        median = statistics.median(times)
        p90 = times[int(len(times) * 0.9) - 1]
        print(f"{name:<18} {size:>12.1f} {sam_size} {median:>10.1f} {p90:>7.1f}")
        # The target is about what Lambda downloads: the arm64 build when there is one.
        judged, which = (deployed, "arm64") if deployed else (size, "local")
        if judged > BOOTSTRAP_LIMIT_MB:
            over.append(f"{name}: {which} bootstrap {judged:.1f} MB > {BOOTSTRAP_LIMIT_MB} MB")
        if name == "transform" and median > START_LIMIT_MS:
            over.append(f"{name}: start to first poll {median:.1f} ms > {START_LIMIT_MS} ms")
    server.shutdown()
    print(f"targets: bootstrap <= {BOOTSTRAP_LIMIT_MB} MB each; transform start to first poll <= {START_LIMIT_MS} ms")
    for line in over:
        print(f"  over target: {line}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Prints a transform summary (JSON on stdin) for a person: counts, reasons, partitions, files."""

import json
import sys

s = json.load(sys.stdin)
q = s["quality"]
print(f"source            {s['source']}")
print(f"records in        {s['records_in']}")
print(f"records written   {s['records_written']}")
print(f"records rejected  {s['records_rejected']}  {dict(s['rejected_by_reason']) or ''}")
if s["unknown_fields"]:
    print(f"unknown fields    {dict(s['unknown_fields'])} (dropped)")
verdict = "FAILED: over the error threshold, no Parquet kept" if q["threshold_crossed"] else "ok"
print(f"quality           {q['rejected_fraction']:.1%} rejected, threshold {q['max_rejected_fraction']}: {verdict}")
if s["rejected_file"]:
    print(f"rejected records  {s['rejected_file']}")
print(f"partitions        {len(s['partitions'])}")
for p in s["partitions"]:
    print(f"  {p['path']:<48} {p['rows']:>8} rows {len(p['files'])} file(s) {p['bytes']:>10} bytes")

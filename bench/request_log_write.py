"""The request log's write of 5,000 entries, in-process: COPY (what the flusher runs on PostgreSQL) against bulk_create.

Prints the median and best µs per row of 5 runs each, wall clock and this process's CPU (the worker's share; the rest
is PostgreSQL's). Not a test. Usage, from the project root, on a migrated PostgreSQL database:

    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME .venv/bin/python bench/request_log_write.py
"""

import os
import sys
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "charp.settings")
django.setup()

from vendors import services  # noqa: E402 - after django.setup()
from vendors.limits import request_log  # noqa: E402
from vendors.models import RequestLogEntry, Vendor  # noqa: E402

ROWS, RUNS = 5000, 5


def bulk_create(rows: list[tuple]) -> None:
    """The write before COPY: model instances and multi-row INSERTs."""
    fields = [f"{name}_id" if name == "vendor" else name for name in request_log._COLUMNS]
    objects = [RequestLogEntry(**dict(zip(fields, row, strict=True))) for row in rows]
    RequestLogEntry.objects.bulk_create(objects, batch_size=1000)


def main() -> None:
    vendor = Vendor.objects.first() or services.vendor_create(name="Bench", plan=services.plan_get(code="free")).vendor
    now = time.time()
    entries = [
        request_log.Entry(vendor.pk, now + n / 1000, "GET", f"/brands?n={n}", 200, "", 1.25, f"r-{n}", "127.0.0.1")
        for n in range(ROWS)
    ]
    copy = request_log._copy
    request_log._write(entries[:100])  # the connection and the code paths warm
    results: dict[str, list[tuple[float, float]]] = {"copy": [], "bulk_create": []}
    try:
        for _ in range(RUNS):
            for name, insert in (("copy", copy), ("bulk_create", bulk_create)):
                request_log._copy = insert
                wall, cpu = time.perf_counter(), time.process_time()
                request_log._write(entries)
                results[name].append(
                    ((time.perf_counter() - wall) / ROWS * 1e6, (time.process_time() - cpu) / ROWS * 1e6)
                )
    finally:
        request_log._copy = copy
        RequestLogEntry.objects.filter(vendor=vendor).delete()
    for name, runs in results.items():
        walls, cpus = sorted(w for w, _ in runs), sorted(c for _, c in runs)
        print(
            f"{name:12s} µs/row: wall median {walls[RUNS // 2]:.1f} (best {walls[0]:.1f}), "
            f"this process's CPU median {cpus[RUNS // 2]:.1f} (best {cpus[0]:.1f})"
        )


if __name__ == "__main__":
    main()

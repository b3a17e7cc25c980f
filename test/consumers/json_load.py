"""Loads one JSON export (an array of records) with the standard library's `json.load`, as a training
script would, and prints a JSON summary: the number of records, the first and last `id`, the length of
the last record's `body`, and how long loading took.

usage: json_load.py FILE
"""

import json
import sys
import time


def main():
    started = time.monotonic()
    with open(sys.argv[1], encoding="utf-8") as f:
        records = json.load(f)
    seconds = time.monotonic() - started
    if not isinstance(records, list):
        raise SystemExit(f"expected a JSON array, got {type(records).__name__}")
    first, last = (records[0], records[-1]) if records else ({}, {})
    json.dump(
        {
            "rows": len(records),
            "firstId": first.get("id"),
            "lastId": last.get("id"),
            "lastBodyLength": len(last.get("body") or ""),
            "lastLineage": last.get("_sluice"),
            "seconds": round(seconds, 2),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()

"""Reads Sluice export folders the way ML tooling does, and prints what it saw as one JSON document.

usage: read_export.py SPEC
  SPEC is JSON: {"dirs": [{"dir": "<export folder>", "csvDelimiter": ","}, ...]}

For each folder it reads `manifest.json`, checks every listed file's size and sha256 on disk (and, for a
gzip file, its size uncompressed), and loads each file with the reader an ML pipeline would use:

- JSONL (`.jsonl`, `.jsonl.gz`): `pandas.read_json(path, lines=True)`, with compression='gzip' for `.gz`.
  Type inference is off (`dtype=False, convert_dates=False`) and floats are parsed exactly
  (`precise_float=True`), so the values are what the file holds rather than what pandas guesses
  (with `dtype=True`, pandas turns an all-numeric-looking string column such as "007" into floats, and
  its default float parser is not exact in the last digit).
- JSON: `json.load`.
- CSV: `pandas.read_csv` with the column types the manifest declares, and exact floats
  (`float_precision="round_trip"`; the default parser reads 0.30000000000000004 as 0.3). NULL versus empty string: Sluice
  writes NULL as an empty unquoted cell and an empty string as `""` (RFC 4180 quoting). pandas 1.5 cannot
  tell them apart (its C and python engines both drop the quotes before NA detection, so with
  `keep_default_na=False, na_values=[""]` both are NaN, and without `""` in na_values both are ''), and
  neither can Python 3.11's `csv` module (it returns '' for both; `csv.QUOTE_NOTNULL` for readers only
  arrived in Python 3.12). So the file is also read by the `csv` module (which must agree with pandas on
  every cell's text) and by the small RFC 4180 tokenizer below, which keeps whether each cell was quoted:
  an unquoted empty cell is NULL, anything else is the value pandas read.

The output: {"python": ..., "pandas": ..., "dirs": {dir: {"manifest": {...}, "files": {name: {"rows",
"records", "integrity": [...], "problems": [...]}}}}}. A file that does not match the manifest gets lines
in `integrity`; a reader that rejects a file, or readers that disagree about it, get lines in `problems`
(the other files are still read). The test asserts both are empty.
"""

import csv
import gzip
import hashlib
import json
import math
import os
import sys

import numpy as np
import pandas as pd


def plain(v):
    """A pandas/numpy cell as a plain Python value (NaN/NA → None), ready for json.dumps."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    return v


def frame_records(df):
    return [{k: plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def rfc4180_cells(text, delimiter):
    """Rows of (cell text, was it quoted) — the one thing pandas and the csv module do not say."""
    rows, row, cell, quoted = [], [], [], False
    i, n = 0, len(text)
    at_cell_start = True
    while i < n:
        c = text[i]
        if at_cell_start and c == '"':
            quoted, at_cell_start = True, False
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unterminated quoted cell")
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        cell.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                cell.append(text[i])
                i += 1
            if i < n and text[i] not in (delimiter, "\r", "\n"):
                raise ValueError(f"text after a closing quote at offset {i}")
            continue
        at_cell_start = False
        if c == delimiter:
            row.append(("".join(cell), quoted))
            cell, quoted, at_cell_start = [], False, True
            i += 1
        elif c == "\r" or c == "\n":
            row.append(("".join(cell), quoted))
            rows.append(row)
            row, cell, quoted, at_cell_start = [], [], False, True
            i += 2 if c == "\r" and i + 1 < n and text[i + 1] == "\n" else 1
        else:
            cell.append(c)
            i += 1
    if not at_cell_start or row or cell:
        row.append(("".join(cell), quoted))
        rows.append(row)
    return rows


PANDAS_DTYPE = {"integer": "Int64", "number": "float64", "boolean": "boolean"}


def read_csv(path, delimiter, columns, problems):
    names = [c["name"] for c in columns]
    with open(path, newline="", encoding="utf-8") as f:
        module_rows = list(csv.reader(f, delimiter=delimiter))
    with open(path, newline="", encoding="utf-8") as f:
        token_rows = rfc4180_cells(f.read(), delimiter)
    if module_rows[0] != names:
        problems.append(f"csv module header {module_rows[0]} is not the manifest's columns {names}")
    if [t for t, _ in token_rows[0]] != names:
        problems.append(f"tokenizer header is not the manifest's columns {names}")
    body, tokens = module_rows[1:], token_rows[1:]
    ragged = [(r + 1, len(cells)) for r, cells in enumerate(body) if len(cells) != len(names)]
    if ragged:
        problems.append(f"csv module: {len(ragged)} of {len(body)} rows do not have {len(names)} cells, e.g. (row, cells) {ragged[:5]}")

    plain_typed = {c["name"]: c["type"] for c in columns if c["encoding"] == "plain" and c["type"] in PANDAS_DTYPE}
    dtype = {n: PANDAS_DTYPE[plain_typed[n]] if n in plain_typed else object for n in names}
    # an empty cell is NA only in typed columns (a number cannot be ""); text columns keep '' for both
    # NULL and "", and the tokenizer decides which it was
    na_values = {n: [""] for n in plain_typed}
    try:
        df = pd.read_csv(
            path,
            sep=delimiter,
            encoding="utf-8",
            dtype=dtype,
            keep_default_na=False,
            na_values=na_values,
            true_values=["true"],
            false_values=["false"],
            # pandas' default float parser is not exact: it reads 0.30000000000000004 as 0.3
            float_precision="round_trip",
        )
    except Exception as e:  # the consumer rejects the file: say how, and what the csv module saw
        problems.append(f"pandas.read_csv rejected the file: {type(e).__name__}: {e}")
        return [], None
    if list(df.columns) != names:
        problems.append(f"pandas header {list(df.columns)} is not the manifest's columns {names}")
    frame = df.to_dict("records")
    if not (len(frame) == len(body) == len(tokens)):
        problems.append(f"rows: pandas {len(frame)}, csv module {len(body)}, tokenizer {len(tokens)}")

    records = []
    for r, (prow, mrow, trow) in enumerate(zip(frame, body, tokens)):
        if len(mrow) != len(names) or len(trow) != len(names):
            continue  # counted above
        rec = {}
        for col, name in enumerate(names):
            text, quoted = trow[col]
            if mrow[col] != text:
                problems.append(f"row {r + 1} {name}: csv module read {mrow[col]!r}, tokenizer {text!r}")
            is_null = text == "" and not quoted
            v = plain(prow.get(name))
            spec = columns[col]
            if is_null:
                if v not in (None, ""):
                    problems.append(f"row {r + 1} {name}: NULL cell, pandas read {v!r}")
                rec[name] = None
                continue
            if spec["encoding"] == "json":
                rec[name] = json.loads(v)
            elif spec["encoding"] == "delimited":
                items = [] if v == "" else v.split(spec["separator"])
                conv = {"number": float, "integer": int, "boolean": lambda s: s == "true"}.get(spec.get("items"), str)
                rec[name] = [conv(x) for x in items]
            else:
                if name not in plain_typed and v != text:
                    problems.append(f"row {r + 1} {name}: pandas read {v!r}, the cell holds {text!r}")
                rec[name] = v
        records.append(rec)
    return records, {n: str(t) for n, t in df.dtypes.items()}


def read_file(d, entry, delimiter):
    """One file of the manifest: its integrity against the manifest, and its records as the reader saw them."""
    name = entry["path"]
    path = os.path.join(d, name)
    integrity, problems = [], []
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) != entry["bytes"]:
        integrity.append(f"{len(raw)} bytes on disk, manifest says {entry['bytes']}")
    if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
        integrity.append("sha256 on disk differs from the manifest's")
    gz = entry.get("compression") == "gzip"
    if gz:
        size = len(gzip.decompress(raw))
        if size != entry.get("rawBytes"):
            integrity.append(f"{size} bytes uncompressed, manifest says rawBytes {entry.get('rawBytes')}")
    fmt = entry["format"]
    records, dtypes = [], None
    try:
        if fmt == "jsonl":
            df = pd.read_json(
                path,
                lines=True,
                compression="gzip" if gz else None,
                dtype=False,
                convert_dates=False,
                precise_float=True,
                encoding="utf-8",
            )
            records = frame_records(df)
            dtypes = {n: str(t) for n, t in df.dtypes.items()}
        elif fmt == "json":
            opener = gzip.open if gz else open
            with opener(path, "rt", encoding="utf-8") as f:
                records = json.load(f)
        elif fmt == "csv":
            records, dtypes = read_csv(path, delimiter, entry["columns"], problems)
        else:
            problems.append(f"format {fmt} is not read here")
    except Exception as e:
        problems.append(f"the {fmt} reader rejected the file: {type(e).__name__}: {e}")
    if len(records) != entry["rows"]:
        problems.append(f"{len(records)} records read, manifest says rows {entry['rows']}")
    return {
        "format": fmt,
        "compression": entry.get("compression"),
        "rows": len(records),
        "dtypes": dtypes,
        "integrity": integrity,
        "problems": problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else []),
        "records": records,
    }


def read_dir(d, delimiter):
    with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    return {
        "manifest": {k: manifest.get(k) for k in ("pipeline", "tenant", "kind", "run")},
        "files": {entry["path"]: read_file(d, entry, delimiter) for entry in manifest["files"]},
    }


def main():
    spec = json.loads(sys.argv[1])
    out = {"python": sys.version.split()[0], "pandas": pd.__version__, "dirs": {}}
    for item in spec["dirs"]:
        out["dirs"][item["dir"]] = read_dir(item["dir"], item.get("csvDelimiter", ","))
    # ASCII-only output: no question of the pipe's encoding; allow_nan=False: a NaN left over is a bug here
    json.dump(out, sys.stdout, ensure_ascii=True, allow_nan=False)


if __name__ == "__main__":
    main()

"""Read raw rows from JSONL, JSON array, CSV, Parquet or a datasets hub id, each tagged with where it came from.

A row that cannot even be read (bad JSON, undecodable bytes, not an object) comes back as a
`Row` with `problem` set, so validation can count and report it with its line number.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmforge.core.errors import DataError

csv.field_size_limit(1 << 30)  # RecipeNLG directions can be long


@dataclass
class Row:
    source: str  # "file:line" (or "file:row N" for Parquet / hub data)
    value: dict[str, Any] | None
    problem: tuple[str, str] | None = None  # (reason code, message)


def _decode_line(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_jsonl(path: Path) -> Iterator[Row]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{path}:{lineno}"
            text = _decode_line(raw)
            if text is None:
                yield Row(where, None, ("undecodable", "bytes are not valid UTF-8; re-save the file as UTF-8"))
                continue
            text = text.strip().lstrip("\ufeff")
            if not text:
                continue  # blank lines carry no record
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Row(where, None, ("malformed_json", f"malformed JSON ({exc.msg} at column {exc.colno})"))
                continue
            if not isinstance(value, dict):
                yield Row(where, None, ("not_an_object", f"expected a JSON object, got {type(value).__name__}"))
                continue
            yield Row(where, value)


def read_json_array(path: Path) -> Iterator[Row]:
    """A JSON array file, with the line number of each element (found by decoding element by element)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: bytes are not valid UTF-8; re-save the file as UTF-8") from None
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:].startswith("["):
        raise DataError(f"{path}: a .json data file must hold an array of objects; use .jsonl for one object per line")
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise DataError(f"{path}: the JSON array is not closed with ]")
        if text[pos] == "]":
            return
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            # Past a syntax error the rest of an array cannot be trusted.
            raise DataError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg}); fix the file") from None
        if isinstance(value, dict):
            yield Row(f"{path}:{line}", value)
        else:
            yield Row(f"{path}:{line}", None, ("not_an_object", f"expected a JSON object, got {type(value).__name__}"))


def read_csv(path: Path) -> Iterator[Row]:
    # surrogateescape keeps reading past bad bytes; rows holding them are reported, not lost.
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        return
    start = 2  # line of the first data row (after the header)
    for record in reader:
        where = f"{path}:{start}"
        start = reader.line_num + 1
        if None in record:
            yield Row(where, None, ("malformed_csv", f"{len(record[None]) + len(reader.fieldnames)} columns, header has {len(reader.fieldnames)}"))
            continue
        if any(isinstance(v, str) and _has_surrogates(v) for v in record.values()):
            yield Row(where, None, ("undecodable", "bytes are not valid UTF-8; re-save the file as UTF-8"))
            continue
        yield Row(where, dict(record))


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_parquet(path: Path) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    for i, record in enumerate(table.to_pylist(), start=1):
        yield Row(f"{path}:row {i}", record)


def read_hub(spec: str) -> Iterator[Row]:
    """hf:NAME or hf:NAME:SPLIT through datasets.load_dataset."""
    name, _, split = spec.removeprefix("hf:").partition(":")
    try:
        from datasets import load_dataset

        dataset = load_dataset(name, split=split or "train")
    except Exception as exc:  # network, missing dataset, bad split: all one message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"data.path: could not load {spec} ({first}); without a network use a local file") from None
    for i, record in enumerate(dataset, start=1):
        yield Row(f"{spec}:row {i}", dict(record))


def read_rows(spec: str) -> Iterator[Row]:
    if spec.startswith("hf:"):
        yield from read_hub(spec)
        return
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"data.path: {spec} not found")
    suffix = path.suffix.lower()
    readers = {".jsonl": read_jsonl, ".ndjson": read_jsonl, ".json": read_json_array, ".csv": read_csv, ".parquet": read_parquet}
    if suffix not in readers:
        raise DataError(f"data.path: {spec}: unknown file type {suffix or '(none)'}; use .jsonl, .json, .csv or .parquet")
    yield from readers[suffix](path)

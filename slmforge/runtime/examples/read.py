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
from slmforge.core.rundir import check_input_file

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


# A value nested deeper than this is a bad row: deep enough for any real record, far from Python's recursion limit.
MAX_DEPTH = 64


def row_byte_limit(max_length: int) -> int:
    """Bytes a row may hold before it is dropped unread (`too_long`): what data.max_length tokens could ever
    keep is a few bytes a token, so past 64 a token (at least 64 KiB) a row is a mistake (a pasted file,
    a missing newline), and parsing and tokenizing it whole would take minutes and gigabytes."""
    return max(64 << 10, max_length * 64)


def _lines(path: Path, limit: int | None) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, bytes or None when longer than limit, length): an over-long line is drained in chunks,
    never held in memory whole."""
    with open(path, "rb") as f:
        lineno = 0
        while True:
            raw = f.readline(limit + 1) if limit else f.readline()
            if not raw:
                return
            lineno += 1
            if limit and len(raw) > limit and not raw.endswith(b"\n"):
                length = len(raw)
                while chunk := f.readline(1 << 20):
                    length += len(chunk)
                    if chunk.endswith(b"\n"):
                        break
                yield lineno, None, length
                continue
            yield lineno, raw, len(raw)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when containers nest deeper than `limit` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _too_long(length: int, limit: int) -> tuple[str, str]:
    return ("too_long", f"{length / 2**20:,.1f} MiB in one row, more than the {limit >> 10:,} KiB data.max_length could use; "
            "split the row or fix the file")


def _too_deep() -> tuple[str, str]:
    return ("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels; a training example is a flat record")


def parse_json_row(where: str, text: str) -> Row:
    """One JSON object, or a Row whose problem says why not (malformed, not an object, nested too deep)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Row(where, None, ("malformed_json", f"malformed JSON ({exc.msg} at column {exc.colno})"))
    except RecursionError:
        return Row(where, None, _too_deep())
    if not isinstance(value, dict):
        return Row(where, None, ("not_an_object", f"expected a JSON object, got {type(value).__name__}"))
    if too_deep(value):
        return Row(where, None, _too_deep())
    return Row(where, value)


def read_jsonl(path: Path, max_bytes: int | None = None) -> Iterator[Row]:
    for lineno, raw, length in _lines(path, max_bytes):
        where = f"{path}:{lineno}"
        if raw is None:
            yield Row(where, None, _too_long(length, max_bytes or 0))
            continue
        text = _decode_line(raw)
        if text is None:
            yield Row(where, None, ("undecodable", "bytes are not valid UTF-8; re-save the file as UTF-8"))
            continue
        text = text.strip().lstrip("\ufeff")
        if text:  # blank lines carry no record
            yield parse_json_row(where, text)


def read_json_array(path: Path, max_bytes: int | None = None) -> Iterator[Row]:
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
        start = pos
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            # Past a syntax error the rest of an array cannot be trusted.
            raise DataError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg}); fix the file") from None
        except RecursionError:
            raise DataError(f"{path}:{line}: JSON nested deeper than Python can read; a training example is a flat record") from None
        if max_bytes and pos - start > max_bytes:
            yield Row(f"{path}:{line}", None, _too_long(pos - start, max_bytes))
        elif not isinstance(value, dict):
            yield Row(f"{path}:{line}", None, ("not_an_object", f"expected a JSON object, got {type(value).__name__}"))
        elif too_deep(value):
            yield Row(f"{path}:{line}", None, _too_deep())
        else:
            yield Row(f"{path}:{line}", value)


def read_csv(path: Path, max_bytes: int | None = None) -> Iterator[Row]:
    # surrogateescape keeps reading past bad bytes; rows holding them are reported, not lost.
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    _check_quotes(path, text)
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
        size = sum(len(v) for v in record.values() if isinstance(v, str))
        if max_bytes and size > max_bytes:
            yield Row(where, None, _too_long(size, max_bytes))
            continue
        if any(isinstance(v, str) and _has_surrogates(v) for v in record.values()):
            yield Row(where, None, ("undecodable", "bytes are not valid UTF-8; re-save the file as UTF-8"))
            continue
        yield Row(where, dict(record))


def _check_quotes(path: Path, text: str) -> None:
    """A quote that is opened and never closed makes the rest of the file one field, and every row after it
    vanishes into that field: refuse the file, naming the line where the quote opened."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise DataError(f"{path}:{start}: a quoted field opened on this line is never closed, so every row after it would be "
                            'read as part of it; close the quote (a quote inside a field is written "")') from None
        # other strict-mode complaints (a stray quote mid-field) the lenient reader below tolerates


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_parquet(path: Path, max_bytes: int | None = None) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    for i, record in enumerate(table.to_pylist(), start=1):
        size = sum(len(v) for v in record.values() if isinstance(v, str | bytes))
        if max_bytes and size > max_bytes:
            yield Row(f"{path}:row {i}", None, _too_long(size, max_bytes))
        elif too_deep(record):
            yield Row(f"{path}:row {i}", None, _too_deep())
        else:
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


def read_rows(spec: str, max_bytes: int | None = None, key: str = "data.path") -> Iterator[Row]:
    """Every row of the file (or hub dataset) `spec`; rows over `max_bytes` come back as `too_long` problems."""
    if spec.startswith("hf:"):
        yield from read_hub(spec)
        return
    path = check_input_file(spec, key)
    suffix = path.suffix.lower()
    readers = {".jsonl": read_jsonl, ".ndjson": read_jsonl, ".json": read_json_array, ".csv": read_csv, ".parquet": read_parquet}
    if suffix not in readers:
        raise DataError(f"{key}: {spec}: unknown file type {suffix or '(none)'}; use .jsonl, .json, .csv or .parquet")
    yield from readers[suffix](path, max_bytes)

"""Data files by format: what a file's name says it is, its schema and rows read as little as possible,
and its rows read into pyarrow up to a limit.

Parquet schemas and row counts come from the file metadata only; csv / tsv / csv.gz types from a
bounded pyarrow sample (rows by counting lines); json / json lines from a bounded sample. Every file
is opened with ``files.open_regular``: no link followed at the end, never blocking.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pipetest_nb.files import display_path, open_regular
from pipetest_nb.validation.column_types import arrow_type_name

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class FileInfo:
    """One file of an output: format and size; for data files also columns, types and rows."""

    path: str
    format: str
    size: int
    tabular: bool = False
    columns: list[str] | None = None
    column_types: dict[str, str] = field(default_factory=dict)
    rows: int | None = None
    error: str | None = None
    json_lines: bool = False
    link: str | None = None  # a symbolic link: its target, as written in the link
    special: str | None = None  # FIFO, device or socket: never opened

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "size": self.size}
        if self.tabular:
            out["schema"] = {"columns": list(self.columns or []), "column_types": dict(self.column_types)}
            out["rows"] = self.rows
        if self.error:
            out["error"] = self.error
        if self.link is not None:
            out["link"] = display_path(self.link)
        if self.special:
            out["special"] = self.special
        return out


SAMPLE_BYTES = 1 << 20  # csv/json types come from the first MiB
COUNT_ROWS_MAX_BYTES = 1 << 30  # csv line counting stops being worth it beyond this
JSON_ARRAY_MAX_BYTES = 64 << 20  # a .json array file is parsed whole only below this size

_SUFFIX_FORMATS = (
    (".csv.gz", "csv.gz"), (".tsv.gz", "tsv.gz"), (".parquet", "parquet"), (".pq", "parquet"),
    (".csv", "csv"), (".tsv", "tsv"), (".tab", "tsv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
    (".json", "json"),
)
_DELIMITED = {"csv": ",", "csv.gz": ",", "tsv": "\t", "tsv.gz": "\t"}


def detect_format(path: str) -> str:
    """The format of a file from its name: parquet, csv, tsv, csv.gz, json, jsonl, or its suffix / binary."""
    low = path.lower()
    for suffix, fmt in _SUFFIX_FORMATS:
        if low.endswith(suffix):
            return fmt
    suffix = PurePosixPath(low).suffix
    return suffix[1:] if suffix else "binary"


def is_data_format(fmt: str) -> bool:
    """Whether files of this format hold a table (delimited text, parquet, json or json lines)."""
    return fmt in _DELIMITED or fmt in ("parquet", "jsonl", "json")


class InspectionTimeout(Exception):  # noqa: N818 - the limit ran out; a finding, not a failure of ours
    """Reading a file for its schema went past the deadline of its output's inspection (``INSPECT_TIME_LIMIT``)."""


def _open_data(path: Path, fmt: str) -> Any:
    """A data file opened for pyarrow: no link followed at the end, never blocking, any file name bytes."""
    import pyarrow as pa

    fh = open_regular(path)
    return pa.input_stream(fh, compression="gzip") if fmt.endswith(".gz") else fh


def sample_schema(path: Path, info: FileInfo, deadline: float | None = None) -> None:
    """Fill ``info`` (columns, types, rows) from the file, reading as little of it as its format allows.

    Raises ``InspectionTimeout`` past ``deadline``, and whatever the reader raises for a corrupt file.
    """
    if info.format == "parquet":
        import pyarrow.parquet as pq

        with open_regular(path) as fh:
            pf = pq.ParquetFile(fh)
            _set_schema(info, pf.schema_arrow)
            info.rows = pf.metadata.num_rows
    elif info.format in _DELIMITED:
        _inspect_delimited(path, info, deadline)
    else:
        _inspect_json(path, info, deadline)


def _set_schema(info: FileInfo, schema: pa.Schema) -> None:
    info.tabular = True
    info.columns = list(schema.names)
    info.column_types = {f.name: arrow_type_name(f.type) for f in schema}


def _csv_options(fmt: str, block_size: int = SAMPLE_BYTES) -> dict[str, Any]:
    import pyarrow.csv as pcsv

    return {"read_options": pcsv.ReadOptions(block_size=block_size),
            "parse_options": pcsv.ParseOptions(delimiter=_DELIMITED[fmt])}


def _inspect_delimited(path: Path, info: FileInfo, deadline: float | None = None) -> None:
    import pyarrow.csv as pcsv

    if info.size == 0:
        info.tabular, info.columns, info.rows, info.error = True, [], 0, "empty file"
        return
    with _open_data(path, info.format) as source:
        reader = pcsv.open_csv(source, **_csv_options(info.format))
        _set_schema(info, reader.schema)
        reader.close()
    if info.size <= COUNT_ROWS_MAX_BYTES:
        info.rows = _count_lines(path, info.format.endswith(".gz"), deadline) - 1


def _count_lines(path: Path, gz: bool, deadline: float | None = None) -> int:
    """Lines in a text file (a last line without a newline counts); quoted newlines count too."""
    count, last = 0, b"\n"
    with open_regular(path) as raw, (gzip.open(raw, "rb") if gz else raw) as fh:
        while chunk := fh.read(1 << 22):
            count += chunk.count(b"\n")
            last = chunk[-1:]
            if deadline is not None and time.monotonic() > deadline:
                raise InspectionTimeout
    return count + (last != b"\n")


def _inspect_json(path: Path, info: FileInfo, deadline: float | None = None) -> None:
    import pyarrow as pa

    with open_regular(path) as fh:
        head = fh.read(SAMPLE_BYTES)
    text = head.lstrip()
    if info.format == "json" and text.startswith(b"["):
        if info.size > JSON_ARRAY_MAX_BYTES:
            info.tabular, info.error = True, f"json array over {JSON_ARRAY_MAX_BYTES >> 20} MiB: not sampled"
            return
        with open_regular(path) as fh:
            records = json.loads(fh.read())
        if isinstance(records, list) and all(isinstance(r, dict) for r in records[:1000]):
            _set_schema(info, pa.Table.from_pylist(records[:1000]).schema)
            info.rows = len(records)
        return
    first = text.split(b"\n", 1)[0]
    try:
        is_lines = isinstance(json.loads(first), dict) and (info.format == "jsonl" or b"\n" in text.strip())
    except ValueError:
        is_lines = False
    if not is_lines:
        if info.format == "jsonl":
            raise ValueError("first line is not a JSON object")
        return  # a json document such as a config: listed with its size only
    import pyarrow.json as pj

    sample = head if len(head) < SAMPLE_BYTES else head[: head.rfind(b"\n") + 1]
    _set_schema(info, pj.read_json(io.BytesIO(sample)).schema)
    info.json_lines = True
    if info.size <= COUNT_ROWS_MAX_BYTES:
        rows = 0
        with open_regular(path) as fh:
            for number, line in enumerate(fh):
                rows += bool(line.strip())
                if number % 65536 == 0 and deadline is not None and time.monotonic() > deadline:
                    raise InspectionTimeout
        info.rows = rows


def read_file(path: Path, file: FileInfo, columns: list[str] | None, nrows: int | None) -> pa.Table:
    """One inspected data file as a pyarrow table: ``columns`` only, and no more than ``nrows`` rows read."""
    import pyarrow as pa

    fmt = file.format
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with open_regular(path) as fh:
            if nrows is None:
                return pq.read_table(fh, columns=columns)
            pf = pq.ParquetFile(fh)
            batches, got = [], 0
            for batch in pf.iter_batches(batch_size=min(max(nrows, 1), 65536), columns=columns):
                batches.append(batch)
                got += batch.num_rows
                if got >= nrows:
                    break
            if not batches:
                return pf.schema_arrow.empty_table().select(columns) if columns else pf.schema_arrow.empty_table()
            return pa.Table.from_batches(batches).slice(0, nrows)
    if fmt in _DELIMITED:
        return _read_delimited(path, fmt, columns, nrows)
    if file.json_lines:
        import pyarrow.json as pj

        if nrows is None:
            with open_regular(path) as fh:
                table = pj.read_json(fh)
        else:
            with open_regular(path) as fh:
                lines = []
                for line in fh:
                    if line.strip():
                        lines.append(line)
                    if len(lines) >= nrows:
                        break
            table = pj.read_json(io.BytesIO(b"".join(lines)))
        return table.select(columns) if columns else table
    with open_regular(path) as fh:
        records = json.loads(fh.read())
    table = pa.Table.from_pylist(records[:nrows] if nrows is not None else records)
    return table.select(columns) if columns else table


def _read_delimited(path: Path, fmt: str, columns: list[str] | None, nrows: int | None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(include_columns=columns) if columns else None
    if nrows is not None:
        try:
            with _open_data(path, fmt) as source:
                reader = pcsv.open_csv(source, convert_options=convert, **_csv_options(fmt))
                batches, got = [], 0
                for batch in reader:
                    batches.append(batch)
                    got += batch.num_rows
                    if got >= nrows:
                        break
                return pa.Table.from_batches(batches, schema=reader.schema).slice(0, nrows)
        except pa.ArrowInvalid:  # types guessed from the first block did not hold: read it all
            pass
    with _open_data(path, fmt) as source:
        table = pcsv.read_csv(source, convert_options=convert,
                              parse_options=pcsv.ParseOptions(delimiter=_DELIMITED[fmt]))
    return table if nrows is None else table.slice(0, nrows)


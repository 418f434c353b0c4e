"""What a step wrote, and whether its consumer can read it: artifact inspection and compatibility checks.

An output is a folder. ``inspect_output`` lists its files (recursively) with format and size, and for
data files their columns, column types and row count: parquet from the file metadata only, csv / tsv /
csv.gz from a bounded pyarrow sample (rows by counting lines), json / json lines from a bounded sample.
Nothing here follows a link out of the output or opens a special file: a symlink is listed as a
link (and read only when it points to a regular file inside the same output), a FIFO, device or
socket is listed with an error, and inspecting one output has a time limit (``INSPECT_TIME_LIMIT``).
File names that are not valid UTF-8 are kept as the OS gives them for reading, and shown with
``\\xNN`` escapes in ``to_dict()`` and messages.
A split layout (``train/``, ``val/``, ``test/``) becomes named tables. ``frame`` reads a table, or every
table matching a glob, into pandas through pyarrow.

``DataCompatibilityValidator.validate_step_transition`` compares what a producer wrote with what its
consumer declares (required files, format, required columns, column types); ``check_edge`` does it for
one data edge of a pipeline and names the edge, the file and the column in every message.

Column types are compared by family, because that is what users mean:

=====================================================  =========  ==============================================
expected vs found                                      verdict    example
=====================================================  =========  ==============================================
same type                                              ok         int64 vs int64
generic name, found type of that family                ok         int vs int32, number vs float64, str vs string
same family, other width / unit / time zone            warning    int32 vs int64, datetime64[us] vs datetime64[ns]
float expected, integer found                          warning    float64 vs int64 (integers read as floats)
string vs category, datetime vs date, decimal vs float warning    string vs category
nothing in the sample to tell (all-null column)        warning    int64 vs null
expected type name unknown                             warning    int64 vs "money"
different families                                     issue      int64 vs string, bool vs int64, int64 vs float64
=====================================================  =========  ==============================================

Families: integer (int8..int64, uint8..uint64, Int64), float (float16/32/64, double), bool, string
(string, str, object, utf8), category, datetime (datetime64[unit, tz], timestamp), date, timedelta,
decimal, binary. Generic names: int, integer, float, number / numeric (integer or float), string,
datetime, date, bool, category, decimal.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState
from pipetest_nb.exceptions import TableNotFoundError
from pipetest_nb.files import display_path, open_regular, special_kind

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from pipetest_nb.spec.model import InputSpec, OutputSpec, PipelineDAG

SPLIT_NAMES = ("train", "training", "val", "valid", "validation", "test", "testing", "calibration", "holdout",
               "dev", "eval")
SAMPLE_BYTES = 1 << 20  # csv/json types come from the first MiB
COUNT_ROWS_MAX_BYTES = 1 << 30  # csv line counting stops being worth it beyond this
JSON_ARRAY_MAX_BYTES = 64 << 20  # a .json array file is parsed whole only below this size
MAX_LISTED = 8  # files / columns named in one message
#: Seconds one output's inspection may take; files left when it runs out are reported as not inspected.
INSPECT_TIME_LIMIT = 120.0

_SUFFIX_FORMATS = (
    (".csv.gz", "csv.gz"), (".tsv.gz", "tsv.gz"), (".parquet", "parquet"), (".pq", "parquet"),
    (".csv", "csv"), (".tsv", "tsv"), (".tab", "tsv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
    (".json", "json"),
)
_DELIMITED = {"csv": ",", "csv.gz": ",", "tsv": "\t", "tsv.gz": "\t"}


# --------------------------------------------------------------------------------------------------
# Globs and types
# --------------------------------------------------------------------------------------------------


def match_glob(path: str, pattern: str) -> bool:
    """Whether a relative posix path matches a glob: ``*`` stays within a folder, ``**`` spans folders.

    A pattern without ``/`` matches the file name at any depth (``*.parquet``), as in .gitignore.
    """
    pattern = pattern.strip("/")
    if "/" not in pattern:
        return fnmatch.fnmatchcase(PurePosixPath(path).name, pattern) or fnmatch.fnmatchcase(path, pattern)
    return _match_parts(path.split("/"), pattern.split("/"))


def _match_parts(parts: list[str], pats: list[str]) -> bool:
    if not pats:
        return not parts
    if pats[0] == "**":
        return any(_match_parts(parts[i:], pats[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pats[0]) and _match_parts(parts[1:], pats[1:])


def arrow_type_name(t: pa.DataType) -> str:
    """The type vocabulary of pipeline files (int64, float64, string, datetime64[ns], ...) for an arrow type."""
    import pyarrow as pa

    if pa.types.is_floating(t):
        return {16: "float16", 32: "float32"}.get(t.bit_width, "float64")
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        return "string"
    if pa.types.is_dictionary(t):
        return "category"
    if pa.types.is_timestamp(t):
        return f"datetime64[{t.unit}, {t.tz}]" if t.tz else f"datetime64[{t.unit}]"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_duration(t):
        return f"timedelta64[{t.unit}]"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    return str(t)  # int8..uint64, null, decimal128(p, s), list<...>, struct<...>


_GENERIC = {"int": "integer", "integer": "integer", "float": "float", "number": "number", "numeric": "number",
            "string": "string", "str": "string", "object": "string", "datetime": "datetime",
            "timestamp": "datetime", "date": "date", "bool": "bool", "boolean": "bool", "category": "category",
            "decimal": "decimal"}
_ALIASES = {"double": "float64", "float": "float64", "halffloat": "float16", "utf8": "string",
            "large_string": "string", "large_utf8": "string", "str": "string", "boolean": "bool",
            "categorical": "category", "date32": "date", "date32[day]": "date", "date64": "date",
            "long": "int64", "short": "int16"}
_NEAR_FAMILIES = {frozenset({"string", "category"}), frozenset({"datetime", "date"}),
                  frozenset({"decimal", "float"})}


def _canonical(name: str) -> str:
    text = name.strip()
    low = text.lower()
    if low.startswith("timestamp["):
        low = "datetime64" + low[len("timestamp"):]
    return _ALIASES.get(low, low)


def type_family(name: str) -> str:
    """The family of a type name: integer, float, bool, string, category, datetime, date, ..., or other."""
    low = _canonical(name)
    if re.fullmatch(r"u?int(8|16|32|64)?|integer", low):
        return "integer"
    if re.fullmatch(r"float(16|32|64)?", low):
        return "float"
    for prefix, family in (("datetime", "datetime"), ("timedelta", "timedelta"), ("duration", "timedelta"),
                           ("decimal", "decimal"), ("dictionary", "category")):
        if low.startswith(prefix):
            return family
    return {"bool": "bool", "string": "string", "object": "string", "category": "category", "date": "date",
            "binary": "binary", "bytes": "binary", "null": "null", "number": "number",
            "numeric": "number"}.get(low, "other")


def compare_types(expected: str, actual: str) -> tuple[str, str]:
    """``("ok" | "warning" | "issue", why)`` for a column declared ``expected`` and found ``actual``."""
    exp, act = _canonical(expected), _canonical(actual)
    fam_e, fam_a = type_family(expected), type_family(actual)
    if exp == act:
        return "ok", "same type"
    if fam_a == "null":
        return "warning", "no values in the sample to tell the type"
    generic = _GENERIC.get(expected.strip().lower())
    if generic == "number":
        return ("ok", "a number") if fam_a in ("integer", "float") else ("issue", "not a number")
    if generic is not None and generic == fam_a:
        return "ok", f"a {generic} type"
    if fam_e == fam_a and fam_e != "other":
        return "warning", "same kind of data, different width, unit or time zone"
    if fam_e == "float" and fam_a == "integer":
        return "warning", "integers where floats are expected: they read as floats"
    if frozenset({fam_e, fam_a}) in _NEAR_FAMILIES:
        return "warning", f"{fam_a} where {fam_e} is expected: close, but not the same"
    if fam_e == "other":
        return "warning", f"unknown type name {expected!r}: cannot compare"
    return "issue", "different kinds of data"


def detect_format(path: str) -> str:
    """The format of a file from its name: parquet, csv, tsv, csv.gz, json, jsonl, or its suffix / binary."""
    low = path.lower()
    for suffix, fmt in _SUFFIX_FORMATS:
        if low.endswith(suffix):
            return fmt
    suffix = PurePosixPath(low).suffix
    return suffix[1:] if suffix else "binary"


# --------------------------------------------------------------------------------------------------
# Inspection
# --------------------------------------------------------------------------------------------------


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


@dataclass
class OutputInfo:
    """What one output folder holds: files by relative path, and named tables (split name -> files)."""

    folder: Path
    files: dict[str, FileInfo]
    tables: dict[str, list[str]]
    exists: bool = True

    @property
    def layout(self) -> str:
        """``split`` (train/val/test folders), ``single`` (one table), ``multi`` or ``empty``."""
        if not self.tables:
            return "empty"
        if any(name in SPLIT_NAMES for name in self.tables):
            return "split"
        return "single" if len(self.tables) == 1 else "multi"

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files.values())

    @property
    def total_rows(self) -> int | None:
        counts = [self.table_rows(name) for name in self.tables]
        return None if any(c is None for c in counts) else sum(counts)  # type: ignore[misc]

    def table_rows(self, name: str) -> int | None:
        counts = [self.files[p].rows for p in self.tables[name]]
        return None if any(c is None for c in counts) else sum(counts)  # type: ignore[misc]

    def table_columns(self, name: str) -> list[str]:
        seen: list[str] = []
        for path in self.tables[name]:
            seen += [c for c in self.files[path].columns or [] if c not in seen]
        return seen

    def resolve(self, pattern: str | None = None) -> dict[str, list[str]]:
        """Named tables selected by a table name, a file path or a glob, each with its files.

        ``None`` selects every table; a glob keeps, in each table, the files that match it.
        """
        if pattern is None or pattern in ("*", "**"):
            return {k: list(v) for k, v in self.tables.items()}
        if pattern in self.tables:
            return {pattern: list(self.tables[pattern])}
        picked: dict[str, list[str]] = {}
        for name, paths in self.tables.items():
            hits = [p for p in paths if p == pattern or match_glob(p, pattern)]
            if hits:
                picked[name] = hits
        if not picked:
            picked = {n: list(v) for n, v in self.tables.items() if fnmatch.fnmatchcase(n, pattern)}
        if not picked and pattern in self.files and self.files[pattern].tabular:
            picked = {pattern: [pattern]}
        return picked

    @property
    def links(self) -> dict[str, FileInfo]:
        """The symbolic links of the output, by relative path."""
        return {p: f for p, f in self.files.items() if f.link is not None}

    @property
    def special_files(self) -> dict[str, FileInfo]:
        """FIFOs, devices and sockets (themselves or as link targets): outputs must not hold them."""
        return {p: f for p, f in self.files.items() if f.special}

    def to_dict(self) -> dict[str, Any]:
        """Shaped like the original plan's ``producer_output``: ``{"files": {relpath: {...}}}`` plus tables.

        Names are printable (undecodable bytes as ``\\xNN``), so the dict can go to JSON and HTML."""
        return {"files": {display_path(p): f.to_dict() for p, f in self.files.items()}, "exists": self.exists,
                "tables": {display_path(k): [display_path(p) for p in v] for k, v in self.tables.items()},
                "layout": self.layout, "total_size": self.total_size, "total_rows": self.total_rows}

    def __str__(self) -> str:
        lines = [f"{self.folder}: {len(self.files)} files, {self.total_size:,} bytes, layout {self.layout}"]
        for name in self.tables:
            rows = self.table_rows(name)
            lines.append(f"  table {display_path(name)}: {len(self.tables[name])} file(s), "
                         f"{'?' if rows is None else f'{rows:,}'} rows, columns: "
                         + ", ".join(self.table_columns(name)[:MAX_LISTED * 2]))
        return "\n".join(lines)


class InspectionTimeout(Exception):  # noqa: N818 - the limit ran out; a finding, not a failure of ours
    """Inspecting an output took longer than ``INSPECT_TIME_LIMIT``."""


def inspect_output(folder: str | Path, spec: OutputSpec | None = None, *,
                   time_limit: float | None = None) -> OutputInfo:
    """List an output's files with format, size, schema and rows, reading data files as little as possible.

    ``spec`` (the producer's ``OutputSpec``) marks files matching its ``non_tabular`` globs as plain
    files, makes everything plain for ``format: binary``, and limits tables to its ``tables`` glob.
    A path to a single file is inspected as an output holding that file. Links and special files
    are listed, not read (see the module docstring); ``time_limit`` defaults to ``INSPECT_TIME_LIMIT``.
    """
    folder = Path(folder)
    limit = INSPECT_TIME_LIMIT if time_limit is None else time_limit
    deadline = time.monotonic() + limit
    try:
        st = folder.stat()
    except OSError:
        return OutputInfo(folder, {}, {}, exists=False)
    is_dir = stat.S_ISDIR(st.st_mode)
    entries = _entries(folder) if is_dir else [(folder.name, os.path.realpath(folder), False)]
    non_tabular = tuple(spec.non_tabular) if spec else ()
    all_plain = bool(spec and spec.format == "binary")
    files: dict[str, FileInfo] = {}
    real_folder = os.path.realpath(folder)
    for rel, path, is_link in entries:
        fmt = detect_format(rel)
        info = files[rel] = FileInfo(rel, fmt, 0)
        read_from = path
        if is_link:
            info.link, read_from = os.readlink(path), os.path.realpath(path)
        try:
            mode_st = os.stat(read_from) if is_link else os.lstat(path)
        except OSError:
            info.format = "link" if is_link else fmt
            continue  # a dangling link, or a file gone meanwhile: listed, nothing to read
        kind = special_kind(mode_st.st_mode)
        if kind:
            info.format, info.special = "special", kind
            info.error = (f"a {kind}" + (f" (through the link to {display_path(info.link)})" if is_link else "")
                          + ": an output must hold regular files (a reader of a FIFO or device can block for ever)")
            continue
        if not stat.S_ISREG(mode_st.st_mode) or (is_link and not _inside(read_from, real_folder)):
            info.format = "link" if is_link else fmt
            continue  # a link to a folder, or out of the output: recorded as a link, never followed
        info.size = mode_st.st_size
        plain = all_plain or any(match_glob(rel, g) for g in non_tabular)
        if not plain and (fmt in _DELIMITED or fmt in ("parquet", "jsonl", "json")):
            if time.monotonic() > deadline:
                info.tabular, info.error = True, _timeout_text(limit)
                continue
            _inspect_data_file(Path(read_from), info, deadline, limit)
    tables = _named_tables([p for p, f in files.items() if f.tabular and not f.error
                            and (not spec or not spec.tables or match_glob(p, spec.tables))])
    return OutputInfo(folder, files, tables)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _timeout_text(limit: float) -> str:
    return (f"not inspected: inspecting the output took longer than {limit:g} s "
            "(pipetest_nb.validation.artifacts.INSPECT_TIME_LIMIT)")


def _entries(folder: Path) -> list[tuple[str, str, bool]]:
    """(relative posix name, path, is a link) of every non-folder entry, without following folder links."""
    found: list[tuple[str, str, bool]] = []
    pending = [("", str(folder))]
    while pending:
        prefix, current = pending.pop()
        with os.scandir(current) as it:
            for entry in it:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append((rel + "/", entry.path))
                else:
                    found.append((rel, entry.path, entry.is_symlink()))
    return sorted(found)


def _open_data(path: Path, fmt: str) -> Any:
    """A data file opened for pyarrow: no link followed at the end, never blocking, any file name bytes."""
    import pyarrow as pa

    fh = open_regular(path)
    return pa.input_stream(fh, compression="gzip") if fmt.endswith(".gz") else fh


def _named_tables(paths: list[str]) -> dict[str, list[str]]:
    """Group data files into tables: split folders by split name, ``part-*`` files by folder, else one each."""
    tables: dict[str, list[str]] = {}
    by_dir: dict[str, list[str]] = {}
    for p in paths:
        parts = p.split("/")
        if len(parts) > 1 and parts[0].lower() in SPLIT_NAMES:
            tables.setdefault(parts[0], []).append(p)
        else:
            by_dir.setdefault("/".join(parts[:-1]), []).append(p)
    for folder, group in by_dir.items():
        if len(group) > 1 and all(PurePosixPath(p).name.startswith("part-") for p in group):
            tables[f"{folder}/part-*" if folder else "part-*"] = group
        else:
            tables.update({p: [p] for p in group})
    return tables


def _inspect_data_file(path: Path, info: FileInfo, deadline: float | None = None, limit: float = 0.0) -> None:
    try:
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
    except InspectionTimeout:
        info.tabular, info.error = True, _timeout_text(limit)
    except Exception as exc:  # a corrupt file is a finding, not a crash
        info.tabular = info.format != "json"
        info.error = f"cannot read {info.format}: {display_path(_first_line(exc))}"


def _set_schema(info: FileInfo, schema: pa.Schema) -> None:
    info.tabular = True
    info.columns = list(schema.names)
    info.column_types = {f.name: arrow_type_name(f.type) for f in schema}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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


# --------------------------------------------------------------------------------------------------
# Reading tables
# --------------------------------------------------------------------------------------------------


def frame(output: str | Path | OutputInfo, table: str | None = None, columns: list[str] | None = None,
          nrows: int | None = None) -> pd.DataFrame:
    """Read one table of an output (or every table matching a glob, concatenated) into pandas.

    ``table`` is a table name (``train``), a file path inside the output, or a glob (``*/*.parquet``);
    it may be left out when the output holds one table. Reading goes through pyarrow, so pandas 3
    string and nullable dtypes come back as ``pd.read_parquet`` would give them.
    """
    return read_table(output, table, columns, nrows).to_pandas()


def read_table(output: str | Path | OutputInfo, table: str | None = None, columns: list[str] | None = None,
               nrows: int | None = None) -> pa.Table:
    """Like ``frame`` but returns the pyarrow table (statistics and diffs need no pandas)."""

    info = output if isinstance(output, OutputInfo) else inspect_output(output)
    selected = info.resolve(table)
    if not selected or (table is None and len(selected) > 1):
        raise TableNotFoundError(table or "", str(info.folder), list(info.tables))
    return read_files(info, [p for group in selected.values() for p in group], columns, nrows)


def read_files(info: OutputInfo, paths: list[str], columns: list[str] | None = None,
               nrows: int | None = None) -> pa.Table:
    """Read data files of an output (relative paths) into one pyarrow table, stopping after ``nrows``."""
    import pyarrow as pa

    parts = []
    remaining = nrows
    for rel in paths:
        if remaining is not None and remaining <= 0:
            break
        file = info.files[rel]
        if columns:
            missing = [c for c in columns if c not in (file.columns or [])]
            if missing:
                raise TableNotFoundError(", ".join(missing), f"{info.folder}/{rel}", list(file.columns or []),
                                         kind="column")
        path = info.folder / rel if info.folder.is_dir() else info.folder
        if file.link is not None or not info.folder.is_dir():
            path = Path(os.path.realpath(path))  # inspection read it only when it stays inside the output
        part = _read_file(path, file, columns, remaining)
        parts.append(part)
        if remaining is not None:
            remaining -= part.num_rows
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables(parts, promote_options="permissive")


def _read_file(path: Path, file: FileInfo, columns: list[str] | None, nrows: int | None) -> pa.Table:
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


# --------------------------------------------------------------------------------------------------
# Compatibility
# --------------------------------------------------------------------------------------------------


@dataclass
class DataCompatibilityReport:
    """Whether a producer's output suits its consumer: issues block the consumer, warnings do not.

    ``details`` holds one dict per finding (level, kind, edge, files, column, expected, actual,
    message) for views that want more than the sentences in ``issues`` and ``warnings``.
    """

    compatible: bool
    issues: list[str]
    warnings: list[str]
    data_summary: dict[str, Any]
    edge: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The ``EdgeState`` the graph colours this edge with."""
        if not self.compatible:
            return EdgeState.FAILED
        return EdgeState.WARNED if self.warnings else EdgeState.PASSED

    def to_dict(self) -> dict[str, Any]:
        return {"edge": self.edge, "compatible": self.compatible, "state": self.state,
                "issues": list(self.issues), "warnings": list(self.warnings),
                "data_summary": self.data_summary, "details": list(self.details)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataCompatibilityReport:
        return cls(compatible=d["compatible"], issues=list(d.get("issues") or []),
                   warnings=list(d.get("warnings") or []), data_summary=dict(d.get("data_summary") or {}),
                   edge=d.get("edge"), details=list(d.get("details") or []))

    @classmethod
    def combine(cls, reports: list[DataCompatibilityReport]) -> DataCompatibilityReport:
        """One report for a step from the reports of its edges (compatible when every edge is)."""
        summary = {"edges": {r.edge or f"#{i}": r.data_summary for i, r in enumerate(reports)}}
        return cls(all(r.compatible for r in reports), [i for r in reports for i in r.issues],
                   [w for r in reports for w in r.warnings], summary,
                   details=[d for r in reports for d in r.details])

    def __str__(self) -> str:
        head = f"{self.edge}: " if self.edge else ""
        verdict = "compatible" if self.compatible else f"NOT compatible ({len(self.issues)} issue(s))"
        lines = [f"{head}{verdict}" + (f", {len(self.warnings)} warning(s)" if self.warnings else "")]
        lines += [f"  issue: {i}" for i in self.issues]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _listing(names: list[str], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "none"


class DataCompatibilityValidator:
    """Checks a producer's output against a consumer's declared input (files, format, columns, types)."""

    def validate_step_transition(self, producer_output: OutputInfo | dict[str, Any],
                                 consumer_input_spec: InputSpec | dict[str, Any], *, edge: str | None = None,
                                 tables: str | None = None) -> DataCompatibilityReport:
        """Compare what was written with what the consumer expects.

        ``producer_output`` is an ``OutputInfo`` or its ``to_dict()``; ``consumer_input_spec`` an
        ``InputSpec`` or a dict with ``required_files``, ``format``, ``schema`` and, as in the original
        plan, per-file ``file_formats`` and ``schemas``. ``tables`` (a glob) limits the data files checked.
        """
        out = producer_output.to_dict() if isinstance(producer_output, OutputInfo) else producer_output
        spec = _spec_dict(consumer_input_spec)
        findings = _Findings(edge)
        files: dict[str, dict[str, Any]] = out.get("files", {})
        if out.get("exists") is False:
            findings.add("issue", "missing_output", "the output folder does not exist (the step wrote nothing)")
        elif not files:
            findings.add("issue", "empty_output", "the output folder is empty")
        for required in spec["required_files"]:
            if not any(p == required or match_glob(p, required) or p.startswith(required.rstrip("/") + "/")
                       for p in files):
                findings.add("issue", "missing_file", f"required file '{required}' is missing "
                             f"(files: {_listing(sorted(files))})", files=[required])
        data = {p: f for p, f in files.items() if "schema" in f or f.get("error")}
        in_scope = {p: f for p, f in data.items() if not tables or match_glob(p, tables)}
        for path, info in in_scope.items():
            if info.get("error"):
                findings.add("issue", "unreadable", f"{path}: {info['error']}", files=[path])
        self._check_formats(files, in_scope, spec, findings, tables)
        self._check_schemas(in_scope, spec, findings)
        return DataCompatibilityReport(compatible=not findings.issues, issues=findings.issues,
                                       warnings=findings.warnings, data_summary=_summary(out, edge),
                                       edge=edge, details=findings.details)

    @staticmethod
    def _check_formats(files: dict, in_scope: dict, spec: dict, findings: _Findings, tables: str | None) -> None:
        expected = spec["format"]
        if expected:
            wrong: dict[str, list[str]] = {}
            for path, info in in_scope.items():
                if info["format"] != expected:
                    wrong.setdefault(info["format"], []).append(path)
            for fmt, paths in wrong.items():
                level = "warning" if fmt == f"{expected}.gz" else "issue"
                findings.add(level, "format", f"{_listing(paths)}: {fmt}, expected {expected}", files=paths,
                             expected=expected, actual=fmt)
            if files and not in_scope:
                findings.add("issue", "format", f"no {expected} data file"
                             + (f" matching '{tables}'" if tables else "")
                             + f" (files: {_listing(sorted(files))})", expected=expected)
            plain = [p for p, f in files.items() if "schema" not in f and not f.get("error")
                     and (not tables or match_glob(p, tables))]
            if plain and in_scope:
                findings.add("warning", "extra_files", f"{_listing(plain)}: not {expected} data, in a folder "
                             f"read as {expected} (a reader that globs the folder may trip on it)", files=plain)
        for path, fmt in spec["file_formats"].items():
            actual = files.get(path, {}).get("format")
            if actual is not None and actual != fmt:
                findings.add("issue", "format", f"{path}: {actual}, expected {fmt}", files=[path], expected=fmt,
                             actual=actual)

    @staticmethod
    def _check_schemas(in_scope: dict, spec: dict, findings: _Findings) -> None:
        checks = [(p, spec["schema"]) for p in in_scope if spec["schema"]]
        checks += [(p, s) for p, s in spec["schemas"].items() if p in in_scope]
        missing: dict[str, list[str]] = {}
        mismatched: dict[tuple[str, str, str], list[str]] = {}
        for path, schema in checks:
            info = in_scope[path]
            if "schema" not in info:
                continue
            columns = info["schema"].get("columns", [])
            types = info["schema"].get("column_types", {})
            for column in schema.get("required_columns", []):
                if column not in columns:
                    missing.setdefault(column, []).append(path)
            for column, expected in schema.get("column_types", {}).items():
                if column in types:
                    mismatched.setdefault((column, expected, types[column]), []).append(path)
                elif column not in schema.get("required_columns", []) and column not in columns:
                    missing.setdefault(column, []).append(path)
            if info.get("rows") == 0:
                findings.add("warning", "empty_table", f"{path}: no rows", files=[path])
        for column, paths in missing.items():
            cols = in_scope[paths[0]]["schema"].get("columns", [])
            findings.add("issue", "missing_column", f"column '{column}'{findings.consumer_text} is missing from "
                         f"{_listing(paths)} (columns there: {_listing(cols, 12)})", files=paths, column=column)
        for (column, expected, actual), paths in mismatched.items():
            level, why = compare_types(expected, actual)
            if level != "ok":
                findings.add(level, "column_type", f"column '{column}' in {_listing(paths)} is {actual}, "
                             f"expected {expected} ({why})", files=paths, column=column, expected=expected,
                             actual=actual)


class _Findings:
    def __init__(self, edge: str | None):
        self.edge = edge
        self.issues: list[str] = []
        self.warnings: list[str] = []
        self.details: list[dict[str, Any]] = []
        consumer = edge.split(" -> ", 1)[1] if edge and " -> " in edge else None
        self.consumer_text = f" required by {consumer}" if consumer else ""

    def add(self, level: str, kind: str, message: str, **extra: Any) -> None:
        text = f"{self.edge}: {message}" if self.edge else message
        (self.issues if level == "issue" else self.warnings).append(text)
        self.details.append({"level": level, "kind": kind, "edge": self.edge, "message": text, **extra})


def _spec_dict(spec: InputSpec | dict[str, Any]) -> dict[str, Any]:
    if isinstance(spec, dict):
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, dict):
            schema = schema.to_dict()
        return {"required_files": list(spec.get("required_files") or []), "format": spec.get("format"),
                "schema": schema or {}, "file_formats": dict(spec.get("file_formats") or {}),
                "schemas": dict(spec.get("schemas") or {})}
    return {"required_files": list(spec.required_files), "format": spec.format,
            "schema": spec.schema.to_dict() if spec.schema else {}, "file_formats": {}, "schemas": {}}


def _summary(out: dict[str, Any], edge: str | None) -> dict[str, Any]:
    files = out.get("files", {})
    tables = out.get("tables") or {p: [p] for p, f in files.items() if "schema" in f}
    summary_tables = {}
    for name, paths in tables.items():
        rows = [files[p].get("rows") for p in paths if p in files]
        columns: list[str] = []
        for p in paths:
            columns += [c for c in files.get(p, {}).get("schema", {}).get("columns", []) if c not in columns]
        summary_tables[name] = {"files": list(paths), "rows": None if None in rows else sum(rows),
                                "columns": columns}
    return {"edge": edge, "files": len(files), "total_size": sum(f.get("size", 0) for f in files.values()),
            "total_rows": out.get("total_rows"), "layout": out.get("layout"), "tables": summary_tables}


def check_edge(producer: str, output: str, output_dir: str | Path, consumer: str, input_spec: InputSpec,
               output_spec: OutputSpec | None = None, *, tables: str | None = None,
               info: OutputInfo | None = None) -> DataCompatibilityReport:
    """Check one data edge ``producer.output -> consumer.input`` after the producer wrote ``output_dir``.

    ``tables`` (the edge's glob) limits the files checked; pass ``info`` to reuse one inspection for
    every edge leaving the same output.
    """
    info = info or inspect_output(output_dir, output_spec)
    report = DataCompatibilityValidator().validate_step_transition(
        info, input_spec, edge=f"{producer}.{output} -> {consumer}.{input_spec.name}",
        tables=tables or (output_spec.tables if output_spec else None))
    report.data_summary["output_dir"] = str(output_dir)
    return report


def check_output_edges(dag: PipelineDAG, producer: str, output: str, output_dir: str | Path,
                       ) -> list[DataCompatibilityReport]:
    """Reports for every edge leaving ``producer.output`` whose consumer declares format, schema or files."""
    output_spec = dag.steps[producer].outputs.get(output)
    info = inspect_output(output_dir, output_spec)
    reports = []
    for source, target in dag.data_edges():
        if source != f"{producer}.{output}":
            continue
        consumer, input_name = target.split(".", 1)
        spec = dag.steps[consumer].inputs[input_name]
        if spec.declares_checks:
            edge = dag.edge(source, target)
            reports.append(check_edge(producer, output, output_dir, consumer, spec, output_spec,
                                      tables=edge.tables if edge else None, info=info))
    return reports

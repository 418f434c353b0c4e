"""What a step wrote: an output's files, tables and schemas, and its tables read into pyarrow or pandas.

An output is a folder. ``inspect_output`` lists its files (recursively) with format and size, and for
data files their columns, column types and row count, read as little as possible (``readers``).
Nothing here follows a link out of the output or opens a special file: a symlink is listed as a
link (and read only when it points to a regular file inside the same output), a FIFO, device or
socket is listed with an error, and inspecting one output has a time limit (``INSPECT_TIME_LIMIT``).
File names that are not valid UTF-8 are kept as the OS gives them for reading, and shown with
``\\xNN`` escapes in ``to_dict()`` and messages.
A split layout (``train/``, ``val/``, ``test/``) becomes named tables. ``frame`` reads a table, or every
table matching a glob, into pandas through pyarrow.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pipetest_nb.exceptions import TableNotFoundError
from pipetest_nb.files import display_path, special_kind, walk_tree
from pipetest_nb.validation.readers import (
    FileInfo,
    InspectionTimeout,
    detect_format,
    is_data_format,
    read_file,
    sample_schema,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from pipetest_nb.spec.parts import OutputSpec

SPLIT_NAMES = ("train", "training", "val", "valid", "validation", "test", "testing", "calibration", "holdout",
               "dev", "eval")
MAX_LISTED = 8  # files / columns named in one message
#: Seconds one output's inspection may take; files left when it runs out are reported as not inspected.
INSPECT_TIME_LIMIT = 120.0


# --------------------------------------------------------------------------------------------------
# Globs
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


# --------------------------------------------------------------------------------------------------
# Inspection
# --------------------------------------------------------------------------------------------------


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
        if not plain and is_data_format(fmt):
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
    return sorted((rel, entry.path, entry.is_symlink()) for rel, entry in walk_tree(folder)
                  if not entry.is_dir(follow_symlinks=False))


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
        sample_schema(path, info, deadline)
    except InspectionTimeout:
        info.tabular, info.error = True, _timeout_text(limit)
    except Exception as exc:  # a corrupt file is a finding, not a crash
        info.tabular = info.format != "json"
        info.error = f"cannot read {info.format}: {display_path(_first_line(exc))}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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
        part = read_file(path, file, columns, remaining)
        parts.append(part)
        if remaining is not None:
            remaining -= part.num_rows
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables(parts, promote_options="permissive")



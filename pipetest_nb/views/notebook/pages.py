"""A page of a table: what the debugger's Data tab reads, never the whole table.

A parquet file is read by row groups: only the groups that hold the requested rows are decoded, so
page 10,000 of a 50 GB table costs what page 1 costs. Other formats are read from their start up to
the end of the page (csv and json lines have no index to jump to). Null counts come from the
parquet footer's statistics, which cover the whole table at no reading cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.exceptions import TableNotFoundError
from pipetest_nb.validation.artifacts import OutputInfo, inspect_output, read_files

if TYPE_CHECKING:
    import pyarrow as pa

PAGE_ROWS = 20


@dataclass
class Page:
    """Rows ``offset`` .. ``offset + len(rows)`` of one table, with what is known of the whole table."""

    table: str
    offset: int
    rows: pa.Table
    total_rows: int | None
    column_types: dict[str, str] = field(default_factory=dict)
    null_counts: dict[str, int] | None = None  # whole-table counts (parquet statistics), when known

    @property
    def end(self) -> int:
        return self.offset + self.rows.num_rows

    @property
    def has_next(self) -> bool:
        return self.end < self.total_rows if self.total_rows is not None else self.rows.num_rows > 0


def read_page(output: str | Path | OutputInfo, table: str, offset: int = 0, limit: int = PAGE_ROWS) -> Page:
    """Read rows ``offset`` .. ``offset + limit`` of ``table`` of an output folder."""
    info = output if isinstance(output, OutputInfo) else inspect_output(output)
    if table not in info.tables:
        raise TableNotFoundError(table, str(info.folder), list(info.tables))
    offset = max(0, int(offset))
    parts: list[pa.Table] = []
    skip, wanted = offset, limit
    for rel in info.tables[table]:
        if wanted <= 0:
            break
        rows = info.files[rel].rows
        if rows is not None and skip >= rows:
            skip -= rows
            continue
        part = _file_page(info, rel, skip, wanted)
        skip = 0
        wanted -= part.num_rows
        parts.append(part)
    return Page(table, offset, _concat(parts, info, table), info.table_rows(table), _types(info, table),
                _parquet_nulls(info, table))


def _file_page(info: OutputInfo, rel: str, skip: int, limit: int) -> pa.Table:
    file = info.files[rel]
    if file.format != "parquet":
        return read_files(info, [rel], nrows=skip + limit).slice(skip, limit)
    import pyarrow.parquet as pq

    with pq.ParquetFile(_path(info, rel)) as pf:
        groups, first = [], None
        start = 0
        for i in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(i).num_rows
            if start + n > skip and start < skip + limit:
                groups.append(i)
                first = start if first is None else first
            start += n
        if not groups:
            return pf.schema_arrow.empty_table()
        return pf.read_row_groups(groups).slice(skip - first, limit)


def _path(info: OutputInfo, rel: str) -> Path:
    return info.folder / rel if info.folder.is_dir() else info.folder


def _concat(parts: list[pa.Table], info: OutputInfo, table: str) -> pa.Table:
    import pyarrow as pa

    if not parts:
        return pa.table({c: pa.array([], pa.null()) for c in info.table_columns(table)})
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")


def _types(info: OutputInfo, table: str) -> dict[str, str]:
    types: dict[str, str] = {}
    for rel in info.tables[table]:
        for column, kind in info.files[rel].column_types.items():
            types.setdefault(column, kind)
    return types


def _parquet_nulls(info: OutputInfo, table: str) -> dict[str, int] | None:
    """Null counts of every column from the footers of a parquet table; None if any file lacks them."""
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for rel in info.tables[table]:
        if info.files[rel].format != "parquet":
            return None
        with pq.ParquetFile(_path(info, rel)) as pf:
            metadata = pf.metadata
        for g in range(metadata.num_row_groups):
            group = metadata.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                stats = column.statistics
                if stats is None or not stats.has_null_count:
                    return None
                name = column.path_in_schema
                counts[name] = counts.get(name, 0) + stats.null_count
    return counts


def describe(page: Page) -> Any:
    """``DataFrame.describe()`` of the rows on the page (numbers and text alike)."""
    frame = page.rows.to_pandas()
    if frame.empty or not len(frame.columns):
        return frame
    return frame.describe(include="all")

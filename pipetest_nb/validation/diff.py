"""What changed in an output between two runs: "what is different from the last green run?".

``diff_outputs(old_dir, new_dir)`` compares files, and for each table present in both: schema
(columns added, removed, retyped), row count, and per column the null rate, mean / min / max for
numbers, min / max for times, and the most common values for categories. Statistics are computed
with pyarrow, without going through pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.validation.artifacts import OutputInfo, inspect_output, read_files
from pipetest_nb.validation.column_types import arrow_type_name

if TYPE_CHECKING:
    import pyarrow as pa

TOP_VALUES = 5


@dataclass
class ColumnStats:
    """Summary of one column of one table."""

    type: str
    rows: int
    null_rate: float
    mean: float | None = None
    min: Any = None
    max: Any = None
    top: list[tuple[Any, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "rows": self.rows, "null_rate": self.null_rate, "mean": self.mean,
                "min": self.min, "max": self.max, "top": [list(t) for t in self.top]}


@dataclass
class TableDiff:
    """One table in both runs: rows, schema changes, and the columns whose statistics moved."""

    name: str
    rows: tuple[int, int]
    added_columns: dict[str, str]
    removed_columns: dict[str, str]
    type_changes: dict[str, tuple[str, str]]
    columns: dict[str, tuple[ColumnStats, ColumnStats]]

    @property
    def changed_columns(self) -> list[str]:
        return [c for c, (a, b) in self.columns.items() if a.to_dict() | {"rows": 0} != b.to_dict() | {"rows": 0}]

    @property
    def changed(self) -> bool:
        return bool(self.rows[0] != self.rows[1] or self.added_columns or self.removed_columns or self.type_changes
                    or self.changed_columns)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": list(self.rows), "added_columns": dict(self.added_columns),
                "removed_columns": dict(self.removed_columns),
                "type_changes": {k: list(v) for k, v in self.type_changes.items()},
                "columns": {k: {"old": a.to_dict(), "new": b.to_dict()} for k, (a, b) in self.columns.items()},
                "changed_columns": self.changed_columns}

    def lines(self) -> list[str]:
        old, new = self.rows
        out = [f"table {self.name}: rows {old:,} -> {new:,}" + (f" ({new - old:+,})" if new != old else "")]
        out += [f"  + column {c} ({t})" for c, t in self.added_columns.items()]
        out += [f"  - column {c} ({t})" for c, t in self.removed_columns.items()]
        out += [f"  ~ column {c}: {a} -> {b}" for c, (a, b) in self.type_changes.items()]
        for name in self.changed_columns:
            a, b = self.columns[name]
            parts = []
            if a.null_rate != b.null_rate:
                parts.append(f"null {a.null_rate:.1%} -> {b.null_rate:.1%}")
            for stat in ("mean", "min", "max"):
                va, vb = getattr(a, stat), getattr(b, stat)
                if va != vb:
                    parts.append(f"{stat} {_fmt(va)} -> {_fmt(vb)}")
            if a.top != b.top:
                parts.append(f"top {_top(a)} -> {_top(b)}")
            out.append(f"  {name}: " + "; ".join(parts))
        unchanged = len(self.columns) - len(self.changed_columns)
        if unchanged:
            out.append(f"  ({unchanged} column{'s' if unchanged != 1 else ''} unchanged)")
        return out


@dataclass
class OutputDiff:
    """Differences between one output in two runs."""

    old: str
    new: str
    files_added: list[str]
    files_removed: list[str]
    tables: dict[str, TableDiff]
    tables_added: list[str]
    tables_removed: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.files_added or self.files_removed or self.tables_added or self.tables_removed
                    or any(t.changed for t in self.tables.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "changed": self.changed, "files_added": list(self.files_added),
                "files_removed": list(self.files_removed), "tables_added": list(self.tables_added),
                "tables_removed": list(self.tables_removed),
                "tables": {k: t.to_dict() for k, t in self.tables.items()}}

    def __str__(self) -> str:
        lines = [f"diff {self.old} -> {self.new}" + ("" if self.changed else ": no change")]
        for label, names in (("files added", self.files_added), ("files removed", self.files_removed),
                             ("tables added", self.tables_added), ("tables removed", self.tables_removed)):
            if names:
                lines.append(f"  {label}: {', '.join(names[:10])}" + (" ..." if len(names) > 10 else ""))
        for table in self.tables.values():
            lines += ["  " + line for line in table.lines()]
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _top(stats: ColumnStats) -> str:
    if not stats.rows:
        return "(empty)"
    return ", ".join(f"{v!r} {c / stats.rows:.0%}" for v, c in stats.top) or "(none)"


def column_stats(column: pa.ChunkedArray) -> ColumnStats:
    """Null rate, and mean/min/max or top values depending on the type, computed by pyarrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = len(column)
    stats = ColumnStats(arrow_type_name(column.type), rows, column.null_count / rows if rows else 0.0)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = kind.value_type
    if rows == column.null_count:
        return stats
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        stats.mean = _plain(pc.mean(column))
        bounds = pc.min_max(column)
        stats.min, stats.max = _plain(bounds["min"]), _plain(bounds["max"])
    elif pa.types.is_temporal(kind):
        bounds = pc.min_max(column)
        stats.min, stats.max = _plain(bounds["min"]), _plain(bounds["max"])
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind) or (
            pa.types.is_integer(kind) and _few_values(column)):
        counts = pc.value_counts(column).to_pylist()
        counts = sorted((c for c in counts if c["values"] is not None), key=lambda c: (-c["counts"], str(c["values"])))
        stats.top = [(c["values"], c["counts"]) for c in counts[:TOP_VALUES]]
    return stats


def _few_values(column: pa.ChunkedArray) -> bool:
    import pyarrow.compute as pc

    return pc.count_distinct(column).as_py() <= 20


def _plain(scalar: Any) -> Any:
    value = scalar.as_py()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return float(value) if type(value).__name__ == "Decimal" else value


def _table_diff(name: str, old: pa.Table, new: pa.Table) -> TableDiff:
    old_types = {f.name: arrow_type_name(f.type) for f in old.schema}
    new_types = {f.name: arrow_type_name(f.type) for f in new.schema}
    common = [c for c in old_types if c in new_types]
    return TableDiff(
        name=name, rows=(old.num_rows, new.num_rows),
        added_columns={c: t for c, t in new_types.items() if c not in old_types},
        removed_columns={c: t for c, t in old_types.items() if c not in new_types},
        type_changes={c: (old_types[c], new_types[c]) for c in common if old_types[c] != new_types[c]},
        columns={c: (column_stats(old.column(c)), column_stats(new.column(c))) for c in common})


def diff_outputs(old_dir: str | Path | OutputInfo, new_dir: str | Path | OutputInfo,
                 table: str | None = None) -> OutputDiff:
    """Compare one output of two runs; ``table`` (a name or glob) narrows it to those tables, read as one."""
    old = old_dir if isinstance(old_dir, OutputInfo) else inspect_output(old_dir)
    new = new_dir if isinstance(new_dir, OutputInfo) else inspect_output(new_dir)
    if table is not None:
        pairs = {table: ([p for g in old.resolve(table).values() for p in g],
                         [p for g in new.resolve(table).values() for p in g])}
    else:
        pairs = {n: (old.tables.get(n, []), new.tables.get(n, [])) for n in [*old.tables, *new.tables]}
    tables = {}
    for name, (old_paths, new_paths) in pairs.items():
        if old_paths and new_paths:
            tables[name] = _table_diff(name, read_files(old, old_paths), read_files(new, new_paths))
    return OutputDiff(
        old=str(old.folder), new=str(new.folder),
        files_added=sorted(set(new.files) - set(old.files)), files_removed=sorted(set(old.files) - set(new.files)),
        tables=tables, tables_added=[n for n, (a, b) in pairs.items() if b and not a],
        tables_removed=[n for n, (a, b) in pairs.items() if a and not b])

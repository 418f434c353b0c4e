"""Whether a consumer can read what its producer wrote: compatibility reports for the data edges.

``DataCompatibilityValidator.validate_step_transition`` compares what a producer wrote with what its
consumer declares (required files, format, required columns, column types); ``check_edge`` does it for
one data edge of a pipeline and names the edge, the file and the column in every message. Column types
are compared by family (``column_types``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetest_nb.events import EdgeState
from pipetest_nb.validation.artifacts import MAX_LISTED, OutputInfo, inspect_output, match_glob
from pipetest_nb.validation.column_types import compare_types

if TYPE_CHECKING:
    from pipetest_nb.spec.model import PipelineDAG
    from pipetest_nb.spec.parts import InputSpec, OutputSpec


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

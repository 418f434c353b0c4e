"""Reading a step's data contract: its inputs (paths, bindings, mappings), its outputs, their schemas."""

from __future__ import annotations

from typing import Any

from pipetest_nb.spec.documents import line_of
from pipetest_nb.spec.keys import FORMATS, TABULAR_FORMATS
from pipetest_nb.spec.names import MAX_NAME_BYTES, brief, name_problem
from pipetest_nb.spec.parse_values import choice, optional_str, str_list
from pipetest_nb.spec.parts import InputSpec, OutputSpec, TableSchema
from pipetest_nb.spec.problems import Problems
from pipetest_nb.spec.urls import is_url, url_problem


def table_schema(p: Problems, raw: Any, step: str, key: str, line: int | None) -> TableSchema | None:
    """A ``schema:`` mapping of an input or output."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        p.problem("'schema' must be a mapping with required_columns and/or column_types", line=line,
                  step=step, key=key)
        return None
    p.unknown_keys(raw, "schema", step, f"schema of {key}")
    required = raw.get("required_columns") or []
    if not isinstance(required, list) or not all(isinstance(c, str) for c in required):
        p.problem("'required_columns' must be a list of column names", line=line_of(raw, "required_columns"),
                  step=step, key=key)
        required = []
    types = raw.get("column_types") or {}
    if not isinstance(types, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in types.items()):
        p.problem("'column_types' must map column name -> type name (int64, float64, string, ...)",
                  line=line_of(raw, "column_types"), step=step, key=key)
        types = {}
    rows = raw.get("rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
        p.problem("'rows' must be a whole number", line=line_of(raw, "rows"), step=step, key=key)
        rows = None
    return TableSchema(required_columns=tuple(required), column_types=dict(types), rows=rows)


def _named_entries(p: Problems, step: str, raw: dict, value: Any, section: str,
                   what: str) -> list[tuple[str, Any, int | None]]:
    """The (name, value, line) entries of a step's ``inputs:`` or ``outputs:`` mapping whose names are
    valid; a value that is no mapping, a repeated key or a bad name is a problem."""
    if not isinstance(value, dict):
        p.problem(f"'{section}' must be a mapping of logical name -> {what}", line=line_of(raw, section),
                  step=step, key=section)
        return []
    p.duplicates(value, step)
    entries = []
    for name, spec in value.items():
        line = line_of(value, name)
        why = name_problem(name, section[:-1])
        if why:
            p.problem(why, line=line, step=step, key=section)
            continue
        entries.append((name, spec, line))
    return entries


def parse_inputs(p: Problems, step: str, raw: dict, step_names: list[str]) -> dict[str, InputSpec]:
    """``inputs:``: each a path, a binding ``step.output`` (when the part before the dot is a step and
    there is no ``/``), or a mapping."""
    value = raw.get("inputs")
    if value is None:
        return {}
    inputs: dict[str, InputSpec] = {}
    for input_name, spec, line in _named_entries(p, step, raw, value, "inputs", "path or binding"):
        key = f"inputs.{input_name}"
        if isinstance(spec, str):
            if "\x00" in spec or not spec:
                p.problem("input path is empty or contains a NUL byte", line=line, step=step, key=key)
                continue
            head = spec.split(".", 1)[0]
            if "/" not in spec and "." in spec and head in step_names:
                inputs[input_name] = InputSpec(input_name, source=spec)
            elif is_url(spec):
                inputs[input_name] = InputSpec(input_name, url=_url(p, spec, step, key, line))
            else:
                inputs[input_name] = InputSpec(input_name, path=p.path(spec))
        elif isinstance(spec, dict):
            inputs[input_name] = _input_mapping(p, step, input_name, spec, line)
        else:
            p.problem("an input must be a path, a binding 'step.output', or a mapping",
                      line=line, step=step, key=key)
    return inputs


def _input_mapping(p: Problems, step: str, input_name: str, spec: dict, line: int | None) -> InputSpec:
    key = f"inputs.{input_name}"
    p.unknown_keys(spec, "input", step, f"input '{input_name}'")
    source, path = spec.get("from"), spec.get("path")
    if source is not None and path is not None:
        p.problem("give 'from' (a binding) or 'path' (external data), not both", line=line, step=step, key=key)
    if source is not None and (not isinstance(source, str) or "." not in source):
        p.problem(f"'from' must be 'producer_step.output_name', got {brief(source)}", line=line, step=step,
                  key=key)
        source = None
    if path is not None and (not isinstance(path, str) or not path or "\x00" in path):
        p.problem("'path' must be a non-empty string", line=line, step=step, key=key)
        path = None
    fmt = choice(p, spec, "format", TABULAR_FORMATS, step)
    required_files = str_list(p, spec, "required_files", step)
    optional = spec.get("optional", False)
    if not isinstance(optional, bool):
        p.problem("'optional' must be true or false", line=line, step=step, key=key)
        optional = False
    url = _url(p, path, step, key, line) if is_url(path) else None
    return InputSpec(input_name, source=source, path=p.path(path) if path and not url else None, format=fmt,
                     schema=table_schema(p, spec.get("schema"), step, key, line_of(spec, "schema")),
                     required_files=tuple(required_files), optional=optional, url=url)


def _url(p: Problems, url: str, step: str, key: str, line: int | None) -> str | None:
    """A remote input's URL as written, unless it carries credentials (then a problem)."""
    why = url_problem(url)
    if why:
        p.problem(why, line=line, step=step, key=key)
        return None
    return url


def parse_outputs(p: Problems, step: str, raw: dict) -> dict[str, OutputSpec]:
    """``outputs:``: a mapping of name -> {format, schema, ...}, or a list of names."""
    value = raw.get("outputs")
    if value is None:
        return {}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = {v: {} for v in value}
    outputs: dict[str, OutputSpec] = {}
    for output_name, spec, line in _named_entries(p, step, raw, value, "outputs", "{format, schema}"):
        key = f"outputs.{output_name}"
        suite_name = f"{step}.{output_name}.json"
        if len(suite_name.encode()) > MAX_NAME_BYTES:
            p.problem(f"step and output names together are too long: the output's suite file "
                      f"'{brief(suite_name)}' would exceed {MAX_NAME_BYTES} bytes", line=line, step=step,
                      key=key, hint="shorten the step or the output name")
            continue
        spec = {} if spec is None else spec
        if not isinstance(spec, dict):
            p.problem("an output must be a mapping such as {format: parquet}", line=line, step=step, key=key)
            continue
        outputs[output_name] = _output_mapping(p, step, output_name, spec, line)
    return outputs


def _output_mapping(p: Problems, step: str, output_name: str, spec: dict, line: int | None) -> OutputSpec:
    key = f"outputs.{output_name}"
    p.unknown_keys(spec, "output", step, f"output '{output_name}'")
    tables = spec.get("tables")
    if tables is not None and not isinstance(tables, str):
        p.problem("'tables' must be a glob such as 'train/*.parquet'", line=line, step=step, key=key)
        tables = None
    path = optional_str(p, spec, "path", step)
    return OutputSpec(
        output_name, format=choice(p, spec, "format", FORMATS, step),
        schema=table_schema(p, spec.get("schema"), step, key, line_of(spec, "schema")),
        tables=tables, non_tabular=tuple(str_list(p, spec, "non_tabular", step)),
        description=optional_str(p, spec, "description", step), path=p.path(path) if path else None)

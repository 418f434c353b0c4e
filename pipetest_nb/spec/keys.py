"""The one declaration of the pipeline file's keys: for each part of the file, its keys in order, with
what each holds, the values it allows and what it is for.

The loader's unknown-key checks, the serializer's key order, the README table and the JSON Schema
(``pipetest schema``) are all generated from ``SECTIONS``, so adding a key here is the whole change
of the file format's surface (the parser still has to read it).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipetest_nb.spec.policy import ERROR_TYPES, STRATEGY_NAMES

MODES = ("main", "cli")
ISOLATIONS = ("subprocess", "inprocess", "pool")
TABULAR_FORMATS = ("parquet", "csv", "tsv", "json", "jsonl", "csv.gz")
FORMATS = (*TABULAR_FORMATS, "binary")
EXPECTATION_FAILURE_ACTIONS = ("fail", "warn")
CHECKS_ENGINES = ("auto", "native", "gx")
ON_ERROR_KEYS = (*ERROR_TYPES, "default")

MAX_TIMEOUT = 7 * 24 * 3600  # seconds; far beyond any step, well inside every timer and poll limit
MAX_RETRIES = 100
MEMORY_RANGE = (10**6, 2**50)  # bytes: below 1 MB no interpreter starts (``memory: 2`` means 2 bytes)

#: What a key's value is. The JSON Schema fragment and the README's type column follow from it.
TYPES = {
    "name": "string",
    "text": "string",
    "path": "path",
    "choice": "string",
    "seconds": "number",
    "count": "integer",
    "size": "size",
    "strings": "string or list of strings",
    "columns": "list of strings",
    "column_types": "mapping column -> type name",
    "env": "mapping NAME -> string, number or bool",
    "args": "mapping name -> string, number, bool, list or null (declared, not given)",
    "on_error": "strategy, or mapping error type -> strategy",
    "binding": "`step.output`",
    "target": "`step.input`",
    "flag": "bool",
    "glob": "glob",
    "suite": "suite name",
    "section": "mapping",
    "steps": "mapping step name -> step",
    "inputs": "mapping name -> path, binding or input",
    "outputs": "mapping name -> output, or list of names",
    "edges": "list of edges",
}


@dataclass(frozen=True)
class Key:
    """One key: its ``type`` (a name in ``TYPES``), a one-line ``doc``, and what its value may be.

    ``low``/``high`` bound numbers (``low`` is exclusive for ``seconds``); ``section`` names the
    section that describes the nested mappings of ``section``, ``steps``, ``inputs``, ``outputs``
    and ``edges`` keys.
    """

    name: str
    type: str
    doc: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    required: bool = False
    section: str | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"key {self.name!r}: unknown type {self.type!r}")


@dataclass(frozen=True)
class Section:
    """One kind of mapping in the file, its keys in the order the file is documented and written.

    ``not_both`` pairs exclude each other, ``together`` keys go together, and at least one of the
    ``one_of`` key sets must be given in full.
    """

    name: str
    title: str
    keys: tuple[Key, ...]
    not_both: tuple[tuple[str, str], ...] = ()
    together: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def key(self, name: str) -> Key:
        return next(k for k in self.keys if k.name == name)


# -- keys a step shares with the pipeline's ``defaults`` ----------------------------------------------

_TIMEOUT = Key("timeout", "seconds", "seconds the step may run before it is stopped", low=0, high=MAX_TIMEOUT)
_ISOLATION = Key("isolation", "choice", "where the step runs: a fresh subprocess, this process, or a warm "
                 "worker pool", choices=ISOLATIONS)
_ON_ERROR = Key("on_error", "on_error", "what to do when the step fails, for every failure or per error type",
                choices=STRATEGY_NAMES)
_RETRIES = Key("retries", "count", "times a failed step is run again", low=0, high=MAX_RETRIES)
_MEMORY = Key("memory", "size", "the most memory the step may use, such as `512MB` or `2GiB`",
              low=MEMORY_RANGE[0], high=MEMORY_RANGE[1])
_MODE = Key("mode", "choice", "`main`: call `main(input_paths, output_paths, environ_vars, job_args)`; "
            "`cli`: run the file as a program", choices=MODES)
_ENV = Key("env", "env", "environment variables the step sees (added to the pipeline's `defaults.env`)")
_ARGS = Key("args", "args", "job arguments, passed to the step as `job_args`")
_SCHEMA = Key("schema", "section", "what the tables must hold", section="schema")

SECTIONS: dict[str, Section] = {s.name: s for s in (
    Section("pipeline", "Top level", (
        Key("name", "name", "the pipeline's name (default: the file name without its extension)"),
        Key("description", "text", "what the pipeline does"),
        Key("defaults", "section", "settings for every step that does not set them itself", section="defaults"),
        Key("steps", "steps", "the steps by name (letters, digits, `_` and `-`); bindings between them make "
            "the DAG", required=True, section="step"),
        Key("edges", "edges", "settings of data edges: the suite checked on them and what a failure does",
            section="edge"),
        Key("preload", "strings", "modules the warm worker pool imports once, before any step (the "
            "third-party modules the scripts import at module level are preloaded without it)"),
    )),
    Section("defaults", "`defaults`", (_TIMEOUT, _ISOLATION, _ON_ERROR, _RETRIES, _MEMORY, _MODE, _ENV, Key(
        "checks_engine", "choice", "what evaluates the suites' expectations: `auto` (native where supported, "
        "Great Expectations for the rest), `native` or `gx`", choices=CHECKS_ENGINES))),
    Section("step", "A step (`steps.<name>`)", (
        Key("script", "path", "the Python file to run, relative to the pipeline file"),
        Key("script_path", "path", "the same as `script` (give one of them)"),
        Key("source_dir", "path", "the folder of a Cursus-style script; goes with `entry_point`"),
        Key("entry_point", "path", "the script's file name inside `source_dir`"),
        _MODE,
        Key("inputs", "inputs", "the logical inputs: an external path or URL (`s3://bucket/prefix/`), a binding "
            "`step.output`, or a mapping",
            section="input"),
        Key("outputs", "outputs", "the logical outputs: folders the step writes", section="output"),
        _ENV,
        _ARGS,
        Key("depends_on", "strings", "steps that must run first although no data flows from them"),
        _TIMEOUT, _ISOLATION, _ON_ERROR, _RETRIES, _MEMORY,
        Key("defaults", "section", "`env` and `args` that `retry_with_defaults` runs the step with",
            section="step_defaults"),
        Key("description", "text", "what the step does"),
        Key("external", "flag", "the step does not run (a Cursus SDK step such as CradleDataLoading): its "
            "outputs are folders the user provides (`outputs.<name>.path`), checked like any other output"),
    ), not_both=(("script", "script_path"),), together=("source_dir", "entry_point"),
        one_of=(("script",), ("script_path",), ("source_dir", "entry_point"), ("external",))),
    Section("step_defaults", "A step's `defaults`", (
        Key("env", "env", "environment variables for the retry, in place of the step's"),
        Key("args", "args", "job arguments for the retry, in place of the step's"),
    )),
    Section("input", "An input given as a mapping (`steps.<name>.inputs.<input>`)", (
        Key("from", "binding", "the producer's output this input reads"),
        Key("path", "path", "external data, a file or folder relative to the pipeline file, or a URL fsspec reads "
            "(`s3://bucket/prefix/`, `gs://`, `https://`)"),
        Key("format", "choice", "the file format of its tables", choices=TABULAR_FORMATS),
        _SCHEMA,
        Key("required_files", "strings", "files that must be in the input"),
        Key("optional", "flag", "the step may run without it (it then gets an empty folder)"),
    ), not_both=(("from", "path"),)),
    Section("output", "An output (`steps.<name>.outputs.<output>`)", (
        Key("format", "choice", "the file format of its tables; `binary` for files that are not tables",
            choices=FORMATS),
        _SCHEMA,
        Key("tables", "glob", "which files of the output are tables, such as `train/*.parquet`"),
        Key("non_tabular", "strings", "globs of the files that are not tables (models, JSON)"),
        Key("description", "text", "what the output holds"),
        Key("path", "path", "the folder an `external` step's output is, relative to the pipeline file"),
    )),
    Section("schema", "A `schema` (of an input or an output)", (
        Key("required_columns", "columns", "columns every table must have"),
        Key("column_types", "column_types", "the type of some columns (`int64`, `float64`, `string`, ...)"),
        Key("rows", "count", "how many rows synthetic data for it has", low=0),
    )),
    Section("edge", "An edge (an item of `edges`)", (
        Key("from", "binding", "the producer's output", required=True),
        Key("to", "target", "the consumer's input, bound to `from` in the consumer's `inputs`", required=True),
        Key("expectations", "suite", "the suite `expectations/<name>.json` checked on this edge"),
        Key("tables", "glob", "which tables of the output the checks read"),
        Key("on_expectation_failure", "choice", "`fail` stops the consumer; `warn` records the failure and lets "
            "it run", choices=EXPECTATION_FAILURE_ACTIONS),
    )),
)}


def allowed(section: str) -> tuple[str, ...]:
    """The keys a mapping of ``section`` may hold, in their declared order."""
    return SECTIONS[section].names


def key(section: str, name: str) -> Key:
    """The declaration of one key."""
    return SECTIONS[section].key(name)

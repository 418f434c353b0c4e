"""``pipetest cursus match | check | run``: a Cursus pipeline (DAG + configuration + contracts) from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipetest_nb.cursus.layer import DEFAULT_MIN_CONFIDENCE, CursusIntegrationLayer
from pipetest_nb.cursus.matching import Binding, unbound_problem
from pipetest_nb.exceptions import PipelineSpecError, SpecProblem
from pipetest_nb.spec.keys import ISOLATIONS
from pipetest_nb.text import format_duration
from pipetest_nb.views.cli.printing import format_table


def _layer_from_args(args: argparse.Namespace) -> CursusIntegrationLayer:
    """The layer the command's arguments describe, with a note on stderr when its env values cannot
    follow the config classes. The inputs Cursus builds from config fields go in a temporary folder."""
    pairs = {}
    for item in args.input or []:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise PipelineSpecError([SpecProblem(f"--input must be STEP.NAME=PATH, got '{item}'", key="--input")])
        pairs[key] = value
    layer = CursusIntegrationLayer(args.dag, args.config, args.contracts, args.overrides, pairs, args.source_root,
                                   min_confidence=args.min_confidence, cursus_src=args.cursus_src)
    if layer.environment.note:
        print(f"note: {layer.environment.note}", file=sys.stderr)
    return layer


def _all_bindings(layer: CursusIntegrationLayer) -> tuple[list[Binding], list[SpecProblem]]:
    """Every step's bindings; a step that cannot be matched gives its problems, and the others go on."""
    bindings: list[Binding] = []
    problems: dict[tuple, SpecProblem] = {}  # a broken producer fails each of its consumers: once is enough
    for step in layer.steps:
        try:
            bindings += layer.bindings_for(step)
        except PipelineSpecError as exc:
            for p in exc.problems:
                problems.setdefault((p.step, p.message, p.file, p.line, p.key), p)
            broken = sorted({p.step for p in exc.problems if p.step and p.step != step})
            if broken and not any(p.step == step for p in exc.problems):
                problems.setdefault((step, "blocked"), SpecProblem(
                    f"its inputs cannot be matched while {', '.join(map(repr, broken))} cannot be read", step=step,
                    file=str(layer.dag.file) if layer.dag.file else None, hint="fix the error of that step first"))
    return bindings, list(problems.values())


def _binding_row(layer: CursusIntegrationLayer, b: Binding) -> dict[str, object]:
    problem, hint, line = b.problem, None, None
    if b.kind == "unbound":
        unbound = unbound_problem(b.step, b.input, layer.contract_for(b.step))
        problem, hint, line = unbound.message, unbound.hint, unbound.line
    return {"step": b.step, "input": b.input, "kind": b.kind, "source": b.source,
            "path": str(b.path) if b.path else None, "confidence": b.confidence, "required": b.required,
            "candidates": list(b.candidates), "problem": problem, "warning": b.warning, "hint": hint, "line": line}


def _problem_row(p: SpecProblem) -> dict[str, object]:
    return {"step": p.step, "input": None, "kind": "spec", "source": None, "path": None, "confidence": None,
            "required": None, "candidates": [], "problem": p.message, "hint": p.hint, "file": p.file,
            "line": p.line, "key": p.key}


def cmd_cursus_match(args: argparse.Namespace) -> int:
    """Print how every input is bound, and every step that cannot be matched; exit 1 when anything is
    ambiguous, unsure, missing or broken."""
    layer = _layer_from_args(args)
    bindings, problems = _all_bindings(layer)
    failed = [b for b in bindings if b.problem or b.kind == "unbound"]
    if args.json:
        print(json.dumps([_binding_row(layer, b) for b in bindings] + [_problem_row(p) for p in problems],
                         indent=2))
        return 1 if failed or problems else 0
    rows = []
    for b in bindings:
        bound = b.source or (str(b.path) if b.path else {"empty": "(empty folder)", "omitted": "(left out)"}
                             .get(b.kind, " | ".join(b.candidates) or "-"))
        note = b.problem or b.warning or ("" if b.required else "optional")
        if b.kind == "unbound":
            note = "required input: give --input STEP.NAME=PATH"
        rows.append((b.step, b.input, bound, b.kind, f"{b.confidence:.2f}" if b.confidence is not None else "",
                     note))
    print(format_table(["step", "input", "bound to", "kind", "confidence", "note"], rows))
    if problems:
        print("\n" + "\n".join(f"error: {p}" for p in problems))
    steps = len({p.step for p in problems})
    print(f"\n{len(bindings)} inputs, {len(failed)} to resolve"
          + (f"; {steps} step{'s' if steps != 1 else ''} could not be matched (errors above)" if problems else ""))
    return 1 if failed or problems else 0


def cmd_cursus_check(args: argparse.Namespace) -> int:
    """Print every contract finding; exit 1 when there is an error."""
    layer = _layer_from_args(args)
    result = layer.check()
    if result.findings:
        print(result.format())
    if result.ok:
        count = len(layer.steps)
        print(f"OK: {count} step{' agrees' if count == 1 else 's agree'} with {'its contract' if count == 1 else 'their contracts'}")
    return 0 if result.ok else 1


def cmd_cursus_run(args: argparse.Namespace) -> int:
    """Check first (errors stop here), then run the whole pipeline on the files given."""
    from pipetest_nb.engine.options import RunOptions
    from pipetest_nb.engine.start import start_run

    layer = _layer_from_args(args)
    result = layer.check()
    if result.findings:
        print(result.format())
    if not result.ok:
        print("not running: fix the errors above first", file=sys.stderr)
        return 1
    # checked: only now is anything written to the workspace, the inputs built from config fields first
    layer.build_dir = Path(args.workspace) / "cursus_inputs"
    dag = layer.to_pipeline()
    pipeline_run = start_run(dag, RunOptions(workspace=args.workspace, isolation=args.isolation))
    try:
        pipeline_run.run()
        run = pipeline_run.result()
    finally:
        pipeline_run.close()
    rows = [(r.step_name, "external" if dag.steps[r.step_name].external and r.status == "succeeded" else r.status,
             format_duration(r.duration), r.error or "") for r in run.steps.values()]  # external: ran nothing
    print(format_table(["step", "status", "duration", "error"], rows))
    print(f"\nrun {run.run_id} in {run.run_dir}: " + ("succeeded" if run.success else f"failed: {run.error}"))
    return 0 if run.success else 1


def add_cursus_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest cursus {match,check,run}`` on the main parser's subcommands."""
    parser = sub.add_parser("cursus", help="load, match and check a Cursus pipeline (DAG + configuration)")
    commands = parser.add_subparsers(dest="cursus_command", required=True, metavar="COMMAND")
    specs = [("match", "show how each input is bound to a producer output", cmd_cursus_match),
             ("check", "check scripts, configuration and contracts against each other", cmd_cursus_check),
             ("run", "check, then run the pipeline on the given files", cmd_cursus_run)]
    for name, help_text, func in specs:
        p = commands.add_parser(name, help=help_text)
        p.add_argument("dag", help="Cursus DAG JSON (serializer format or {nodes, edges})")
        p.add_argument("config", help="Cursus configuration JSON (configuration.shared / .specific)")
        p.add_argument("--contracts", metavar="DIR", help="folder of <script>.step.yaml / *_contract.py files "
                                                           "(default: beside each script)")
        p.add_argument("--overrides", metavar="FILE", help="YAML/JSON: steps.STEP.{inputs,env,args}, bindings")
        p.add_argument("--input", action="append", metavar="STEP.NAME=PATH", help="external data for an input")
        p.add_argument("--source-root", metavar="DIR",
                       help="folder relative script paths start from (default: the configuration's folder)")
        p.add_argument("--cursus-src", metavar="DIR",
                       help="the cursus package's source folder, whose config classes give env defaults and "
                            "computed values (default: an installed cursus package, read, never imported)")
        p.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE,
                       help="bindings matched less surely than this are errors (default: %(default)s)")
        if name == "match":
            p.add_argument("--json", action="store_true",
                           help="print the bindings and every problem as JSON (one row each)")
        if name == "run":
            p.add_argument("--workspace", metavar="DIR", default="pipetest_workspace",
                           help="where runs are kept (default: %(default)s)")
            p.add_argument("--isolation", choices=ISOLATIONS,
                           help="how each step runs (default: the pipeline's setting)")
        p.set_defaults(func=func)

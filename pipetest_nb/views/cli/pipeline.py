"""``pipetest validate`` and ``pipetest plan``: a pipeline file checked and planned, nothing run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from pipetest_nb.views.cli.printing import format_table, load_pipeline


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a pipeline file: every problem is listed; exit 1 if there is any."""
    from pipetest_nb.exceptions import PipelineSpecError
    from pipetest_nb.plan import PipelineDAGResolver
    from pipetest_nb.validation.expectations.suites import check_suite_files

    dag = load_pipeline(args.pipeline)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    first, problems, handled = _first_suites(dag, args.workspace)
    problems += check_suite_files(dag, skip=handled)
    if problems:
        raise PipelineSpecError(problems, source=str(args.pipeline))
    for text in first.values():
        print(f"warning: {text}", file=sys.stderr)
    print(f"OK: pipeline '{dag.name}' from {args.pipeline}: {len(plan.execution_order)} steps, "
          f"{len(dag.data_edges())} data edges, {len(plan.generations)} generations"
          + (f"; {len(first)} suite(s) still to draft" if first else ""))
    return 0


def _first_suites(dag: Any, workspace: str) -> tuple[dict[str, str], list[Any], frozenset[str]]:
    """Suites the pipeline names that do not exist yet: warnings (suite -> text) while no run has the
    producer's data to draft them from, else problems whose hint is the command that drafts them."""
    from pipetest_nb.engine.first_suite import earlier_run, workspace_argument
    from pipetest_nb.exceptions import SpecProblem
    from pipetest_nb.validation.expectations.drafting import draft_command
    from pipetest_nb.validation.expectations.suites import missing_suites

    warnings: dict[str, str] = {}
    problems = []
    missing = missing_suites(dag)
    for edge, path in missing:
        target = os.path.relpath(path) if len(os.path.relpath(path)) < len(str(path)) else str(path)
        what = f"edge {edge.source} -> {edge.target} names suite '{edge.expectations}', but {target} does not exist"
        run = earlier_run(workspace, dag.name, edge.source.split(".", 1)[0])
        if run is not None:
            problems.append(SpecProblem(what, file=str(dag.source) if dag.source else None, key="edges",
                                        hint="draft it from run " + run + ": " + draft_command(
                                            edge.expectations, edge.source, target, run=run,
                                            workspace=workspace_argument(workspace))))
        elif edge.expectations not in warnings:
            warnings[edge.expectations] = (
                f"{what} yet; until it does the edge is not checked. Run the pipeline once (its warnings "
                f"print the exact command), or draft it now from data you have: "
                + draft_command(edge.expectations, edge.source, target))
    return warnings, problems, frozenset(edge.expectations for edge, _ in missing)


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the execution order, the generations and the data-flow map."""
    from pipetest_nb.plan import PipelineDAGResolver

    dag = load_pipeline(args.pipeline)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    if args.json:
        print(json.dumps({"pipeline": dag.name, **plan.to_dict()}, indent=2))
        return 0
    generation_of = {step: i for i, gen in enumerate(plan.generations) for step in gen}
    rows = []
    for i, step in enumerate(plan.execution_order, 1):
        flow = ", ".join(f"{inp} <- {src}" for inp, src in plan.data_flow_map[step].items())
        rows.append((i, step, generation_of[step], ", ".join(plan.dependencies[step]) or "-", flow or "-"))
    print(f"Pipeline '{dag.name}': {len(plan.execution_order)} steps in {len(plan.generations)} generations\n")
    print(format_table(["#", "step", "generation", "after", "inputs <- producer:output"], rows))
    print("\nGenerations (steps in one generation can run side by side):")
    for i, gen in enumerate(plan.generations):
        print(f"  {i}: {', '.join(gen)}")
    return 0


def add_pipeline_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``pipetest validate`` and ``pipetest plan``."""
    p = sub.add_parser("validate", help="check a pipeline file and list every problem")
    p.add_argument("pipeline", help="pipeline file (.yaml, .yml or .json)")
    p.add_argument("--workspace", default="pipetest_workspace",
                   help="where runs live: a suite still to draft is a warning until a run has its data")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="show the execution order, generations and data flow")
    p.add_argument("pipeline", help="pipeline file (.yaml, .yml or .json)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

"""``pipetest validate`` and ``pipetest plan``: a pipeline file checked and planned, nothing run."""

from __future__ import annotations

import argparse
import json

from pipetest_nb.views.cli.printing import format_table, load_pipeline


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a pipeline file: every problem is listed; exit 1 if there is any."""
    from pipetest_nb.exceptions import PipelineSpecError
    from pipetest_nb.plan import PipelineDAGResolver
    from pipetest_nb.validation.expectations.suites import check_suite_files

    dag = load_pipeline(args.pipeline)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    suite_problems = check_suite_files(dag)
    if suite_problems:
        raise PipelineSpecError(suite_problems, source=str(args.pipeline))
    print(f"OK: pipeline '{dag.name}' from {args.pipeline}: {len(plan.execution_order)} steps, "
          f"{len(dag.data_edges())} data edges, {len(plan.generations)} generations")
    return 0


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
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="show the execution order, generations and data flow")
    p.add_argument("pipeline", help="pipeline file (.yaml, .yml or .json)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

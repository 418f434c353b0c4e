"""Planning cost: load + plan of generated DAGs of 50, 500 and 1,000/2,000 steps.

Baseline: networkx's own topological sort of the same graph, the least a planner has to do.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness import Row, compare, median_ms


def _spec(n: int) -> dict:
    steps = {}
    for i in range(n):
        inputs = {f"I{j}": f"s{j}.o" for j in (i - 1, i // 2, i - 7) if 0 <= j < i}
        steps[f"s{i}"] = {"script": "s.py", "outputs": {"o": {}}, "inputs": inputs}
    return {"name": f"bench{n}", "steps": steps}


def run(quick: bool = False) -> list[Row]:
    import networkx as nx

    from pipetest_nb import PipelineDAG, PipelineDAGResolver

    rows: list[Row] = []
    folder = Path(tempfile.mkdtemp())
    (folder / "s.py").write_text("def main(*a): pass\n")
    for n in ([50] if quick else [50, 500, 1000, 2000]):
        spec = _spec(n)
        dag = PipelineDAG.from_dict(spec, base_dir=folder)
        graph = dag.to_networkx()
        repeat = 1 if quick else 7
        baseline = median_ms(lambda g=graph: list(nx.topological_sort(g)), repeat)
        plan = median_ms(lambda d=dag: PipelineDAGResolver(d).create_execution_plan(), repeat)
        load = median_ms(lambda s=spec: PipelineDAG.from_dict(s, base_dir=folder), repeat)
        rows += compare(f"plan {n} steps", "networkx topological_sort", baseline,
                        {"PipelineDAGResolver.create_execution_plan": plan,
                         "PipelineDAG.from_dict (parse + check)": load})
    return rows

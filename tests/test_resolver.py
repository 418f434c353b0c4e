"""The plan layer: order, generations, data flow, slices and cycles."""

from __future__ import annotations

import pytest

from pipetest_nb import PipelineDAG, PipelineDAGResolver, PipelineExecutionPlan
from pipetest_nb.exceptions import PipelineCycleError, UnknownStepError


def dag_of(steps: dict[str, dict], base_dir) -> PipelineDAG:
    for name in steps:
        (base_dir / f"{name}.py").write_text("def main(*a): pass\n")
    return PipelineDAG.from_dict({"name": "t", "steps": {
        name: {"script": f"{name}.py", **spec} for name, spec in steps.items()}}, base_dir=base_dir)


def plan_of(steps: dict[str, dict], base_dir) -> PipelineExecutionPlan:
    return PipelineDAGResolver(dag_of(steps, base_dir)).create_execution_plan()


def test_linear(tmp_path):
    plan = plan_of({"c": {"inputs": {"X": "b.o"}}, "b": {"inputs": {"X": "a.o"}, "outputs": {"o": {}}},
                    "a": {"outputs": {"o": {}}}}, tmp_path)
    assert plan.execution_order == ["a", "b", "c"]
    assert plan.generations == [["a"], ["b"], ["c"]]
    assert plan.dependencies == {"a": [], "b": ["a"], "c": ["b"]}
    assert plan.data_flow_map == {"a": {}, "b": {"X": "a:o"}, "c": {"X": "b:o"}}
    assert plan.upstream("c") == ["a", "b"] and plan.downstream("a") == ["b", "c"]


def test_diamond_order_breaks_ties_by_declaration(tmp_path):
    steps = {"a": {"outputs": {"o": {}}}, "c": {"inputs": {"X": "a.o"}, "outputs": {"o": {}}},
             "b": {"inputs": {"X": "a.o"}, "outputs": {"o": {}}},
             "d": {"inputs": {"L": "b.o", "R": "c.o"}}}
    plan = plan_of(steps, tmp_path)
    assert plan.execution_order == ["a", "c", "b", "d"]
    assert plan.generations == [["a"], ["c", "b"], ["d"]]
    assert plan.data_flow_map["d"] == {"L": "b:o", "R": "c:o"}
    assert plan_of(steps, tmp_path).execution_order == plan.execution_order


def test_fan_out_fan_in_and_depends_on(tmp_path):
    steps = {"src": {"outputs": {"o": {}}}}
    steps.update({f"w{i}": {"inputs": {"X": "src.o"}, "outputs": {"o": {}}} for i in range(5)})
    steps["sink"] = {"inputs": {f"X{i}": f"w{i}.o" for i in range(5)}}
    steps["after"] = {"depends_on": ["sink"]}
    plan = plan_of(steps, tmp_path)
    assert plan.generations == [["src"], [f"w{i}" for i in range(5)], ["sink"], ["after"]]
    assert plan.data_flow_map["after"] == {}
    assert plan.dependencies["after"] == ["sink"]


def test_disconnected_components_keep_declaration_order(tmp_path):
    plan = plan_of({"x": {}, "a": {"outputs": {"o": {}}}, "y": {"depends_on": ["x"]},
                    "b": {"inputs": {"I": "a.o"}}}, tmp_path)
    assert plan.execution_order == ["x", "a", "y", "b"]
    assert plan.generations == [["x", "a"], ["y", "b"]]


def test_generated_thousand_step_dag(tmp_path):
    (tmp_path / "s.py").write_text("def main(*a): pass\n")
    steps = {}
    for i in range(1000):
        inputs = {f"I{j}": f"s{j}.o" for j in (i - 1, i // 2, i - 7) if 0 <= j < i}
        steps[f"s{i}"] = {"script": "s.py", "outputs": {"o": {}}, "inputs": inputs}
    dag = PipelineDAG.from_dict({"name": "big", "steps": steps}, base_dir=tmp_path)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    position = {s: i for i, s in enumerate(plan.execution_order)}
    assert len(position) == 1000
    for step, deps in plan.dependencies.items():
        assert all(position[d] < position[step] for d in deps)
    assert sum(len(g) for g in plan.generations) == 1000


def test_three_cycle_names_the_path(tmp_path):
    with pytest.raises(PipelineCycleError, match=r"a -> b -> c -> a") as info:
        plan_of({"a": {"inputs": {"X": "c.o"}, "outputs": {"o": {}}},
                 "b": {"inputs": {"X": "a.o"}, "outputs": {"o": {}}},
                 "c": {"inputs": {"X": "b.o"}, "outputs": {"o": {}}},
                 "d": {"inputs": {"X": "c.o"}}}, tmp_path)
    assert info.value.cycle == ["a", "b", "c", "a"]


def test_self_loop(tmp_path):
    with pytest.raises(PipelineCycleError, match=r"steps form a cycle: a -> a"):
        plan_of({"a": {"inputs": {"X": "a.o"}, "outputs": {"o": {}}}}, tmp_path)


def test_subset_between_steps(tmp_path):
    plan = plan_of({"a": {"outputs": {"o": {}}}, "b": {"inputs": {"X": "a.o"}, "outputs": {"o": {}}},
                    "c": {"inputs": {"X": "b.o"}, "outputs": {"o": {}}}, "d": {"inputs": {"X": "c.o"}},
                    "e": {"inputs": {"X": "a.o"}}}, tmp_path)
    part = plan.subset(from_steps="b", to_steps=["c"])
    assert part.execution_order == ["b", "c"]
    assert part.dependencies["b"] == ["a"]  # the engine decides where a's output comes from
    assert plan.subset(to_steps="c").execution_order == ["a", "b", "c"]
    assert plan.subset(from_steps="b").execution_order == ["b", "c", "d"]
    assert part.generations == [["b"], ["c"]]
    with pytest.raises(UnknownStepError, match="did you mean 'c'"):
        plan.subset(to_steps="cc")


def test_step_configs_carry_defaults(tmp_path):
    (tmp_path / "a.py").write_text("def main(*a): pass\n")
    dag = PipelineDAG.from_dict({"defaults": {"timeout": 9}, "steps": {"a": {"script": "a.py"}}},
                                base_dir=tmp_path)
    plan = PipelineDAGResolver(dag).create_execution_plan()
    assert plan.step_configs["a"].timeout == 9 and plan.step_configs["a"].mode == "main"

"""The likely culprit of a failure: a step upstream whose output did not pass its edge checks, or whose
inputs changed since the last green run.

A step that fails often only reports the damage: ``risk_table_mapping`` raises ``KeyError: 'region'``
because ``missing_value_imputation`` dropped the column, and the edge check between them warned.
``find_suspects(record, step)`` reads a run record (nothing else: it works on a recorded run as on a
live one) and names the producers of the warned or failed edges into the failed step or any step
upstream of it, nearest first, and those whose findings name what the error names before the rest.
Given the record of the last green run too (``records.changes.last_green_run``), the steps of that
ancestry whose external inputs or script changed since are suspects as well (kind ``changed``): after
the producers whose findings the error names, nearest first with the others.
``cause_message`` says it in one sentence, for the CLI, the report and the notebook alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

BAD_EDGE_STATES = ("warned", "failed")
EDGE, CHANGED = "edge", "changed"  # the kinds of suspect
MAX_SUSPECTS = 5
MAX_COLUMNS = 5


@dataclass(frozen=True)
class Suspect:
    """A producer whose output into the failed step's ancestry did not pass its checks (kind ``edge``), or
    a step of that ancestry whose inputs or script changed since the last green run (kind ``changed``)."""

    step: str
    edge: tuple[str, str] | None  # ("producer.output", "consumer.input"); None for a change
    state: str  # "warned" or "failed"; "changed"
    distance: int  # 0: the edge feeds the failed step itself (a change: it is the failed step)
    lost_columns: list[str] = field(default_factory=list)  # its inputs had them, its output does not
    failed_columns: list[str] = field(default_factory=list)  # columns named by failed expectations
    issues: list[str] = field(default_factory=list)  # compatibility findings, when no column is named
    named_in_error: bool = False  # the failed step's error names one of those columns
    kind: str = EDGE
    changed_inputs: list[str] = field(default_factory=list)  # its external inputs whose content changed
    script_changed: bool = False
    since_run: str | None = None  # the last green run it was compared with

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "edge": list(self.edge) if self.edge else None, "state": self.state,
                "distance": self.distance, "lost_columns": list(self.lost_columns),
                "failed_columns": list(self.failed_columns), "issues": list(self.issues),
                "named_in_error": self.named_in_error, "kind": self.kind,
                "changed_inputs": list(self.changed_inputs), "script_changed": self.script_changed,
                "since_run": self.since_run}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suspect:
        """The suspect a record's ``root_failure`` holds (``to_dict``; records older than ``kind`` too)."""
        edge = data.get("edge")
        texts = {key: [str(v) for v in data.get(key) or []]
                 for key in ("lost_columns", "failed_columns", "issues", "changed_inputs")}
        return cls(step=str(data.get("step")), edge=(str(edge[0]), str(edge[1]))
                   if isinstance(edge, list) and len(edge) == 2 else None, state=str(data.get("state")),
                   distance=int(data.get("distance") or 0), named_in_error=bool(data.get("named_in_error")),
                   kind=str(data.get("kind") or EDGE), script_changed=bool(data.get("script_changed")),
                   since_run=None if data.get("since_run") is None else str(data["since_run"]), **texts)

    def finding(self) -> str:
        """What is wrong with its output (or what changed), in a few words."""
        if self.kind == CHANGED:
            return self._change()
        output = f"{self.step}'s output"
        if self.lost_columns:
            return f"{output} lost {_columns(self.lost_columns)}"
        if self.failed_columns:
            return f"{output} failed its checks on {_columns(self.failed_columns)}"
        if self.issues:
            return f"{output} {self.issues[0]}"
        return f"{output} did not pass its checks"

    def _change(self) -> str:
        what = []
        if self.changed_inputs:
            quoted = ", ".join(f"'{n}'" for n in self.changed_inputs)
            what.append(f"input {quoted}" if len(self.changed_inputs) == 1 else f"inputs {quoted}")
        if self.script_changed:
            what.append("its script" if what else "script")
        return f"{self.step}'s {' and '.join(what)} changed since the last green run {self.since_run}"


def find_suspects(record: dict[str, Any], step: str | None = None,
                  baseline: dict[str, Any] | None = None) -> list[Suspect]:
    """The suspects of the failure of ``step`` (default: the run's root failure), best first; with
    ``baseline`` (the record of the last green run) the steps whose inputs or script changed since too."""
    step = step or (record.get("root_failure") or {}).get("step")
    if not step:
        return []
    distance = _ancestors(record, step)
    error = _error_text((record.get("steps") or {}).get(step) or {})
    found = []
    for key, edge in (record.get("edges") or {}).items():
        if not isinstance(edge, dict) or edge.get("state") not in BAD_EDGE_STATES:
            continue
        source, target = _ends(key, edge)
        consumer = target.split(".", 1)[0]
        if consumer not in distance:
            continue
        lost, failed = _lost_columns(record, source, edge), _failed_columns(edge)
        named = any(_names(error, c) for c in (*lost, *failed))
        found.append(Suspect(step=source.split(".", 1)[0], edge=(source, target), state=edge["state"],
                             distance=distance[consumer], lost_columns=lost, failed_columns=failed,
                             issues=_issues(edge), named_in_error=named))
    if baseline:
        found += _changed_since(record, baseline, distance)
    found.sort(key=lambda s: (not s.named_in_error, s.distance, s.kind != EDGE, s.state != "failed", s.step))
    return found[:MAX_SUSPECTS]


def suspects_of(record: dict[str, Any], step: str) -> list[Suspect]:
    """The suspects the run recorded when ``step`` is its root failure (compared with the last green run
    then), else those found from the record alone: a view shows what the run said."""
    root = record.get("root_failure") or {}
    if root.get("step") == step and isinstance(root.get("suspects"), list):
        return [Suspect.from_dict(s) for s in root["suspects"] if isinstance(s, dict)]
    return find_suspects(record, step)


def _changed_since(record: dict[str, Any], baseline: dict[str, Any], distance: dict[str, int]) -> list[Suspect]:
    """Steps of the ancestry whose external inputs or script have digests unlike the green run's."""
    now, then = record.get("steps") or {}, baseline.get("steps") or {}
    since = str(baseline.get("run_id") or "?")
    found = []
    for step, away in distance.items():
        entry, green = now.get(step) or {}, then.get(step) or {}
        inputs, before = entry.get("input_digests") or {}, green.get("input_digests") or {}
        changed = sorted(n for n, d in inputs.items() if n in before and before[n] != d)
        script = entry.get("script_digest")
        script_changed = bool(script and green.get("script_digest") and green["script_digest"] != script)
        if changed or script_changed:
            found.append(Suspect(step=step, edge=None, state=CHANGED, distance=away, kind=CHANGED,
                                 changed_inputs=changed[:MAX_COLUMNS], script_changed=script_changed,
                                 since_run=since))
    return found


def cause_message(record: dict[str, Any], suspects: list[Suspect], step: str | None = None) -> str | None:
    """One sentence: what the best suspect's output lost, on which edge, and what the failure is."""
    if not suspects:
        return None
    step = step or (record.get("root_failure") or {}).get("step") or ""
    best = suspects[0]
    others = sorted({s.step for s in suspects[1:]} - {best.step})
    where = f" ({best.state} on edge {best.edge[0]} → {best.edge[1]})" if best.edge else ""
    text = (f"{best.finding()}{where}; "
            f"the failure in {step} is {describe_error((record.get('steps') or {}).get(step) or {})}")
    if others:
        text += f"; also suspect: {', '.join(others)}"
    return text


def describe_error(entry: dict[str, Any]) -> str:
    """``a KeyError on 'region'``, ``a ValueError: bad value``... from a step's record entry."""
    kind = entry.get("exception_type") or entry.get("error_type") or "error"
    message = str(entry.get("error_message") or "")
    message = re.sub(r" \([^()]*line \d+[^()]*\)$", "", message)  # "(script.py, line 19, in fit)"
    if message.startswith(f"{kind}: "):
        message = message[len(kind) + 2:]
    if kind == "KeyError" and message:
        return f"a KeyError on {message}"
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{article} {kind}" + (f": {message}" if message else "")


def _columns(names: list[str]) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"column {quoted}" if len(names) == 1 else f"columns {quoted}"


def _ancestors(record: dict[str, Any], step: str) -> dict[str, int]:
    """``step`` and every step upstream of it, with how many steps away each is."""
    deps = (record.get("plan") or {}).get("dependencies") or {}
    distance, frontier = {step: 0}, [step]
    while frontier:
        nxt = []
        for current in frontier:
            for up in deps.get(current) or []:
                if up not in distance:
                    distance[up] = distance[current] + 1
                    nxt.append(up)
        frontier = nxt
    return distance


def _ends(key: str, edge: dict[str, Any]) -> tuple[str, str]:
    source, _, target = key.partition("->")
    return str(edge.get("source") or source), str(edge.get("target") or target)


def _error_text(entry: dict[str, Any]) -> str:
    return f"{entry.get('error_message') or ''}\n{entry.get('traceback') or ''}"


def _names(text: str, column: str) -> bool:
    return f"'{column}'" in text or f'"{column}"' in text


def _failed_columns(edge: dict[str, Any]) -> list[str]:
    columns: list[str] = []
    for check in edge.get("expectations") or []:
        for failure in check.get("failures") or []:
            column = failure.get("column")
            if column and str(column) not in columns:
                columns.append(str(column))
    return columns[:MAX_COLUMNS]


def _lost_columns(record: dict[str, Any], source: str, edge: dict[str, Any]) -> list[str]:
    """Columns every input table of the producer had and none of this output's tables has."""
    producer = source.split(".", 1)[0]
    missing = {str(f["column"]) for c in edge.get("expectations") or [] for f in c.get("failures") or []
               if f.get("type") == "expect_column_to_exist" and f.get("column")}
    out_columns = _table_columns(edge)
    if out_columns is not None:
        ins = [_table_columns(e) for k, e in (record.get("edges") or {}).items()
               if isinstance(e, dict) and _ends(k, e)[1].split(".", 1)[0] == producer]
        had = [c for c in ins if c is not None]
        if had:
            common = set.intersection(*had)
            missing |= common - out_columns
    return sorted(missing)[:MAX_COLUMNS]


def _table_columns(edge: dict[str, Any]) -> set[str] | None:
    """The columns of every table the edge's data held (from its compatibility summary), or None."""
    tables = (((edge.get("compatibility") or {}).get("data_summary") or {}).get("tables")) or {}
    sets = [set(t.get("columns") or []) for t in tables.values() if isinstance(t, dict) and t.get("columns")]
    return set.union(*sets) if sets else None


def _issues(edge: dict[str, Any]) -> list[str]:
    compat = edge.get("compatibility") or {}
    return [str(m) for m in (compat.get("issues") or []) + (compat.get("warnings") or [])][:3]


def explain_failure(record: dict[str, Any], step: str, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the record's ``root_failure`` adds about ``step``: its suspects, the sentence naming the best,
    and the last green run (``baseline``) they were compared with."""
    suspects = find_suspects(record, step, baseline)
    return {"suspects": [s.to_dict() for s in suspects], "cause": cause_message(record, suspects, step),
            "last_green_run": (baseline or {}).get("run_id")}

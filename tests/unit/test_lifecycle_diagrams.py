"""The committed lifecycle documents match the tables, and a diagram can mark an object's current state."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from workflow.domain.diagrams import render_lifecycle_docs
from workflow.domain.lifecycle import LIFECYCLES, Lifecycle

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lifecycles"
REGENERATE = (
    "docs/lifecycles is out of date with workflow/domain/lifecycle.py; regenerate it from the repository root with\n"
    "  .venv/bin/python -c 'from pathlib import Path; from workflow.domain.diagrams import render_lifecycle_docs; "
    '[Path("docs/lifecycles", n).write_text(t, encoding="utf-8") for n, t in render_lifecycle_docs().items()]\'\n'
    "(or `specgoods diagrams` once that command exists) and commit the result."
)
RENDERED = render_lifecycle_docs()


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_the_committed_document_equals_the_rendered_one(name: str) -> None:
    committed = DOCS / name

    assert committed.is_file(), REGENERATE
    assert committed.read_text(encoding="utf-8") == RENDERED[name], REGENERATE


def test_no_generated_document_is_missing_or_stale() -> None:
    committed = {path.name for path in DOCS.glob("*.md")} - {"README.md"}

    assert committed == set(RENDERED), REGENERATE


@pytest.mark.parametrize(("name", "lifecycle"), LIFECYCLES.items(), ids=list(LIFECYCLES))
def test_each_document_has_a_diagram_and_a_row_per_transition(name: str, lifecycle: Lifecycle[Any]) -> None:
    document = RENDERED[f"{name}.md"]

    assert f"```mermaid\n{lifecycle.mermaid()}```" in document
    assert lifecycle.definition_hash() in document
    for spec in lifecycle.specs:
        assert f"| `{spec.trigger}` |" in document
        for source in spec.sources:
            assert f"    {source.value} --> {spec.dest.value}: {spec.trigger}\n" in lifecycle.mermaid()


@pytest.mark.parametrize(
    ("lifecycle", "state"),
    [
        pytest.param(lifecycle, state, id=f"{name}-{state.value}")
        for name, lifecycle in LIFECYCLES.items()
        for state in lifecycle.states
    ],
)
def test_mermaid_highlights_the_current_state(lifecycle: Lifecycle[Any], state: StrEnum) -> None:
    lines = lifecycle.mermaid(highlight=state).splitlines()

    assert "    classDef current fill:#fff3b0,stroke:#d97706,stroke-width:3px" in lines
    assert [line for line in lines if line.endswith(" current")] == [f"    class {state.value} current"]


@pytest.mark.parametrize("lifecycle", LIFECYCLES.values(), ids=list(LIFECYCLES))
def test_mermaid_without_highlight_marks_no_current_state(lifecycle: Lifecycle[Any]) -> None:
    diagram = lifecycle.mermaid()

    assert diagram.startswith("stateDiagram-v2\n")
    assert not any(line.endswith(" current") for line in diagram.splitlines())

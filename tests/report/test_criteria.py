"""The criteria file: every claim of the plan is there, each with a measurement or a reason."""

from __future__ import annotations

import re

import pytest

from harness.report import criteria as crit
from harness.report.criteria import CriteriaError, parse

PLAN = crit.ROOT.parent / "shared" / "plan" / "clock-optimization-plan.md"


@pytest.fixture(scope="module")
def criteria():
    return crit.load()


def test_every_criterion_has_a_measurement_or_a_reason(criteria):
    for c in criteria:
        if c.not_measurable:
            assert c.reason.strip(), c.id
        else:
            assert c.metrics and crit.valid_statistic(c.statistic), c.id
            assert c.compare in crit.COMPARES and c.direction in crit.DIRECTIONS, c.id
            assert c.definition.strip(), f"{c.id}: say how the claim is measured"


def test_ids_unique_and_every_phase_present(criteria):
    assert len({c.id for c in criteria}) == len(criteria)
    assert {c.phase for c in criteria} == {0, 1, 2, 3}


CLAIMS = crit.ROOT / "reports" / "plan_claims.toml"


def _claims() -> dict[str, list[str]]:
    import tomllib

    return tomllib.loads(CLAIMS.read_text())


def test_every_expected_impact_and_success_criterion_of_the_plan_is_a_criterion(criteria):
    """Runs from the repository alone: the plan's claims are quoted in reports/plan_claims.toml."""
    claims = _claims()
    statements = " ".join(c.statement for c in criteria)
    assert len(claims["expected_impacts"]) >= 13 and len(claims["success_criteria"]) == 12 and claims["matrix_rows"]
    for kind, lines in claims.items():
        for line in lines:
            assert line in statements, f"{kind}: not covered by any criterion: {line}"


def test_the_quoted_claims_are_the_plans(criteria):
    """Where the plan is beside the checkout, reports/plan_claims.toml quotes it exactly (nothing added or lost)."""
    if not PLAN.exists():
        pytest.skip(f"the plan is not at {PLAN}; reports/plan_claims.toml stands in for it")
    text = PLAN.read_text()
    impacts = [line.strip() for line in re.findall(r"\*\*Expected Impact\*\*: (.+)", text)]
    success = re.findall(r"### \*\*Phase \d Success Criteria:\*\*\n((?:- .+\n)+)", text)
    lines = [ln[2:].strip() for block in success for ln in block.splitlines()]
    matrix = re.findall(r"^(\w[\w ]+?)\s*\|", text.split("System-Wide Performance Matrix")[1].split("```")[1], re.M)
    assert _claims() == {"expected_impacts": impacts, "success_criteria": lines,
                         "matrix_rows": [row.strip() for row in matrix[1:]]}


def test_phase_selection(criteria):
    assert all(c.phase == 1 for c in crit.select(criteria, "1"))
    assert len(crit.select(criteria, "all")) == len(criteria)
    with pytest.raises(CriteriaError):
        crit.select(criteria, "4")


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"id": "X", "phase": 1, "component": "c", "section": "s", "statement": "t"}, "needs metrics"),
        ({"id": "X", "phase": 1, "component": "c", "section": "s", "statement": "t", "not_measurable": True}, "needs a reason"),
        ({"id": "X", "phase": 5, "component": "c", "section": "s", "statement": "t"}, "phase"),
        ({"id": "X", "phase": 1, "component": "c", "section": "s", "statement": "t", "metrics": ["m"],
          "threshold": 1, "statistic": "p42"}, "unknown statistic"),
        ({"id": "X", "phase": 1, "component": "c", "section": "s", "statement": "t", "colour": "red"}, "unknown field"),
    ],
)
def test_malformed_criteria_are_named(entry, message):
    with pytest.raises(CriteriaError, match=message):
        parse({"criterion": [entry]})

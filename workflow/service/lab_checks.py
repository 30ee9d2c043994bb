"""R9(b), R14, R62 as one answer: does the applicant's biosafety capability match the goods, and why not.

The pre-check, the screening and the grant all ask it, each with the labs it knows and its own decision's date;
the comparisons themselves are the domain's (workflow/domain/biosafety.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workflow.domain.biosafety import RULE_IDS, BiosafetyRule, LabFinding, Laboratory, check_lines
from workflow.domain.goods import GoodsLine
from workflow.domain.rules import Decision


@dataclass(frozen=True)
class LabsKnown:
    """The applicant's registered labs and the date they are judged on; none for a pre-check by a stranger."""

    labs: Mapping[int, Laboratory]
    enterprise_id: int
    on: dt.date

    def findings(self, lines: Sequence[GoodsLine], rule: BiosafetyRule) -> tuple[LabFinding, ...]:
        return check_lines(lines, self.labs, self.enterprise_id, rule, self.on)


NO_LABS = LabsKnown({}, 0, dt.date.min)  # a pre-check by file or by an officer: every pathogen line must name a lab


def capability(lines: Sequence[GoodsLine], known: LabsKnown, rule: BiosafetyRule) -> Decision[bool | None]:
    """True when every pathogen line's lab matches; None when no line contains a pathogen (R14 asks for no lab)."""
    if all(rule.minimum_level(line) is None for line in lines):
        return Decision(None, ("R14",), "no line contains a pathogen: no user lab is required (R14)")
    findings = known.findings(lines, rule)
    if findings:
        return Decision(False, RULE_IDS, "; ".join(finding.sentence for finding in findings))
    return Decision(True, RULE_IDS, "every user lab is verified, valid and of the level the goods need (R9, R14, R62)")

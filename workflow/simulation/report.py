"""What one simulated profile produced, counted from its scratch database: the figures the report sets side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[int], share: float) -> int | None:
    """Nearest-rank percentile of whole working days; None when nothing was measured."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True)
class AssessmentFigures:
    """Risk assessments (R61, R63) of one assessor level: how many, how many reused, working days to conclude."""

    level: str
    started: int
    reused: int
    lead_days_p50: int | None
    lead_days_p95: int | None


@dataclass(frozen=True)
class InspectionFigures:
    """Declarations and port inspections (E1) of one grade and credit tier."""

    grade: str
    tier: str
    declarations: int
    inspected: int


@dataclass(frozen=True)
class CreditChangeFigures:
    """The changes of one kind between two tiers taking effect in the year (R72, R73), with what they changed.

    The changed enterprises' declarations and port inspections dated before and from the change: E1 reads the tier in
    force on each declaration's date (R73, E3).
    """

    kind: str
    from_tier: str
    to_tier: str
    changes: int
    declarations_before: int
    inspected_before: int
    declarations_after: int
    inspected_after: int


@dataclass(frozen=True)
class ProfileReport:
    """One policy profile's year of the workload."""

    profile: str
    shipments: int
    applications: int
    paperless: int
    first_time: int
    certificates: int
    write_offs: int
    clearance_days: tuple[int, ...]  # per application: working days from receipt to its first release
    release_days: tuple[int, ...]  # per shipment released: working days from its arrival to its release
    assessments: tuple[AssessmentFigures, ...]
    inspections: tuple[InspectionFigures, ...]
    actions_by_role: dict[str, int]
    failures: tuple[str, ...] = ()
    seconds: float = 0.0
    lab_corrections: int = 0  # correction notices naming a lab below the goods' level (R62, R17)
    pathogen_applications: int = 0  # applications of the year whose goods name a user lab (R14)
    credit_changes: tuple[CreditChangeFigures, ...] = ()

    @property
    def paper(self) -> int:
        return self.applications - self.paperless

    @property
    def write_offs_per_certificate(self) -> float:
        return self.write_offs / self.certificates if self.certificates else 0.0

    @property
    def clearance_p50(self) -> int | None:
        return percentile(self.clearance_days, 0.5)

    @property
    def clearance_p95(self) -> int | None:
        return percentile(self.clearance_days, 0.95)

    @property
    def release_p50(self) -> int | None:
        return percentile(self.release_days, 0.5)

    @property
    def release_p95(self) -> int | None:
        return percentile(self.release_days, 0.95)

    @property
    def inspected(self) -> int:
        return sum(figures.inspected for figures in self.inspections)

    def summary(self) -> dict[str, object]:
        """The headline figures, one value each: the table's rows and the CSV's columns."""
        return {
            "shipments": self.shipments,
            "applications": self.applications,
            "paper": self.paper,
            "paperless": self.paperless,
            "first_time": self.first_time,
            "assessments_local": self._started("direct_customs"),
            "assessments_hq": self._started("gacc_hq"),
            "assessments_reused": sum(figures.reused for figures in self.assessments),
            "assessment_days_p50": max((f.lead_days_p50 or 0 for f in self.assessments), default=0),
            "port_inspections": self.inspected,
            "clearance_days_p50": self.clearance_p50,
            "clearance_days_p95": self.clearance_p95,
            "release_days_p50": self.release_p50,
            "release_days_p95": self.release_p95,
            "certificates": self.certificates,
            "write_offs": self.write_offs,
            "write_offs_per_certificate": round(self.write_offs_per_certificate, 2),
            "pathogen_applications": self.pathogen_applications,
            "lab_corrections": self.lab_corrections,
            "credit_downgrades": self._changes("downgrade", "discredit"),
            "credit_restorations": self._changes("restoration"),
            "officer_actions": sum(
                n for role, n in self.actions_by_role.items() if role not in ("applicant", "system")
            ),
            "failures": len(self.failures),
            "seconds": round(self.seconds, 1),
        }

    def _changes(self, *kinds: str) -> int:
        return sum(figures.changes for figures in self.credit_changes if figures.kind in kinds)

    def _started(self, level: str) -> int:
        return sum(figures.started - figures.reused for figures in self.assessments if figures.level == level)

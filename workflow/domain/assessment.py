"""The district's own risk assessment (自主风险评估, R61–R63): drawing a panel and concluding from its opinions."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum

from workflow.domain.goods import ProductIdentity
from workflow.domain.policy import PanelConclusion


class Opinion(StrEnum):
    """An expert's opinion, as on the Zhejiang platform: 通过 / 补正材料 / 驳回 (A8)."""

    PASS = "pass"
    CORRECT = "correct"
    REJECT = "reject"

    @property
    def strictness(self) -> int:
        return {"pass": 0, "correct": 1, "reject": 2}[self.value]


@dataclass(frozen=True)
class Seat:
    """One expert on a panel, with the opinion given (None while awaited)."""

    id: int
    expert_id: int
    opinion: Opinion | None
    due_on: date


@dataclass(frozen=True)
class Assessment:
    """A risk assessment of one application, local (DIRECT_CUSTOMS) or referred to headquarters (GACC_HQ)."""

    id: int
    application_id: int
    assessor_level: str
    state: str
    quorum: int
    conclusion_rule: PanelConclusion
    due_on: date
    seats: tuple[Seat, ...] = ()


def product_key(identity: ProductIdentity) -> str:
    """R63: one stable key per enterprise's product identity, so an entity-level assessment can be found again."""
    fields = {name: str(value) if value is not None else "" for name, value in asdict(identity).items()}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def draw_panel(eligible: Sequence[int], size: int, seed: str) -> list[int]:
    """R61: a panel drawn from the district's pool, reproducible from the seed an auditor sees in the trail."""
    ranked = sorted(eligible, key=lambda expert: hashlib.sha256(f"{seed}:{expert}".encode()).hexdigest())
    return ranked[:size]


def conclude(opinions: Sequence[Opinion | None], quorum: int, rule: PanelConclusion) -> Opinion | None:
    """The panel's conclusion once it can be drawn, else None.

    MAJORITY: with at least `quorum` opinions in, the most frequent opinion wins, ties going to the stricter one.
    UNANIMOUS: once every seat has answered, PASS only if all passed, otherwise the strictest opinion given.
    """
    given = [opinion for opinion in opinions if opinion is not None]
    if len(given) < quorum:
        return None
    if rule is PanelConclusion.UNANIMOUS:
        if len(given) < len(opinions):
            return None
        return max(given, key=lambda opinion: opinion.strictness)
    counts = Counter(given)
    top = max(counts.values())
    return max((opinion for opinion, count in counts.items() if count == top), key=lambda o: o.strictness)

"""The reviewer's opinion for the decider (A6): a recommendation and its written reasons, audited, kept in the trail."""

from __future__ import annotations

from enum import StrEnum

# Customs' working papers: audited like every step and read by customs, left out of what the applicant is shown.
WORKING_PAPERS = frozenset({"review_opinion"})


class Recommendation(StrEnum):
    """What the reviewer recommends the decider do with the file."""

    GRANT = "grant"
    DENY = "deny"

"""Plans: what an installation may use (limits) and switch on (features). Pure data.

A license names a plan and may override its limits and features; without a valid license the
installation runs on ``FREE`` — the documented free tier (README "Plans and licenses").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

UNLIMITED = 0  # a limit of 0 means "no limit"

FEATURES = ("sso", "tenant_encryption", "cold_storage", "audit_log", "priority_support")


@dataclass(frozen=True)
class Limits:
    """Quotas of one installation; 0 = unlimited."""

    spans_per_month: int = 10_000_000
    projects: int = 3
    seats: int = 3
    retention_days: int = 30  # ceiling for keep_days; a lapsed license never deletes stored data

    def as_dict(self) -> dict[str, int]:
        return {"spans_per_month": self.spans_per_month, "projects": self.projects, "seats": self.seats,
                "retention_days": self.retention_days}


@dataclass(frozen=True)
class Plan:
    name: str
    limits: Limits
    features: frozenset[str] = field(default_factory=frozenset)

    def with_overrides(self, limits: dict | None, features: list[str] | None) -> "Plan":
        """This plan with a license's own limits/features applied over it."""
        merged = replace(self.limits, **{k: int(v) for k, v in (limits or {}).items()})
        return Plan(self.name, merged, frozenset(features) if features is not None else self.features)


FREE = Plan("free", Limits())
PLANS: dict[str, Plan] = {
    "free": FREE,
    "team": Plan("team", Limits(spans_per_month=100_000_000, projects=20, seats=25, retention_days=90),
                 frozenset({"cold_storage"})),
    "enterprise": Plan("enterprise", Limits(spans_per_month=UNLIMITED, projects=UNLIMITED, seats=UNLIMITED,
                                            retention_days=UNLIMITED), frozenset(FEATURES)),
}
LIMIT_NAMES = tuple(Limits().as_dict())

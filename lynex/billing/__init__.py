"""Billing: usage metering, plans and quotas, offline licenses (see service.py for the flow)."""

from lynex.billing.service import Billing

__all__ = ["Billing"]

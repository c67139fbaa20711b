"""Alerts: rules over span measures, realtime error detection, channels, incident lifecycle."""

from lynex.alerts.service import AlertService

__all__ = ["AlertService"]

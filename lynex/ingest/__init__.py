"""Ingest path: decode, log, buffer, processor."""

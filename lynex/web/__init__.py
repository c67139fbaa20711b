"""HTTP layer: Litestar routes for the ingest API, read API, ops endpoints and (later) the UI."""

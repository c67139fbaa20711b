"""Operational endpoints: liveness, readiness and Prometheus self-metrics."""

from __future__ import annotations

from litestar import Request, Response, get

from lynex.web.responses import json_response


@get("/healthz", sync_to_thread=False)
def healthz() -> Response:
    """The process answers."""
    return json_response({"status": "ok"})


@get("/readyz", sync_to_thread=False)
def readyz(request: Request) -> Response:
    """Ready to accept and store spans: lifespan done and the store writer healthy."""
    services = request.app.state.services
    problems = []
    if not services.ready:
        problems.append("starting or stopping")
    if services.pipeline is not None and services.pipeline.last_error:
        problems.append(services.pipeline.last_error)
    if problems:
        return json_response({"status": "unavailable", "problems": problems}, 503)
    cold = services.cold
    if cold is not None and cold.last_error:
        # Ingest and reads of local data still work: ready, but say what is wrong.
        return json_response({"status": "degraded", "warnings": [cold.last_error]})
    return json_response({"status": "ready"})


@get("/metrics", sync_to_thread=True)  # gauges query DuckDB and the index: off the event loop
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the server's own figures."""
    text = request.app.state.services.metrics.render()
    return Response(content=text, media_type="text/plain; version=0.0.4")


ROUTES = [healthz, readyz, metrics]

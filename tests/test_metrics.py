"""Self-metrics: counters, gauges and duration histograms in Prometheus text format."""

from __future__ import annotations

from lynex.metrics import BUCKETS, Metrics


def test_durations_render_as_cumulative_histograms_with_their_max():
    m = Metrics()
    m.describe("lynex_x_seconds", "summary", "Time of x.")
    for seconds in (0.0004, 0.003, 0.003, 0.2, 30.0):
        m.observe("lynex_x_seconds", seconds)
    text = m.render()
    assert "# TYPE lynex_x_seconds histogram" in text and "# HELP lynex_x_seconds Time of x." in text
    assert 'lynex_x_seconds_bucket{le="0.0005"} 1' in text
    assert 'lynex_x_seconds_bucket{le="0.005"} 3' in text
    assert 'lynex_x_seconds_bucket{le="0.25"} 4' in text
    assert 'lynex_x_seconds_bucket{le="10.0"} 4' in text and 'lynex_x_seconds_bucket{le="+Inf"} 5' in text
    assert "lynex_x_seconds_count 5" in text and "lynex_x_seconds_max 30" in text
    # one family's lines stay together (the text format requires it)
    lines = [line for line in text.splitlines() if line.startswith("lynex_x_seconds_") and "_max" not in line]
    assert len(lines) == len(BUCKETS) + 3
    assert m.value("lynex_x_seconds_count") == 5 and m.value("lynex_x_seconds_max") == 30.0


def test_quantiles_read_off_the_buckets():
    m = Metrics()
    assert m.quantile("lynex_y_seconds", 0.99) is None
    for _ in range(98):
        m.observe("lynex_y_seconds", 0.002)
    m.observe("lynex_y_seconds", 0.04)
    m.observe("lynex_y_seconds", 0.3)
    assert m.quantile("lynex_y_seconds", 0.5) == 0.0025
    assert m.quantile("lynex_y_seconds", 0.99) == 0.05
    assert m.quantile("lynex_y_seconds", 1.0) == 0.5


def test_counters_with_labels_and_gauges():
    m = Metrics()
    m.describe("lynex_z_total", "counter", "Zs.")
    m.inc("lynex_z_total", 2, reason="a")
    m.inc("lynex_z_total", reason="b")
    m.gauge("lynex_g", lambda: 7, "A gauge.")
    m.gauge("lynex_broken", lambda: 1 / 0, "Never breaks the scrape.")
    text = m.render()
    assert 'lynex_z_total{reason="a"} 2' in text and 'lynex_z_total{reason="b"} 1' in text
    assert "# TYPE lynex_g gauge\nlynex_g 7" in text and "lynex_broken " not in text

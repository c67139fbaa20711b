"""Alert pages in the dashboard: rules and channels forms, CSRF, escaping, send test, mute, history."""

from __future__ import annotations

import html
import json
import re

import pytest

from lynex.accounts import Accounts
from lynex.storage.meta import MetaStore
from tests.alerts.conftest import spans
from tests.helpers import wait_for


@pytest.fixture
def signed_in(alert_client, admin):
    accounts = Accounts(MetaStore(alert_client.config.meta_path))
    user = accounts.create_user("ops@example.com", "correct horse battery", "admin")
    token, session = accounts.create_session(user)
    alert_client.cookies.set("lynex_session", token)
    return alert_client, admin[0], session.csrf, admin[1]


def test_channel_and_rule_forms(signed_in, http_receiver):
    c, project_id, csrf, headers = signed_in
    page = c.get(f"/p/{project_id}/alerts")
    assert page.status_code == 200 and 'aria-current="page">Alerts' in page.text
    assert "Content-Security-Policy" in page.headers

    # Without the CSRF token nothing changes.
    r = c.post(f"/p/{project_id}/alerts/channels", data={"type": "webhook", "name": "x", "url": "http://a.b/"})
    assert r.status_code == 403
    bad = c.post(f"/p/{project_id}/alerts/channels",
                 data={"_csrf": csrf, "type": "webhook", "name": "x", "url": "htp:/nope", "secret": "s" * 20})
    assert bad.status_code == 400 and "url: &#39;htp:/nope&#39; is not a valid" in bad.text
    assert "s" * 20 not in bad.text  # credentials never echoed back
    made = c.post(f"/p/{project_id}/alerts/channels",
                  data={"_csrf": csrf, "type": "webhook", "name": "<b>hook</b>", "url": http_receiver.url("/ui")})
    assert made.status_code == 201
    secret = re.search(r'id="secret-value" class="secret">([^<]+)<', made.text).group(1)
    assert "<b>hook</b>" not in made.text and "&lt;b&gt;hook&lt;/b&gt;" in made.text
    channel_id = c.get("/v1/alerts/channels", headers=headers).json()["data"][0]["id"]
    assert secret not in c.get(f"/p/{project_id}/alerts/channels").text

    # Send test from the page: delivered, signed, shown under recent deliveries.
    http_receiver.secrets["/ui"] = secret
    r = c.post(f"/p/{project_id}/alerts/channels/{channel_id}/test", data={"_csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert wait_for(lambda: http_receiver.at("/ui"))[0].signature_ok
    wait_for(lambda: ">sent<" in c.get(f"/p/{project_id}/alerts/channels").text)

    # A bad rule shows the field; a good one appears in the list.
    bad = c.post(f"/p/{project_id}/alerts/rules", data={"_csrf": csrf, "name": "r", "metric": "error_rate",
                                                         "threshold": "5", "window": "-5m"})
    assert bad.status_code == 400 and "window: must be positive" in bad.text
    ok = c.post(f"/p/{project_id}/alerts/rules", follow_redirects=False, data={
        "_csrf": csrf, "name": "errors on prod", "metric": "error_count", "threshold": "0", "window": "1h",
        "filter_environment": "prod", "filter_error_class": "", "channel": channel_id})
    assert ok.status_code == 303, ok.text
    rule = c.get("/v1/alerts/rules", headers=headers).json()["data"][0]
    assert rule["filters"] == {"environment": "prod"} and rule["channels"] == [channel_id]
    assert rule["realtime"] is False  # the checkbox was not sent

    # Fire it, and the history shows what fired and where it went.
    c.post("/v1/ingest", headers=headers, json={"spans": spans("p", 2, "error", environment="prod")})
    wait_for(c.services.pipeline.caught_up)
    c.services.alerts.evaluate_all()
    wait_for(lambda: len(http_receiver.at("/ui")) == 2)
    page = wait_for(lambda: (lambda t: t if "firing → &lt;b&gt;hook&lt;/b&gt;: <span class=\"ok\">sent" in t else None)(
        c.get(f"/p/{project_id}/alerts").text))
    assert "2 errors in 1h" in page and '<strong class="error">firing</strong>' in page
    # The overview charts get the firing as an annotation.
    overview = c.get(f"/p/{project_id}/overview").text
    chart = json.loads(html.unescape(re.search(r'id="chart-data" hidden data-json="([^"]+)"', overview).group(1)))
    assert [m["kind"] for m in chart["alerts"]] == ["firing"]

    # Mute, then unmute, then delete.
    c.post(f"/p/{project_id}/alerts/rules/{rule['id']}/mute", data={"_csrf": csrf, "for": "1d"})
    assert "muted until" in c.get(f"/p/{project_id}/alerts").text
    c.post(f"/p/{project_id}/alerts/rules/{rule['id']}/mute", data={"_csrf": csrf, "for": ""})
    assert c.get("/v1/alerts/rules", headers=headers).json()["data"][0]["muted_until"] is None
    c.post(f"/p/{project_id}/alerts/rules/{rule['id']}/delete", data={"_csrf": csrf})
    assert c.get("/v1/alerts/rules", headers=headers).json()["data"] == []
    assert "errors on prod" in c.get(f"/p/{project_id}/alerts").text  # history survives the rule


def test_members_cannot_change_alerts(alert_client, admin):
    accounts = Accounts(MetaStore(alert_client.config.meta_path))
    user = accounts.create_user("viewer@example.com", "correct horse battery", "member")
    token, session = accounts.create_session(user)
    alert_client.cookies.set("lynex_session", token)
    project_id = admin[0]
    page = alert_client.get(f"/p/{project_id}/alerts")
    assert page.status_code == 200 and 'id="new-rule"' not in page.text
    r = alert_client.post(f"/p/{project_id}/alerts/rules", data={"_csrf": session.csrf, "name": "x",
                                                                 "metric": "volume"})
    assert r.status_code == 403

"""Licenses: valid, expired (grace, then the free tier), tampered, wrong key, malformed; the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from lynex.billing.license import GRACE_DAYS, LicenseError, entitlement, load_public_key, verify
from lynex.billing.plans import FREE, PLANS
from lynex.cli import app
from tests.billing.conftest import public_b64

UTC = dt.timezone.utc


def _at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_valid_license_gives_its_plan_with_overrides(vendor_key, issue):
    lic = verify(issue(limits={"spans_per_month": 5_000, "seats": 7}, features=["sso"]),
                 load_public_key(public_b64(vendor_key)))
    assert lic.customer == "Acme Corp" and lic.plan.name == "team"
    assert lic.plan.limits.spans_per_month == 5_000 and lic.plan.limits.seats == 7
    assert lic.plan.limits.projects == PLANS["team"].limits.projects  # not overridden: the plan's
    assert lic.plan.features == frozenset({"sso"})
    ent = entitlement(lic, _at(2030, 6, 1))
    assert ent.state == "active" and ent.message == "" and ent.has_feature("sso")


def test_expired_license_has_a_grace_period_then_the_free_tier(vendor_key, issue):
    lic = verify(issue(expires_at="2031-01-01T00:00:00Z"), load_public_key(public_b64(vendor_key)))
    grace = entitlement(lic, _at(2031, 1, 5))
    assert grace.state == "grace" and grace.plan == lic.plan  # still the bought limits
    assert "expired on 2031-01-01" in grace.message and "10 day(s) of grace left" in grace.message
    last = entitlement(lic, _at(2031, 1, 1) + dt.timedelta(days=GRACE_DAYS) - dt.timedelta(seconds=1))
    assert last.state == "grace"
    after = entitlement(lic, _at(2031, 1, 1) + dt.timedelta(days=GRACE_DAYS))
    assert after.state == "expired" and after.plan == FREE
    assert "free tier" in after.message and "no data is deleted" in after.message


def test_no_license_is_the_free_tier_without_a_banner():
    ent = entitlement(None, _at(2030, 1, 1))
    assert ent.state == "none" and ent.plan == FREE and ent.message == ""
    assert FREE.limits.spans_per_month == 10_000_000


def test_tampered_payload_is_refused(vendor_key, issue):
    envelope = json.loads(issue())
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["limits"] = {"spans_per_month": 0}  # "unlimited, please"
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(LicenseError, match="signature is not valid"):
        verify(json.dumps(envelope).encode(), load_public_key(public_b64(vendor_key)))


def test_license_signed_by_another_key_is_refused(vendor_key, issue):
    forged = issue(key=Ed25519PrivateKey.generate())
    with pytest.raises(LicenseError, match="signature is not valid"):
        verify(forged, load_public_key(public_b64(vendor_key)))
    with pytest.raises(LicenseError, match="signature is not valid"):  # and the built-in vendor key refuses ours
        verify(issue(), load_public_key(""))


@pytest.mark.parametrize("data, reason", [
    (b"", "not JSON"),
    (b"\xff\xfe garbage", "not JSON"),
    (b"[1, 2]", "not a 'lynex-license-1' license"),
    (b'{"format": "lynex-license-1"}', "'payload' is missing"),
    (b'{"format": "lynex-license-1", "payload": "!!", "signature": "AA=="}', "'payload' is not base64"),
])
def test_malformed_files_say_what_is_wrong(vendor_key, data, reason):
    with pytest.raises(LicenseError, match=reason):
        verify(data, load_public_key(public_b64(vendor_key)))


def test_bad_public_key_setting_says_how_to_fix():
    with pytest.raises(LicenseError, match="license_public_key is not an Ed25519 public key"):
        load_public_key("not-a-key")


def test_cli_install_and_show(tmp_path, vendor_key, issue, monkeypatch):
    monkeypatch.setenv("LYNEX_LICENSE_PUBLIC_KEY", public_b64(vendor_key))
    data_dir = str(tmp_path / "data")
    runner = CliRunner()
    shown = runner.invoke(app, ["license", "show", "--data-dir", data_dir, "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["state"] == "none"

    good = tmp_path / "acme.license.json"
    good.write_bytes(issue(expires_at="2999-01-01T00:00:00Z", limits={"seats": 40}))
    installed = runner.invoke(app, ["license", "install", str(good), "--data-dir", data_dir])
    assert installed.exit_code == 0, installed.output
    assert "customer: Acme Corp" in installed.output and "seats=40" in installed.output

    forged = tmp_path / "forged.license.json"
    forged.write_bytes(issue(key=Ed25519PrivateKey.generate(), expires_at="2999-01-01T00:00:00Z"))
    refused = runner.invoke(app, ["license", "install", str(forged), "--data-dir", data_dir])
    assert refused.exit_code == 2 and "signature is not valid" in refused.output
    assert "installed license (if any) is unchanged" in refused.output

    shown = json.loads(runner.invoke(app, ["license", "show", "--data-dir", data_dir, "--json"]).output)
    assert shown["state"] == "active" and shown["plan"] == "team" and shown["limits"]["seats"] == 40
    assert shown["license"]["customer"] == "Acme Corp"

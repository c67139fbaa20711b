"""The release as a customer gets it: signed artifacts, an installer that refuses tampering, the built
binary serving with no network (inside `unshare -n`), upgrade from the previous build keeping data,
rollback, uninstall."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.packaging.conftest import REPO, Release, sign_py

pytestmark = [pytest.mark.packaging, pytest.mark.slow]
SCENARIO = Path(__file__).with_name("offline_scenario.py")


def sh(*args, check: bool = True, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)
    if check:
        assert done.returncode == 0, f"{args} → {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def offline(mode: str, binary: Path, data_dir: Path, state: Path) -> dict:
    """Run the customer scenario in a new network namespace that has only loopback (up)."""
    done = sh("unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
              sys.executable, SCENARIO, mode, binary, data_dir, state, check=False)
    assert done.returncode == 0, f"offline {mode} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def install(release_dist: Path, tarball: Path, root: Path, *extra) -> subprocess.CompletedProcess:
    return sh("bash", release_dist / "install.sh", "--prefix", root / "opt", "--data-dir", root / "data",
              "--backup-dir", root / "backups", "--bin-dir", root / "bin", "--no-systemd", *extra, tarball,
              check=False)


def test_release_artifacts_are_signed_and_complete(release: Release):
    sums = dict(reversed(line.split()) for line in (release.dist / "SHA256SUMS").read_text().splitlines())
    for name in (release.tarball.name, release.onefile.name):
        assert sums[name] == hashlib.sha256((release.dist / name).read_bytes()).hexdigest()
    for signed in (release.tarball, release.dist / "SHA256SUMS"):
        assert sign_py("verify", str(release.public_key), str(signed)).returncode == 0
    assert (release.dist / "lynex-release.pub").read_text() == release.public_key.read_text()
    assert "BEGIN PUBLIC KEY" in release.install_sh.read_text()  # the key install.sh verifies with
    with tarfile.open(release.tarball) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        info = json.load(tar.extractfile(f"{top}/BUILDINFO.json"))
    assert top == f"lynex-{release.version}-linux-x86_64"
    for needed in ("lynex/lynex", "packaging/install.sh", "packaging/lynex.service", "packaging/rollback.sh",
                   "packaging/uninstall.sh", "packaging/README.md"):
        assert f"{top}/{needed}" in names, needed
    assert any(re.fullmatch(rf"{top}/sdk/lynex_sdk-[^/]+\.whl", n) for n in names), "python SDK wheel"
    assert any(re.fullmatch(rf"{top}/sdk/lynex-sdk-[^/]+\.tgz", n) for n in names), "JS SDK npm tarball"
    assert any(n.startswith(f"{top}/lynex/_internal/lynex/web/static/vendor/htmx") for n in names)
    assert any(n.endswith("lynex/data/prices.json") for n in names)
    assert re.fullmatch(r"2\.\d+", info["glibc_floor"]) and info["commit"] and info["build_date"]
    assert not (REPO / "lynex" / "_build.py").exists()  # build.sh cleans its generated file up


def test_every_lynex_module_is_in_the_binary(release: Release):
    """New subpackages need no spec edit: the frozen archive holds every module of the source tree."""
    from PyInstaller.archive.readers import CArchiveReader
    frozen = set(CArchiveReader(str(release.onefile)).open_embedded_archive("PYZ.pyz").toc)
    missing = sorted(m for m in release.source_modules if m not in frozen and m != "lynex._build")
    assert not missing, f"modules missing from the binary: {missing}"
    assert "lynex._build" in frozen  # the build info build.sh generated


def test_tampered_tarball_is_refused(release: Release, tmp_path):
    copy = tmp_path / "dl"
    shutil.copytree(release.dist, copy)
    tarball = copy / release.tarball.name
    with open(tarball, "r+b") as fh:  # one byte flipped in the middle of the download
        fh.seek(tarball.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    refused = install(copy, tarball, tmp_path / "a")
    assert refused.returncode != 0 and "REFUSED: SHA-256" in refused.stderr
    # An attacker who also rewrites SHA256SUMS is stopped by the signature.
    (copy / "SHA256SUMS").write_text(f"{hashlib.sha256(tarball.read_bytes()).hexdigest()}  {tarball.name}\n")
    refused = install(copy, tarball, tmp_path / "b")
    assert refused.returncode != 0 and "REFUSED: the Ed25519 signature" in refused.stderr
    # The genuine tarball verified against someone else's key is refused too.
    other = tmp_path / "other"
    other.mkdir()
    assert sign_py("keygen", str(other / "k.pem"), str(other / "k.pub")).returncode == 0
    refused = install(release.dist, release.tarball, tmp_path / "c", "--pubkey", other / "k.pub")
    assert refused.returncode != 0 and "REFUSED: the Ed25519 signature" in refused.stderr
    for attempt in "abc":
        assert not (tmp_path / attempt / "opt").exists()  # nothing was installed


def _bumped(release: Release, tmp_path: Path) -> Path:
    """The same build repacked as version <v>+upgrade-test and signed with the release key: a stand-in for
    "the next release" that exercises every step of an upgrade except a schema change."""
    work = tmp_path / "bump"
    work.mkdir()
    with tarfile.open(release.tarball) as tar:
        tar.extractall(work, filter="tar")
    old = work / f"lynex-{release.version}-linux-x86_64"
    version = f"{release.version}+upgrade-test"
    info = json.loads((old / "BUILDINFO.json").read_text())
    (old / "BUILDINFO.json").write_text(json.dumps({**info, "version": version}, indent=2))
    new = old.rename(work / f"lynex-{version}-linux-x86_64")
    dist = tmp_path / "dist2"
    dist.mkdir()
    tarball = dist / f"{new.name}.tar.gz"
    with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:
        tar.add(new, arcname=new.name)
    shutil.rmtree(work)
    assert sign_py("sign", str(release.private_key), str(tarball)).returncode == 0
    (dist / "SHA256SUMS").write_text(f"{hashlib.sha256(tarball.read_bytes()).hexdigest()}  {tarball.name}\n")
    shutil.copy(release.install_sh, dist / "install.sh")
    return tarball


def test_offline_customer_scenario(release: Release, tmp_path):
    """Install, then serve, set up, ingest, browse and compact with no network."""
    root = tmp_path / "box"
    done = install(release.dist, release.tarball, root)
    assert done.returncode == 0, done.stderr
    assert "checksum OK" in done.stdout and "signature OK" in done.stdout
    wrote = offline("write", root / "bin" / "lynex", root / "data", root / "state.json")
    assert wrote["interfaces"] == ["lo"]
    assert re.fullmatch(rf"lynex {re.escape(release.version)} \(built \S+, commit \S+\)", wrote["version"])
    assert all(status == 200 for status in wrote["pages"].values()) and len(wrote["compacted"]) >= 2
    assert any("htmx" in asset for asset in wrote["assets"])


def test_upgrade_keeps_data_and_rollback_restores(release: Release, previous_release, tmp_path):
    """Data written by the previous build is readable after installing this one; rollback goes back."""
    if previous_release is not None:
        old, new = previous_release, (release.dist, release.tarball)
        print(f"upgrading from a build of {previous_release.version}")
    else:  # no git history here: the same build, repacked as a newer version
        old, new = release, None
        print("no previous source in git: upgrading to this build repacked as <version>+upgrade-test")
    root = tmp_path / "box"
    binary = root / "bin" / "lynex"
    state = root / "state.json"
    first = install(old.dist, old.tarball, root)
    assert first.returncode == 0, first.stderr
    offline("write", binary, root / "data", state)
    old_release = (root / "opt" / "current").resolve()
    secrets = {name: (root / "data" / name).read_bytes() for name in ("master.key", "license.json")
               if (root / "data" / name).exists()}
    (root / "data" / "license.json").write_text('{"stand-in": "an installed license file"}')
    secrets["license.json"] = (root / "data" / "license.json").read_bytes()

    # Upgrade: backup first (with the old binary), switch; the new binary migrates and reads everything.
    if new is None:
        bumped = _bumped(release, tmp_path)
        new = (bumped.parent, bumped)
    second = install(*new, root)
    assert second.returncode == 0, second.stderr
    backups = list((root / "backups").iterdir())
    assert len(backups) == 1 and (backups[0] / "meta.sqlite").exists(), backups
    assert all((backups[0] / name).read_bytes() == content for name, content in secrets.items())
    assert (root / "opt" / "previous").resolve() == old_release
    new_release = (root / "opt" / "current").resolve()
    assert new_release != old_release and binary.resolve().is_relative_to(new_release)
    read = offline("verify", binary, root / "data", state)
    assert read["spans_read"] == 60 and "(built" in read["version"]

    # Rollback: the previous release, the data as it was before the upgrade; nothing deleted.
    back = sh("bash", root / "opt" / "current" / "packaging" / "rollback.sh", "--prefix", root / "opt",
              "--data-dir", root / "data", "--bin-dir", root / "bin", "--no-systemd")
    assert (root / "opt" / "current").resolve() == old_release
    assert binary.resolve().is_relative_to(old_release)
    assert len(list(root.glob("data.rolled-back-*"))) == 1, back.stdout
    assert all((root / "data" / name).read_bytes() == content for name, content in secrets.items())
    again = offline("verify", binary, root / "data", state)
    assert again["spans_read"] == 60

    # Uninstall keeps the data unless asked.
    sh("bash", root / "opt" / "current" / "packaging" / "uninstall.sh", "--prefix", root / "opt", "--data-dir",
       root / "data", "--backup-dir", root / "backups", "--bin-dir", root / "bin", "--no-systemd")
    assert not (root / "opt").exists() and not binary.exists()
    assert (root / "data" / "meta.sqlite").exists() and (root / "backups").exists()
    sh("bash", REPO / "packaging" / "uninstall.sh", "--prefix", root / "opt", "--data-dir", root / "data",
       "--backup-dir", root / "backups", "--bin-dir", root / "bin", "--no-systemd", "--purge")
    assert not (root / "data").exists() and not (root / "backups").exists()


# What lynex.service enforces, without systemd (tests run where PID 1 is not systemd): a user with no
# privileges and no new ones, every file system read-only except the data directory, no network.
HARDENED = r"""
ip link set lo up
mount --make-rprivate /
mount --bind "$BOX" "$BOX"
mount --bind / / && mount -o remount,bind,ro /
awk '{print $2}' /proc/self/mounts | grep -v -e '^/$' -e '^/proc' -e '^/sys' -e '^/dev' -e "^$BOX\$" |
  while read -r m; do mount -o remount,bind,ro "$m" 2>/dev/null || true; done
touch /usr/lynex-write-test 2>/dev/null && { echo "root file system still writable" >&2; exit 1; }
exec "$@"
"""


def test_serves_unprivileged_on_a_read_only_system(release: Release):
    box = Path(tempfile.mkdtemp(prefix="lynex-hardened-", dir="/var/tmp"))  # pytest's tmp is mode 700
    try:
        box.chmod(0o755)
        done = install(release.dist, release.tarball, box)
        assert done.returncode == 0, done.stderr
        (box / "data").mkdir()
        shutil.chown(box / "data", 65534, 65534)
        service = box / "lynex-as-service"
        service.write_text(f'#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs '
                           f'{box / "bin" / "lynex"} "$@"\n')
        service.chmod(0o755)
        run = sh("unshare", "-m", "-n", "sh", "-c", HARDENED, "sh", sys.executable, SCENARIO, "write", service,
                 box / "data", box / "state.json", check=False, env={**os.environ, "BOX": str(box)})
        assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
        report = json.loads(run.stdout.strip().splitlines()[-1])
        assert report["interfaces"] == ["lo"] and len(report["compacted"]) >= 2
        owners = {p.stat().st_uid for p in (box / "data").rglob("*")}
        assert owners == {65534}, owners  # everything the server wrote is in its data dir, as its user
    finally:
        shutil.rmtree(box, ignore_errors=True)


def test_onefile_binary_and_noexec_tmp(release: Release, tmp_path):
    """The one-file binary runs; with TMPDIR on a noexec mount it fails the documented way, and the
    documented fix (TMPDIR on an executable file system) works."""
    assert release.onefile.exists()
    version = sh(release.onefile, "version").stdout
    assert f"lynex {release.version} (built" in version
    noexec, fine = tmp_path / "noexec", tmp_path / "exec"
    noexec.mkdir()
    fine.mkdir()
    script = (f'mount -t tmpfs -o noexec tmpfs {noexec} && TMPDIR={noexec} {release.onefile} version; '
              f'echo "rc=$?"; TMPDIR={fine} {release.onefile} version')
    done = sh("unshare", "-m", "sh", "-c", script, check=False)
    assert "rc=127" in done.stdout and "failed to map segment" in done.stderr, (done.stdout, done.stderr)
    assert f"lynex {release.version} (built" in done.stdout  # the documented TMPDIR fix
    readme = (REPO / "packaging" / "README.md").read_text()
    assert "failed to map segment" in readme and "TMPDIR=" in readme

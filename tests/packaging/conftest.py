"""One release build per test session (packaging/build.sh takes a minute or two), shared by every test
here. `pytest -m "not packaging"` skips them locally; CI runs them (scripts/test runs the whole suite)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Release:
    dist: Path
    tarball: Path
    onefile: Path
    version: str
    private_key: Path
    public_key: Path
    build_seconds: float
    source_modules: frozenset  # every lynex module in the tree when the build started

    @property
    def install_sh(self) -> Path:
        return self.dist / "install.sh"


def sign_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "packaging" / "sign.py"), *args], capture_output=True,
                          text=True)


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Release:
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        pytest.skip("the release is built for linux-x86_64")
    root = tmp_path_factory.mktemp("release")
    keys = root / "keys"
    keys.mkdir()
    assert sign_py("keygen", str(keys / "release.pem"), str(keys / "release.pub")).returncode == 0
    dist = root / "dist"
    source = frozenset(_modules(REPO / "lynex"))
    started = time.monotonic()
    done = subprocess.run(["bash", str(REPO / "packaging" / "build.sh"), "--signing-key", str(keys / "release.pem"),
                           "--out", str(dist)], capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "LYNEX_PYTHON": sys.executable})
    assert done.returncode == 0, f"build.sh failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    print(done.stdout)
    tarball = next(dist.glob("lynex-*-linux-x86_64.tar.gz"))
    with tarfile.open(tarball) as tar:
        top = tar.getnames()[0].split("/")[0]
        info = json.load(tar.extractfile(f"{top}/BUILDINFO.json"))
    return Release(dist=dist, tarball=tarball, onefile=dist / tarball.name.removesuffix(".tar.gz"),
                   version=info["version"], private_key=keys / "release.pem", public_key=keys / "release.pub",
                   build_seconds=round(time.monotonic() - started, 1), source_modules=source)


def _modules(package: Path) -> list[str]:
    """Dotted names of the .py files under a package directory (no imports)."""
    names = []
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


# The build that upgrades are tested from: the newest release tag, else this pinned commit (the appliance
# with the search index, hot-store schema v2; the current tree migrates it to v3 and beyond).
PREVIOUS_FALLBACK = "67a0559"
TOOLING = ("lynex.spec", "packaging/build.sh", "packaging/install.sh", "packaging/rollback.sh",
           "packaging/uninstall.sh", "packaging/sign.py", "packaging/lynex.service", "packaging/README.md")


@pytest.fixture(scope="session")
def previous_release(release, tmp_path_factory) -> Release | None:
    """The previous build, frozen from its own source with today's spec and scripts (only its data
    formats are under test); None when git cannot give that source (then the test says what it used)."""
    tag = subprocess.run(["git", "-C", str(REPO), "describe", "--tags", "--abbrev=0", "--match", "v*"],
                         capture_output=True, text=True).stdout.strip()
    ref = tag or PREVIOUS_FALLBACK
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{ref}^{{commit}}"]).returncode != 0:
        return None
    root = tmp_path_factory.mktemp("previous")
    src = root / "src"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    for name in TOOLING:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes((REPO / name).read_bytes())
    main = src / "lynex" / "__main__.py"
    if "freeze_support" not in main.read_text():  # builds from before the binary existed
        main.write_bytes((REPO / "lynex" / "__main__.py").read_bytes())
    if (REPO / "sdk" / "js" / "node_modules").is_dir():
        (src / "sdk" / "js" / "node_modules").symlink_to(REPO / "sdk" / "js" / "node_modules")
    done = subprocess.run(["bash", str(src / "packaging" / "build.sh"), "--signing-key", str(release.private_key),
                           "--out", str(root / "dist"), "--no-onefile", "--version-suffix", "-previous"],
                          capture_output=True, text=True, timeout=1500, cwd=src,
                          env={**os.environ, "LYNEX_PYTHON": sys.executable})
    assert done.returncode == 0, f"previous build ({ref}) failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    tarball = next((root / "dist").glob("lynex-*-linux-x86_64.tar.gz"))
    return Release(dist=root / "dist", tarball=tarball, onefile=root / "none", version=ref,
                   private_key=release.private_key, public_key=release.public_key, build_seconds=0,
                   source_modules=frozenset())

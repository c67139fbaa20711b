"""The built binary: cold start to the first 200 from /readyz, tarball size, idle RSS and idle CPU.

    python bench/binary.py [--tarball dist/lynex-…-linux-x86_64.tar.gz] [--runs 5] [--idle 10]
                           [--onefile dist/lynex-…-linux-x86_64]

Without --tarball it uses the newest dist/lynex-*-linux-x86_64.tar.gz, or builds one with a throwaway
signing key (packaging/build.sh --no-onefile) into a temp dir. The one-directory bundle is unpacked
into a temp dir and started on a fresh data dir per run; the first run starts after the bundle's own files
were evicted from the page cache (posix_fadvise, nobody else's pages are touched), the others are warm
restarts. Goals (issue 9): start ≤ 2 s, tarball ≤ 120 MB, idle CPU ≈ 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]


def find_or_build(tmp: Path) -> Path:
    found = sorted((REPO / "dist").glob("lynex-*-linux-x86_64.tar.gz"), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    print("no dist/ tarball: building one with a throwaway key (a minute or two)…", flush=True)
    subprocess.run([sys.executable, str(REPO / "packaging" / "sign.py"), "keygen", str(tmp / "k.pem"),
                    str(tmp / "k.pub")], check=True)
    subprocess.run(["bash", str(REPO / "packaging" / "build.sh"), "--signing-key", str(tmp / "k.pem"),
                    "--out", str(tmp / "dist"), "--no-onefile"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "LYNEX_PYTHON": sys.executable})
    return next((tmp / "dist").glob("lynex-*-linux-x86_64.tar.gz"))


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary: Path, data_dir: Path) -> tuple[subprocess.Popen, float, str]:
    """Start `lynex serve`; return the process, seconds to the first 200 from /readyz, and its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(binary), "serve", "--port", str(port), "--data-dir", str(data_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with httpx.Client(timeout=1) as client:
        while True:
            try:
                if client.get(url + "/readyz").status_code == 200:
                    return proc, time.perf_counter() - t0, url
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.perf_counter() - t0 > 60:
                raise SystemExit(f"lynex serve did not become ready (exit {proc.poll()})")
            time.sleep(0.01)


def evict(files: list[Path]) -> None:
    """Drop these files' pages from the page cache (posix_fadvise DONTNEED), leaving everyone else's."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # just-unpacked pages are dirty, and dirty pages are not dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def tree(proc: subprocess.Popen) -> list[psutil.Process]:
    parent = psutil.Process(proc.pid)
    return [parent, *parent.children(recursive=True)]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path)
    parser.add_argument("--runs", type=int, default=5, help="starts to time (fresh data dir each)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    parser.add_argument("--onefile", type=Path, help="also time this one-file binary's start (it unpacks first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lynex-bench-") as tmp_name:
        tmp = Path(tmp_name)
        tarball = args.tarball or find_or_build(tmp)
        size_mb = tarball.stat().st_size / 1e6
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp / "unpacked", filter="tar")
        top = next((tmp / "unpacked").iterdir())
        binary = top / "lynex" / "lynex"
        files = [f for f in (top / "lynex").rglob("*") if f.is_file() and not f.is_symlink()]
        bundle_mb = sum(f.stat().st_size for f in files) / 1e6

        evict(files)  # truly cold: the bundle's pages out of the page cache (only ours; others' stay)
        proc, cold, _ = start(binary, tmp / "data-cold")
        stop(proc)
        starts = []
        for i in range(args.runs):
            proc, seconds, _ = start(binary, tmp / f"data-{i}")
            starts.append(seconds)
            stop(proc)

        onefile = []
        for i in range(args.runs if args.onefile else 0):
            proc, seconds, _ = start(args.onefile, tmp / f"data-onefile-{i}")
            onefile.append(seconds)
            stop(proc)

        proc, _, _ = start(binary, tmp / "data-idle")
        time.sleep(3)  # let start-up work (migrations, first scheduler ticks) settle
        procs = tree(proc)
        rss_main = procs[0].memory_info().rss / 1e6
        rss_total = sum(p.memory_info().rss for p in procs) / 1e6
        cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
        t0 = time.perf_counter()
        time.sleep(args.idle)
        elapsed = time.perf_counter() - t0
        cpu_s = sum(sum(p.cpu_times()[:2]) - cpu0[p.pid] for p in procs if p.is_running())
        stop(proc)

    print(f"tarball              {tarball.name}: {size_mb:.1f} MB (goal ≤ 120 MB); bundle on disk {bundle_mb:.0f} MB")
    print(f"start → /readyz      cold (bundle evicted from the page cache) {cold:.2f} s; warm median of "
          f"{len(starts)} {statistics.median(starts):.2f} s, min {min(starts):.2f} s, max {max(starts):.2f} s "
          f"(goal ≤ 2 s)")
    if onefile:
        print(f"one-file binary      start → /readyz median of {len(onefile)} {statistics.median(onefile):.2f} s "
              f"(unpacks ~250 MB into $TMPDIR first)")
    print(f"idle RSS             server {rss_main:.0f} MB; with {len(procs) - 1} helper process(es) "
          f"{rss_total:.0f} MB")
    print(f"idle CPU             {cpu_s:.2f} CPU-s over {elapsed:.0f} s = {100 * cpu_s / elapsed:.2f}% of one core")
    print(f"machine              {psutil.cpu_count()} cores, load average {psutil.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

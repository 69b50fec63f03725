"""Starts a real `aos dev` (the binary in AOS_BIN, by default the workspace's
target/debug/aos) on a free loopback port with a fresh data directory, for the session."""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def dev():
    binary = os.environ.get("AOS_BIN", str(ROOT / "target" / "debug" / "aos"))
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no aos binary at {binary}: run `cargo build --bin aos` or set AOS_BIN")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="aos-py-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AOS_", "AWS_"))}
    env.update(AOS_PORT=str(port), AOS_DATA_DIR=data, AOS_LOG="warn")
    proc = subprocess.Popen([binary, "dev"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"aos dev did not start on {url}")
            time.sleep(0.1)
    key = pathlib.Path(data, "dev-api-key").read_text().strip()
    yield url, key
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    shutil.rmtree(data, ignore_errors=True)

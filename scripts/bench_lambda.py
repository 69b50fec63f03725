#!/usr/bin/env python3
"""Prints the size of every function's release bootstrap.zip, then measures, for each
function, the time from process start to its first poll of the runtime API and its
resident memory, under `cargo lambda watch --only-lambda-apis`. A small proxy in front
of the emulator notes when the function first connects (its first `invocation/next`).
Everything runs on 127.0.0.1."""
import os
import pathlib
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAMBDA = ROOT / "target" / "lambda"
RUNS = 7


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


class FirstConnection:
    """Accepts connections on a loopback port, notes when the first arrives and pipes
    every connection to the emulator."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.first = None
        self.event = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.first is None:
                self.first = time.perf_counter()
                self.event.set()
            up = socket.create_connection(("127.0.0.1", self.upstream))
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def rss_kb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    functions = sorted(p.name for p in LAMBDA.iterdir() if (p / "bootstrap.zip").exists())
    unpacked = pathlib.Path(tempfile.mkdtemp(prefix="aos-lambda-bench-"))
    binaries = {}
    print(f"{'function':<22} {'zip MB':>7} {'bootstrap MB':>13}")
    for f in functions:
        z = (LAMBDA / f / "bootstrap.zip").stat().st_size / 1e6
        with zipfile.ZipFile(LAMBDA / f / "bootstrap.zip") as archive:
            target = unpacked / f
            archive.extract("bootstrap", target)
        binaries[f] = target / "bootstrap"
        binaries[f].chmod(0o755)
        b = binaries[f].stat().st_size / 1e6
        print(f"{f:<22} {z:>7.2f} {b:>13.2f}  {'ok' if z <= 8 else 'OVER 8 MB'}")

    emulator_port = free_port()
    emulator = subprocess.Popen(
        ["cargo", "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(emulator_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(emulator_port)
        env = dict(os.environ, AOS_TABLE="aos-bench", AOS_STEP_QUEUE_URL="http://127.0.0.1:9/000000000000/aos-bench",
                   AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_LAMBDA_FUNCTION_VERSION="1",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_NAME="_", AOS_LOG="warn")
        print(f"\n{'function':<22} {'start->first poll ms (median of ' + str(RUNS) + ')':>36} {'RSS MB':>8}")
        worst_ms, worst_rss = 0.0, 0.0
        for f in functions:
            times, rss = [], []
            for _ in range(RUNS):
                proxy = FirstConnection(emulator_port)
                env["AWS_LAMBDA_RUNTIME_API"] = f"http://127.0.0.1:{proxy.port}/.rt"
                start = time.perf_counter()
                proc = subprocess.Popen([str(binaries[f])], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if not proxy.event.wait(10):
                    proc.kill()
                    raise SystemExit(f"{f} never polled the runtime API")
                times.append((proxy.first - start) * 1000)
                time.sleep(0.05)
                rss.append(rss_kb(proc.pid) / 1024)
                proc.kill()
                proc.wait()
                proxy.close()
            ms, mb = statistics.median(times), max(rss)
            worst_ms, worst_rss = max(worst_ms, ms), max(worst_rss, mb)
            print(f"{f:<22} {ms:>36.2f} {mb:>8.1f}")
        print(f"\nworst: {worst_ms:.2f} ms (target <= 10), {worst_rss:.1f} MB RSS (target <= 30)")
    finally:
        emulator.kill()
        emulator.wait()


if __name__ == "__main__":
    main()

"""Memory of `kyc serve` under a 300 MB streamed POST to /login (issue 12): the dashboard refuses a body
over 64 KiB while it streams, so its peak RSS must not grow with the upload.

    PYTHONPATH=. python -m kyc_assets_tests.bench_body_limit [MB]

Starts the dashboard (the test world of web_seed) in a child process on 127.0.0.1, sends MB megabytes
as a chunked body (no Content-Length, so only a streaming limit can refuse early), and prints what the
server answered and its peak RSS (VmHWM) before and after. Linux only (/proc).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _serve(root: str, port: int) -> None:
    import uvicorn

    from kyc_assets_tests.web_seed import build_world, make_app

    app, _ = make_app(build_world(Path(root)))
    print("ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)


def _peak_mb(pid: int) -> int:
    line = next(row for row in Path(f"/proc/{pid}/status").read_text().splitlines() if row.startswith("VmHWM"))
    return int(line.split()[1]) // 1024


def main(megabytes: int = 300) -> str:
    from kyc_assets_tests.local_servers import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as root:
        proc = subprocess.Popen([sys.executable, "-m", "kyc_assets_tests.bench_body_limit", "--serve", root,
                                 str(port)], stdout=subprocess.PIPE, env=os.environ.copy())
        try:
            proc.stdout.readline()
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            before = _peak_mb(proc.pid)
            sock = socket.create_connection(("127.0.0.1", port), timeout=120)
            sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
                         b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk, sent = b"a" * (1 << 20), 0
            try:
                for _ in range(megabytes):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += 1
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass
            try:
                answer = sock.recv(64).split(b"\r\n")[0].decode()
            except OSError as exc:
                answer = type(exc).__name__
            time.sleep(1)
            return (f"{sent} MB sent, server answered {answer!r}; server peak RSS {before} MB before, "
                    f"{_peak_mb(proc.pid)} MB after")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))

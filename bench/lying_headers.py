"""Frames whose ``Content-Length`` lies, sent to the real server: how soon the request after
each is answered, and how much the server's memory grew (docs/benchmarks.md,
docs/reliability.md). A legal large frame is timed beside them.

    python -m bench.lying_headers [--model fake:] [--refused-mib 256] [--legal-mib 60]
"""

from __future__ import annotations

import argparse
import threading
import time

from bench.jsonrpc_pipe import PipeClient, frame

LYING_HEADERS = [
    ("huge", b"Content-Length: 999999999999\r\n\r\n{}"),
    ("over the cap but allocatable", b"Content-Length: 2000000000\r\n\r\n{}"),
    ("negative", b"Content-Length: -5\r\n\r\n{}"),
    ("not a number", b"Content-Length: lots\r\n\r\n{}"),
    ("two lengths", b"Content-Length: 2\r\nContent-Length: 9999\r\n\r\n{}"),
    ("longer than what follows", b"Content-Length: 4000\r\n\r\n{}"),
]
"""Each header and what follows it, before a well-formed request."""
BIG_URI = "file:///work/big.py"


def status_request(request_id: str) -> bytes:
    return frame({"jsonrpc": "2.0", "id": request_id, "method": "infill/status", "params": {}})


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def answered_within(client: PipeClient, request_id: str, seconds: float) -> dict:
    """The answer to ``request_id``; the server is killed when none comes within ``seconds``."""
    answers: list[dict] = []
    reader = threading.Thread(target=lambda: answers.append(client.response(request_id)), daemon=True)
    reader.start()
    reader.join(seconds)
    if not answers:
        client.process.kill()  # a stuck server would never answer the shutdown either
        raise AssertionError(f"no answer to {request_id!r} within {seconds} s")
    return answers[0]


def send_refused_with_bytes(client: PipeClient, mib: int) -> None:
    """A length over the cap whose bytes do come, ``mib`` MiB of them."""
    client.process.stdin.write(b"Content-Length: 2000000000\r\n\r\n")
    for _ in range(mib):
        client.process.stdin.write(b"x" * (1 << 20))


def legal_open(mib: int) -> tuple[bytes, int]:
    """A didOpen frame of about ``mib`` MiB for ``BIG_URI`` (its text's line breaks take two bytes
    in JSON), and how many lines its text has."""
    lines = (mib << 20) // 7
    return frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": BIG_URI, "languageId": "python", "version": 1, "text": "x = 1\n" * lines}}}), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fake:")
    parser.add_argument("--refused-mib", type=int, default=256)
    parser.add_argument("--legal-mib", type=int, default=60, help="a legal didOpen frame this large, for comparison")
    args = parser.parse_args()
    client = PipeClient("--model", args.model, "--threads", "1")
    try:
        client.initialize()
        before = rss_kib(client.process.pid)
        cases = [*LYING_HEADERS, (f"over the cap, {args.refused_mib} MiB of its bytes sent", None),
                 (f"a legal {args.legal_mib} MiB didOpen", legal_open(args.legal_mib)[0])]
        for number, (name, lie) in enumerate(cases):
            started = time.perf_counter()
            if lie is None:
                send_refused_with_bytes(client, args.refused_mib)
            else:
                client.process.stdin.write(lie)
            sent = time.perf_counter()  # the write returns once the server has read all but a pipe's worth
            client.process.stdin.write(status_request(f"after-{number}"))
            client.process.stdin.flush()
            answered_within(client, f"after-{number}", 5.0)
            answered = time.perf_counter()
            print(f"{name:42} answered {(answered - started) * 1000:7.1f} ms after the frame's first byte, "
                  f"{(answered - sent) * 1000:5.1f} ms after the request; "
                  f"RSS +{(rss_kib(client.process.pid) - before) / 1024:.1f} MiB", flush=True)
    finally:
        if client.process.poll() is None:
            client.close()


if __name__ == "__main__":
    main()

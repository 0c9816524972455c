"""The sandbox's init: `python -I -S sandbox_init.py CONFIG_JSON`, started by sandbox.run_command inside new
namespaces. As root it covers world-writable and unreachable dirs with private tmpfs mounts, sets the rlimits,
drops to the run's uid, then runs the command as its child and reaps every process until the command exits.
Stdlib only and few imports: it starts once per sandboxed run.
"""

import ctypes
import json
import os
import resource
import signal
import sys

SETUP_FAILED = 125  # exit code when the sandbox could not be built
EXEC_FAILED = 126  # exit code when the command could not be started
WORLD_WRITABLE = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _cover(top: str, keep: list[str], writable: str) -> None:
    """Mount a small private tmpfs over `top`, then bind the `keep` paths back (read-only but `writable`)."""
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
    fds = {path: os.open(path, os.O_PATH) for path in keep}  # handles on what the tmpfs is about to hide
    _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777" if top in WORLD_WRITABLE else "size=1m,mode=755")
    for path, fd in fds.items():
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        if path != writable:
            _mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
        os.close(fd)


def main(config: dict) -> int:
    try:
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
        return SETUP_FAILED
    child = os.fork()
    if child == 0:
        try:
            os.execvpe(config["argv"][0], config["argv"], config["env"])
        except OSError as e:
            print(f"sandbox: cannot execute {config['argv'][0]}: {e.strerror}", file=sys.stderr)
        os._exit(EXEC_FAILED)
    while True:  # as pid 1 of the namespace the init also reaps orphans, until the command itself exits
        pid, status = os.wait()
        if pid == child:
            break
    if config["uid"] is not None:  # every leftover process of the run's uid (kill(-1) spares the caller)
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))

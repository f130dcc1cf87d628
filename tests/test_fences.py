"""The sandbox's operating-system fences, tried with real hostile actions in real processes.

One bubblewrap sandbox (started once for the module, as the grader starts its zygote) imports
torch and the fences, then forks one child per action in ``DRIVER``: each child raises
``enter_child`` and reports what its action got. No mocks: a fence that does not hold lets the
action through, and the test says which.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.sandbox import fences

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = ROOT / "autograder" / "sandbox"
TIMEOUT = 120  # seconds for one sandbox run, torch's import included, on a busy 2-core machine
MEMORY = 512 << 20  # the children's new address space

# Runs inside the sandbox: sys.argv[1] is a JSON config. Each action returns a short outcome:
# "allowed", an errno name ("EPERM"), an exception's name, or data for the test to check.
DRIVER = textwrap.dedent(
    r'''
    import ctypes, errno, fcntl, importlib.util, json, os, select, signal, socket, stat, sys
    import termios, threading, time

    import torch  # before any fork, as the zygote does

    CONFIG = json.loads(sys.argv[1])
    spec = importlib.util.spec_from_file_location("fences", CONFIG["fences"])
    fences = importlib.util.module_from_spec(spec)
    sys.modules["fences"] = fences
    spec.loader.exec_module(fences)
    fences.seal_zygote()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    SIGCHLD, CLONE_NEWUSER = 17, 0x10000000
    NR = {"clone": 56, "fork": 57, "clone3": 435, "bpf": 321, "perf_event_open": 298,
          "io_uring_setup": 425, "userfaultfd": 323, "tkill": 200, "keyctl": 250,
          "process_vm_readv": 310, "socket_x32": 0x40000000 | 41, "ioctl": 16}


    def attempt(action):
        """Run ``action``; "allowed", or the errno (or exception) that refused it."""
        try:
            action()
        except OSError as error:
            return errno.errorcode.get(error.errno, str(error.errno))
        except Exception as error:
            return type(error).__name__
        return "allowed"


    def c_call(result):
        """The outcome of a libc call that returns -1 and sets errno when refused."""
        if result == 0 and os.getpid() != PID:  # a process the fences should have refused
            os._exit(0)
        return "allowed" if result != -1 else errno.errorcode[ctypes.get_errno()]


    def syscall(name, *arguments):
        return c_call(libc.syscall(ctypes.c_long(NR[name]), *arguments))


    def fork():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)


    def thread():
        seen = []
        worker = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
        worker.start()
        worker.join()
        return "ok" if seen and seen[0] != threading.get_native_id() else "no thread"


    def torch_works():
        torch.set_num_threads(2)  # the intra-op pool: threads created after the fences
        product = torch.ones(256, 256) @ torch.ones(256, 256)
        return [torch.ones(3).sum().item(), product[0, 0].item()]


    def status():
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        keys = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
        return {key: fields[key].strip() for key in keys}


    def scratch():
        with open("/tmp/mine", "w") as file:
            file.write("scratch")
        return {
            "listing": sorted(os.listdir("/tmp")),
            "shm": sorted(os.listdir("/dev/shm")),
            "cwd": os.getcwd(),
            "home": [os.environ["HOME"], os.environ["TMPDIR"]],
            "mounts": [line.split()[2] for line in open("/proc/self/mounts")
                       if line.split()[1] in ("/tmp", "/dev/shm")],
        }


    def write(path, size=1):
        with open(path, "wb") as file:
            file.write(b"x" * size)


    def inherited_fd():
        os.write(CONFIG["fd"], b"through bwrap and the fences")


    def inherited_socket():
        CHILD_END.sendall(b"ping")


    def visible(paths):
        return [path for path in paths if os.path.exists(path)]


    def interfaces():
        return [line.split(":")[0].strip() for line in open("/proc/self/net/dev")][2:]


    ACTIONS = {
        "fork": lambda: attempt(fork),
        "libc_fork": lambda: c_call(libc.fork()),
        "clone_syscall": lambda: syscall("clone", SIGCHLD, 0, 0, 0, 0),
        "fork_syscall": lambda: syscall("fork"),
        "clone3": lambda: syscall("clone3", None, 0),
        "thread": thread,
        "torch": torch_works,
        "execv": lambda: attempt(lambda: os.execv("/usr/bin/true", ["true"])),
        "socket_unix": lambda: attempt(lambda: socket.socket(socket.AF_UNIX)),
        "socket_inet": lambda: attempt(lambda: socket.socket(socket.AF_INET)),
        "socketpair": lambda: attempt(socket.socketpair),
        "socket_x32": lambda: syscall("socket_x32", 1, 1, 0),
        "tiocsti": lambda: attempt(lambda: fcntl.ioctl(0, termios.TIOCSTI, b"x")),
        "tiocsti_high_bits": lambda: syscall(
            "ioctl", 0, ctypes.c_ulong(0xFFFFFFFF00005412), ctypes.c_char_p(b"x")
        ),
        "dev_tty": lambda: attempt(lambda: open("/dev/tty", "rb")),
        "mknod": lambda: attempt(
            lambda: os.mknod("/tmp/null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        ),
        "msgget": lambda: c_call(libc.msgget(0, 0o1600)),
        "shmget": lambda: c_call(libc.shmget(0, 4096, 0o1600)),
        "semget": lambda: c_call(libc.semget(0, 1, 0o1600)),
        "mq_open": lambda: c_call(libc.mq_open(b"/grader", os.O_CREAT | os.O_RDWR, 0o600, None)),
        # PTRACE_ATTACH to bwrap: were it allowed, bwrap would stop and this run time out
        "ptrace": lambda: c_call(libc.ptrace(16, 1, None, None)),
        "process_vm_readv": lambda: syscall("process_vm_readv", os.getppid(), None, 0, None, 0, 0),
        "zygote_memory": lambda: attempt(lambda: open(f"/proc/{os.getppid()}/mem", "rb")),
        "bpf": lambda: syscall("bpf", 0, None, 0),
        "perf_event_open": lambda: syscall("perf_event_open", None, 0, -1, -1, 0),
        "io_uring_setup": lambda: syscall("io_uring_setup", 1, None),
        "userfaultfd": lambda: syscall("userfaultfd", 0),
        "keyctl": lambda: syscall("keyctl", 0, -3, 0),
        "kill_init": lambda: attempt(lambda: os.kill(1, 0)),
        "kill_zygote": lambda: attempt(lambda: os.kill(os.getppid(), 0)),
        "kill_group": lambda: attempt(lambda: os.killpg(0, 0)),
        "kill_self": lambda: attempt(lambda: os.kill(os.getpid(), 0)),
        "signal_own_thread": lambda: attempt(
            lambda: signal.pthread_kill(threading.main_thread().ident, 0)
        ),
        "tkill": lambda: syscall("tkill", threading.get_native_id(), 0),
        "mount": lambda: c_call(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "unshare": lambda: c_call(libc.unshare(CLONE_NEWUSER)),
        "dumpable_again": lambda: c_call(libc.prctl(4, 1, 0, 0, 0)),
        "personality": lambda: c_call(libc.personality(0xFFFFFFFF)),
        "zygote_limits": lambda: attempt(
            lambda: __import__("resource").prlimit(os.getppid(), 4, (0, 0))
        ),
        "sigio_owner": lambda: attempt(lambda: fcntl.fcntl(0, fcntl.F_SETOWN, os.getppid())),
        "status": status,
        "scratch": scratch,
        "write_root": lambda: attempt(lambda: write("/planted")),
        "write_dev": lambda: attempt(lambda: write("/dev/planted")),
        "dev_null": lambda: attempt(lambda: write("/dev/null")),
        "file_size": lambda: attempt(lambda: write("/tmp/big", 17 << 20)),
        "memory": lambda: attempt(lambda: bytearray(1 << 30)),
        "network": interfaces,
        "hidden": lambda: visible(CONFIG["hidden"]),
        "inherited_fd": lambda: attempt(inherited_fd),
        "inherited_socket": lambda: attempt(inherited_socket),
    }


    def fenced_child(action, ready=None, release=None):
        """Fork a child that raises the fences, then runs ``action``; (pid, its result pipe).

        With ``ready`` and ``release`` (pipe ends), it says when the action is done, then
        waits for a byte on ``release`` before it reports and ends.
        """
        receive, send = os.pipe()
        pid = os.fork()
        if pid == 0:
            global PID
            PID = os.getpid()
            os.close(receive)
            try:
                outcome = {"fences": fences.enter_child(memory_bytes=CONFIG["memory"])}
                outcome["outcome"] = action()
                if ready is not None:  # then stay alive until told to go
                    os.write(ready, b"ready")
                    os.read(release, 1)
            except BaseException as error:
                outcome = {"error": f"{type(error).__name__}: {error}"}
            os.write(send, json.dumps(outcome).encode())
            os._exit(0)
        os.close(send)
        return pid, receive


    def collect(pid, receive, timeout=30):
        """The child's report, or why there is none."""
        chunks, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([receive], [], [], 0.2)[0]:
                chunk = os.read(receive, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
        os.close(receive)
        _, code = os.waitpid(pid, 0)
        if not chunks:
            return {"error": f"no report (wait status {code})"}
        return json.loads(b"".join(chunks))


    def private_scratch():
        """Two children at once: what the second finds of the first's /tmp."""
        ready_r, ready_w = os.pipe()
        release_r, release_w = os.pipe()
        first = fenced_child(
            lambda: [open(path, "w").write("mine") for path in ("/tmp/first", "/dev/shm/first")],
            ready_w,
            release_r,
        )
        os.read(ready_r, 5)
        paths = ["/tmp/first", "/dev/shm/first", f"/proc/{first[0]}/root/tmp/first"]
        paths.append("/tmp/zygote-marker")
        second = fenced_child(lambda: {
            "visible": visible(paths),
            "sibling_memory": attempt(lambda: open(f"/proc/{first[0]}/mem", "rb")),
            "sibling_root": attempt(lambda: os.listdir(f"/proc/{first[0]}/root/")),
        })
        report = collect(*second)
        os.write(release_w, b"go")
        return {"first": collect(*first), "second": report}


    open("/tmp/zygote-marker", "w").write("the zygote's /tmp")
    PARENT_END, CHILD_END = socket.socketpair()
    PID = os.getpid()
    results = {}
    for name, action in ACTIONS.items():
        results[name] = collect(*fenced_child(action))
        if name == "inherited_socket":
            PARENT_END.setblocking(False)
            results["received"] = PARENT_END.recv(16).decode(errors="replace")
    results["private_scratch"] = private_scratch()
    print(json.dumps(results))
    '''
)


def sandbox_python(code: str, argument: str, pass_fds=(), gpu: bool = False):
    """Run ``code`` with this interpreter inside :func:`fences.wrap_command`'s sandbox."""
    readable = [Path(sys.prefix), Path(sys.base_prefix), SANDBOX, ROOT / "autograder/__init__.py"]
    readable += [Path(entry) for entry in sys.path if entry.endswith("site-packages")]
    command = fences.wrap_command([sys.executable, "-c", code, argument], readable, gpu=gpu)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        pass_fds=pass_fds,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )


def require_fences() -> None:
    """Skip, saying what is missing and how to allow it, where the fences cannot be raised."""
    found = fences.availability()
    if not found.ok:
        pytest.skip(f"the sandbox's fences cannot be raised here: {found.missing}. {found.advice}")


@pytest.fixture(scope="module")
def run() -> dict:
    """Every action's report, from one sandbox; plus what came through the inherited pipe."""
    require_fences()
    receive, send = os.pipe()
    config = {
        "fences": str(SANDBOX / "fences.py"),
        "memory": MEMORY,
        "fd": send,
        "hidden": [
            str(ROOT / "source"),
            str(ROOT / "solutions"),
            str(ROOT / "autograder" / "hidden"),
            str(ROOT / "autograder" / "engine.py"),
            "/etc/shadow",
            "/etc/passwd",
            "/root/.ssh",
        ],
    }
    done = sandbox_python(DRIVER, json.dumps(config), pass_fds=[send])
    os.close(send)
    with os.fdopen(receive, "rb") as pipe:
        through_pipe = pipe.read().decode()
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    results["through_pipe"] = through_pipe
    return results


def outcome(run: dict, name: str):
    """What the child that tried ``name`` reported (failing if it could not raise its fences)."""
    report = run[name]
    assert "error" not in report, f"{name}: {report['error']}"
    return report["outcome"]


REFUSED = {
    # no new processes or programs
    "fork": "EPERM",
    "libc_fork": "EPERM",
    "clone_syscall": "EPERM",
    "fork_syscall": "EPERM",
    "clone3": "ENOSYS",  # so that glibc falls back to clone, whose flags the filter sees
    "execv": "EPERM",
    # no sockets, not even through the x32 ABI
    "socket_unix": "EPERM",
    "socket_inet": "EPERM",
    "socketpair": "EPERM",
    "socket_x32": "EPERM",
    # no terminal: TIOCSTI refused (also with junk in the command's upper half), no /dev/tty
    "tiocsti": "EPERM",
    "tiocsti_high_bits": "EPERM",
    "dev_tty": "ENXIO",
    # no devices, SysV IPC or message queues
    "mknod": "EPERM",
    "msgget": "EPERM",
    "shmget": "EPERM",
    "semget": "EPERM",
    "mq_open": "EPERM",
    # no other process's memory: ptrace, process_vm_readv, /proc/<zygote>/mem
    "ptrace": "EPERM",
    "process_vm_readv": "EPERM",
    "zygote_memory": "EACCES",
    # no kernel programs, probes, io_uring, userfaultfd, keys
    "bpf": "EPERM",
    "perf_event_open": "EPERM",
    "io_uring_setup": "EPERM",
    "userfaultfd": "EPERM",
    "keyctl": "EPERM",
    # signals to this process only
    "kill_init": "EPERM",
    "kill_zygote": "EPERM",
    "kill_group": "EPERM",
    "tkill": "EPERM",
    "sigio_owner": "EPERM",
    "zygote_limits": "EPERM",
    # no mounts, namespaces, way back to dumpable, personality
    "mount": "EPERM",
    "unshare": "EPERM",
    "dumpable_again": "EPERM",
    "personality": "EPERM",
    # read-only root and /dev; file size and memory limits
    "write_root": "EROFS",
    "write_dev": "EROFS",
    "file_size": "EFBIG",
    "memory": "MemoryError",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_action_is_refused(run, name):
    assert outcome(run, name) == REFUSED[name]


@pytest.mark.parametrize(
    "name", ["kill_self", "signal_own_thread", "inherited_fd", "inherited_socket", "dev_null"]
)
def test_what_a_child_needs_still_works(run, name):
    assert outcome(run, name) == "allowed"


def test_threads_and_torch_work_after_the_fences(run):
    assert outcome(run, "thread") == "ok"
    assert outcome(run, "torch") == [3.0, 256.0]


def test_inherited_descriptors_stay_usable(run):
    assert run["through_pipe"] == "through bwrap and the fences"
    assert run["received"] == "ping"


def test_no_capabilities_no_new_privileges_and_a_filter(run):
    zero = "0" * 16
    assert outcome(run, "status") == {
        "CapInh": zero,
        "CapPrm": zero,
        "CapEff": zero,
        "CapBnd": zero,
        "CapAmb": zero,
        "NoNewPrivs": "1",
        "Seccomp": "2",
    }


def test_secrets_and_course_files_are_absent(run):
    assert outcome(run, "hidden") == []


def test_network_namespace_is_empty(run):
    assert outcome(run, "network") == ["lo"]


def test_scratch_is_a_fresh_writable_tmpfs(run):
    found = outcome(run, "scratch")
    # Only the child's own file, and the read-only folders bound under /tmp when the course
    # itself lives there (a clone in /tmp): never the zygote's marker.
    bound = {ROOT.parts[2]} if ROOT.parts[1:2] == ("tmp",) else set()
    assert set(found["listing"]) - bound == {"mine"}
    assert found["shm"] == []
    assert found["cwd"] == "/tmp"
    assert found["home"] == ["/tmp", "/tmp"]
    assert found["mounts"][-2:] == ["tmpfs", "tmpfs"]


def test_two_children_share_no_scratch_and_no_memory(run):
    both = run["private_scratch"]
    assert "error" not in both["first"], both["first"]
    assert both["first"]["outcome"] == [4, 4]  # written to its own /tmp and /dev/shm
    second = both["second"]["outcome"]
    assert second["visible"] == []
    assert second["sibling_memory"] == "EACCES"
    assert second["sibling_root"] == "EACCES"


def test_fences_are_reported(run):
    names = run["torch"]["fences"]
    assert names[0].startswith("bubblewrap namespaces")
    assert "no capabilities" in names and "no sockets" in names
    assert any(name.startswith("seccomp filter (") for name in names)
    assert "resource limits (memory 512 MB, files 16 MB, 256 descriptors)" in names


# --- outside bubblewrap ---------------------------------------------------------------------

OUTSIDE = textwrap.dedent(
    r"""
    import importlib.util, json, os, socket, sys, threading

    spec = importlib.util.spec_from_file_location("fences", sys.argv[1])
    fences = importlib.util.module_from_spec(spec)
    sys.modules["fences"] = fences
    spec.loader.exec_module(fences)


    def child(enter):
        receive, send = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                report = {"fences": enter()}
            except fences.FenceError as error:
                os.write(send, json.dumps({"error": str(error)}).encode())
                os._exit(0)
            for name, action in (("fork", os.fork), ("socket", socket.socket)):
                try:
                    action()
                    report[name] = "allowed"
                except OSError as error:
                    report[name] = error.errno
            report["tmp"] = os.listdir("/tmp") if "own namespaces" in str(report) else None
            os.write(send, json.dumps(report).encode())
            os._exit(0)
        os.close(send)
        report = os.read(receive, 1 << 16)
        os.waitpid(pid, 0)
        return json.loads(report)


    def threaded():
        threading.Thread(target=threading.Event().wait, daemon=True).start()
        return fences.enter_child()


    print(json.dumps({
        "weak": child(lambda: fences.enter_child_weak(256 << 20)),
        "strong": child(fences.enter_child),
        "threaded": child(threaded),
        "described": fences.describe_weak(),
    }))
    """
)


@pytest.fixture(scope="module")
def outside() -> dict:
    """enter_child_weak and enter_child in children of a plain (not bubblewrapped) Python."""
    if fences._scmp is None:
        pytest.skip("pyseccomp or libseccomp is not installed")
    done = subprocess.run(
        [sys.executable, "-c", OUTSIDE, str(SANDBOX / "fences.py")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_weak_fences_refuse_processes_and_sockets(outside):
    weak = outside["weak"]
    assert weak["fork"] == weak["socket"] == 1  # EPERM
    assert "no new privileges" in weak["fences"] and "no capabilities" in weak["fences"]
    assert any(name.startswith("seccomp filter") for name in weak["fences"])
    assert any(name.startswith("seccomp filter") for name in outside["described"])


def test_enter_child_works_outside_bubblewrap(outside):
    require_fences()
    strong = outside["strong"]
    assert strong["fork"] == strong["socket"] == 1
    assert strong["tmp"] == []  # its own, empty /tmp, whatever this machine's holds
    assert not strong["fences"][0].startswith("bubblewrap")


def test_enter_child_fails_closed_in_a_threaded_process(outside):
    assert outside["threaded"]["error"].startswith("namespaces: the process has 2 threads")


# --- the command line and the availability report --------------------------------------------


def test_wrap_command_binds_only_what_it_is_told(tmp_path):
    command = fences.wrap_command(["python"], [tmp_path])
    assert command[-2:] == ["--", "python"]
    assert ["--ro-bind", str(tmp_path), str(tmp_path)] == command[
        command.index(str(tmp_path)) - 1 : command.index(str(tmp_path)) + 2
    ]
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-net", "--new-session"):
        assert flag in command
    assert "--clearenv" not in command
    assert not any("/etc/shadow" in part or part == "/etc" for part in command)
    assert not any(part.startswith("/dev/nvidia") for part in command)
    assert "/sys" not in command


def test_availability_names_a_missing_bubblewrap(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap there
    found = fences.availability.__wrapped__()
    assert not found.ok
    assert "bubblewrap (bwrap not found)" in found.missing
    assert "apt-get install bubblewrap" in found.advice


def test_availability_here():
    found = fences.availability()
    assert found.ok == (not found.missing)
    assert (found.advice == "") == found.ok


@pytest.mark.gpu
def test_cuda_works_after_the_fences():
    require_fences()
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        pytest.skip("no NVIDIA device here")
    code = textwrap.dedent(
        """
        import importlib.util, os, sys
        import torch
        spec = importlib.util.spec_from_file_location("fences", sys.argv[1])
        fences = importlib.util.module_from_spec(spec)
        sys.modules["fences"] = fences
        spec.loader.exec_module(fences)
        fences.seal_zygote()
        pid = os.fork()
        if pid == 0:
            fences.enter_child()
            total = (torch.ones(1000, device="cuda") * 2).sum().item()
            os._exit(0 if total == 2000.0 else 3)
        sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """
    )
    done = sandbox_python(code, str(SANDBOX / "fences.py"), gpu=True)
    assert done.returncode == 0, done.stderr[-3000:]

"""Operating-system fences around a sandboxed grading process.

Applied inside the child, after its imports and before any student code runs, each as strong
as the platform allows and each independent of the others:

- resource limits: address space (CPU runs), file size, no core dumps;
- no network: a fresh, empty network namespace when the kernel lets us create one
  (root, or unprivileged user namespaces), Landlock's TCP rules where available, and an audit
  hook that refuses sockets either way;
- a file system fence: Landlock (Linux 5.13+) lets the process read only the Python
  installation, the system libraries and the ``aekit`` package, and write only its scratch
  folder; the course's ``source/`` notebooks, the autograder and the other submissions are out
  of reach, even through ctypes. Without Landlock an audit hook refuses Python-level opens
  under the course folder;
- no new processes from Python (audit hook) and, when started as root, the identity of
  ``nobody``.

``describe()`` reports which fences are up, for the grading log.
"""

import ctypes
import os
import resource
import sys
from pathlib import Path

_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38
_BLOCKED_EVENTS = (
    "socket.__new__",
    "socket.connect",
    "socket.bind",
    "socket.getaddrinfo",
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "pty.spawn",
)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """Ask the kernel to kill this process when the process that started it dies."""
    if sys.platform.startswith("linux"):
        _libc().prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)


def limit_resources(memory_bytes: int | None, file_bytes: int = 16 << 20) -> None:
    """Cap new address space (when given), file sizes and core dumps."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    if memory_bytes is not None:
        current = _vm_size()
        resource.setrlimit(resource.RLIMIT_AS, (current + memory_bytes, current + memory_bytes))


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def leave_network() -> bool:
    """Move into a new, empty network namespace; True when it worked."""
    if not sys.platform.startswith("linux"):
        return False
    libc = _libc()
    if libc.unshare(_CLONE_NEWNET) == 0:
        return True
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        return False
    # Map ourselves to the same ids inside the new user namespace.
    try:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError:
        pass
    return True


# Landlock (https://docs.kernel.org/userspace-api/landlock.html): access rights by ABI version.
_FS_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_READ = (1 << 2) | (1 << 3)  # READ_FILE | READ_DIR
_EXECUTE = 1 << 0


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    numbers = _SYS_LANDLOCK.get(os.uname().machine)
    if not sys.platform.startswith("linux") or numbers is None:
        return 0
    version = _libc().syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def fence_files(readable: list[Path], writable: list[Path]) -> bool:
    """Allow reading only under ``readable`` and writing only under ``writable`` (Landlock).

    Also denies TCP bind/connect (ABI 4+) and signals to processes outside the sandbox
    (ABI 6+). Returns False, changing nothing, where Landlock is unavailable.
    """
    abi = landlock_abi()
    if abi < 1:
        return False
    create, add_rule, restrict = _SYS_LANDLOCK[os.uname().machine]
    libc = _libc()
    handled = _FS_RIGHTS[max(version for version in _FS_RIGHTS if version <= abi)]
    attr = _RulesetAttr(fs=handled, net=3 if abi >= 4 else 0, scoped=2 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        for paths, rights in ((readable, _READ | _EXECUTE), (writable, handled)):
            for path in paths:
                _allow(libc, add_rule, ruleset, path, rights & handled)
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        return libc.syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)


def _allow(libc, add_rule: int, ruleset: int, path: Path, rights: int) -> None:
    try:
        descriptor = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not path.is_dir():
            rights &= (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # file rights only
        rule = _PathBeneath(allowed=rights, parent_fd=descriptor)
        libc.syscall(
            add_rule, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)
        )
    finally:
        os.close(descriptor)


def readable_roots(extra: list[Path]) -> list[Path]:
    """What a grading process may read: Python, its packages, system libraries, ``extra``."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    roots |= {
        Path(entry)
        for entry in sys.path
        if entry and Path(entry).is_dir() and "site-packages" in entry
    }
    roots |= {
        Path(p) for p in ("/usr", "/lib", "/lib64", "/etc", "/opt", "/dev/null", "/dev/urandom")
    }
    roots |= {Path("/proc/self").resolve(), Path("/proc/cpuinfo"), Path("/sys/devices/system/cpu")}
    return sorted(root for root in roots | set(extra) if root.exists())


def gpu_device_files() -> list[Path]:
    """The NVIDIA device files CUDA opens (and issues ioctls on)."""
    return sorted(Path("/dev").glob("nvidia*")) + [
        path for path in (Path("/dev/dri"),) if path.exists()
    ]


def install_audit_hook(forbidden_roots: list[Path]) -> None:
    """Refuse sockets, new processes and opening files under ``forbidden_roots`` from Python."""
    forbidden = tuple(str(root.resolve()) + os.sep for root in forbidden_roots)

    def hook(event: str, args: tuple) -> None:
        if event.startswith(_BLOCKED_EVENTS):
            raise PermissionError(f"{event} is not allowed while grading")
        if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
            path = os.path.abspath(os.fsdecode(args[0])) + os.sep
            if path.startswith(forbidden):
                raise PermissionError("reading the course's files is not allowed while grading")

    sys.addaudithook(hook)


def become_nobody(scratch: Path, needed: list[Path]) -> bool:
    """When running as root, continue as ``nobody`` (owning the scratch folder).

    Skipped when ``nobody`` could not read the ``needed`` folders (a Python installed under
    /root, say): the other fences still hold.
    """
    if os.geteuid() != 0 or not all(_world_readable(path) for path in needed):
        return False
    nobody = 65534
    os.chown(scratch, nobody, nobody)
    os.setgroups([])
    os.setresgid(nobody, nobody, nobody)
    os.setresuid(nobody, nobody, nobody)
    return True


def _world_readable(path: Path) -> bool:
    """True when any user can reach and read ``path`` (o+x on every parent folder, o+r on it)."""
    path = path.resolve()
    try:
        if not path.stat().st_mode & 0o004:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in path.parents)
    except OSError:
        return False

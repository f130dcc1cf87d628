"""The operating-system fences of the grading sandbox: bubblewrap outside, libseccomp inside.

Two layers, both raised with maintained tools rather than home-made checks:

1. :func:`wrap_command` runs the zygote inside bubblewrap (bwrap(1)): its own user, PID, IPC,
   network, UTS and cgroup namespaces, no capability (but CAP_SETFCAP in its own user
   namespace, for its children's id maps), no controlling terminal, and a root file system that holds only the system libraries, a minimal ``/etc``, the paths it is told it may
   read (read-only), an empty ``/tmp`` and bubblewrap's minimal ``/dev`` and ``/proc``.
2. :func:`enter_child` runs in every child the zygote forks, before any student code: a new
   user, mount, IPC and network namespace with a private tmpfs on ``/tmp`` and ``/dev/shm``,
   resource limits, no capabilities and, last, a seccomp filter (libseccomp, through pyseccomp)
   that makes new processes, ptrace, sockets, SysV IPC, terminal injection, mounts, signals to
   other processes and the other calls in ``_REFUSED`` fail with EPERM.

:func:`availability` says whether this machine allows both; :func:`enter_child_weak` is the
best-effort variant an instructor may allow where it does not. :func:`seal_zygote` makes the
zygote itself non-dumpable, so that no child can open its ``/proc/<pid>/mem``.

RLIMIT_NPROC is set too, but the kernel does not enforce it for uid 0 of the initial user
namespace (a grader run as root: the sandbox's uid maps to it), so the seccomp filter's refusal
of fork, vfork, clone without CLONE_THREAD, clone3 and execve is the real process limit.
"""

import ctypes
import errno
import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

try:  # a ctypes wrapper of libseccomp; RuntimeError when libseccomp itself is missing
    import pyseccomp as _scmp
except (ImportError, RuntimeError, OSError):
    _scmp = None


class FenceError(RuntimeError):
    """A required fence could not be raised: the caller must not run the student's code."""


@dataclass(frozen=True)
class Availability:
    """Which required fences this machine cannot raise, and how to allow them."""

    missing: tuple[str, ...]
    advice: str

    @property
    def ok(self) -> bool:
        return not self.missing


# --- constants (linux/sched.h, linux/prctl.h, linux/capability.h, sys/mount.h, asm/ioctls.h) ---

_CLONE_THREAD = 0x00010000
_CLONE_NEWNS, _CLONE_NEWCGROUP, _CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
_CLONE_NEWIPC, _CLONE_NEWUSER, _CLONE_NEWPID = 0x08000000, 0x10000000, 0x20000000
_CLONE_NEWNET = 0x40000000
_NEW_NAMESPACES = (_CLONE_NEWNS, _CLONE_NEWCGROUP, _CLONE_NEWUTS, _CLONE_NEWIPC)
_NEW_NAMESPACES += (_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET)
_PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 4, 24, 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 1, 2, 4, 1 << 14, 1 << 18
_MS_REMOUNT, _MS_BIND = 32, 4096
_TIOCSTI, _TIOCLINUX, _FIOSETOWN, _SIOCSPGRP = 0x5412, 0x541C, 0x8901, 0x8902
_F_SETOWN, _F_SETOWN_EX = 8, 15
_PRIO_PROCESS, _IOPRIO_WHO_PROCESS = 0, 1
_FILE_BYTES = 16 << 20
_DESCRIPTORS = 256
_SPARE_PROCESSES = 64
_LOW32 = 0xFFFFFFFF  # ioctl's and fcntl's command is an unsigned int: the kernel ignores the rest

# Refused outright (EPERM), by what they would give a child: new programs, other processes'
# memory, kernel attack surface a grading child never needs, and whatever would let two
# children share something.
_REFUSED = {
    # threads are clone with CLONE_THREAD, allowed below
    "new processes": "fork vfork execve execveat",
    # tkill's target is a bare thread id, which a filter cannot tie to this process
    "other processes": "ptrace process_vm_readv process_vm_writev process_madvise pidfd_open "
    "pidfd_getfd pidfd_send_signal kcmp tkill",
    "kernel programs and devices": "bpf perf_event_open mknod mknodat userfaultfd",
    # io_uring runs operations that the filter never sees (io_uring_setup(2))
    "io_uring": "io_uring_setup io_uring_enter io_uring_register",
    "SysV IPC": "msgget msgsnd msgrcv msgctl semget semop semtimedop semctl "
    "shmget shmat shmdt shmctl",
    "POSIX message queues": "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify "
    "mq_getsetattr",
    # the child talks to the grader over the socket it inherited
    "sockets": "socket socketpair",
    # old and new mount API; enter_child has made its own namespaces and mounts before
    "mounts and namespaces": "mount umount2 pivot_root chroot unshare setns fsopen fsconfig "
    "fsmount fspick move_mount open_tree mount_setattr",
    "keys, kernels and modules": "keyctl add_key request_key kexec_load kexec_file_load "
    "init_module finit_module delete_module",
    "the rest of the machine": "open_by_handle_at name_to_handle_at personality syslog reboot "
    "swapon swapoff acct settimeofday clock_settime clock_adjtime adjtimex quotactl "
    "quotactl_fd lookup_dcookie iopl ioperm vhangup uselib",
}

# The minimal /etc of the sandbox: what the dynamic loader and glibc's time and name lookups
# read. No passwd, shadow, group or hosts: nothing in the sandbox needs to name a user or a host.
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
)
_SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")


# --- the zygote's sandbox: bubblewrap ----------------------------------------------------------


def wrap_command(argv: list[str], readable: list[Path], gpu: bool = False) -> list[str]:
    """The bubblewrap command line that runs ``argv`` (the zygote) fenced.

    Every path in ``readable`` (a file or a folder) appears read-only at the same path; bwrap
    creates the folders above it. ``gpu`` adds the NVIDIA and DRI device files, the driver's
    ``/proc`` entries and ``/sys``. The environment is the caller's (pass ``env`` to Popen;
    bwrap keeps it, bar HOME and TMPDIR set to ``/tmp``), and so are inherited descriptors
    (Popen's ``pass_fds``): bwrap closes none of them.
    """
    command = [shutil.which("bwrap") or "bwrap", *_bwrap_namespaces()]
    command += _system_binds()
    # --dev: bwrap's own /dev (null, zero, full, random, urandom, tty, pts, shm); --proc: a
    # procfs of the new PID namespace, whose sys, sysrq-trigger, irq and bus bwrap covers
    # read-only (bwrap(1)).
    command += ["--tmpfs", "/tmp", "--dev", "/dev", "--tmpfs", "/dev/shm", "--proc", "/proc"]
    if gpu:
        command += _gpu_binds()
    for path in sorted({Path(p).absolute() for p in readable}, key=lambda p: len(p.parts)):
        command += ["--ro-bind", str(path), str(path)]  # parents first: a child bind stays on top
    # The root (bwrap's tmpfs) and /dev would otherwise be writable, a place two children could
    # share; --remount-ro leaves the mounts under them (/tmp, /dev/shm, devices) as they are.
    command += ["--remount-ro", "/dev", "--remount-ro", "/"]
    command += ["--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--chdir", "/tmp"]
    return [*command, "--", *argv]


def _bwrap_namespaces() -> list[str]:
    """Namespaces, identity and capabilities of the sandbox (bwrap(1)).

    --die-with-parent: SIGKILL when the thread that ran bwrap ends (PR_SET_PDEATHSIG), so
    zygotes are started from one long-lived thread (launch._LAUNCHER, tests/test_zygote.py);
    --new-session: no controlling terminal, so no TIOCSTI into the grader's (CVE-2017-5226).

    The zygote runs as uid 0 of its user namespace and keeps one capability there,
    CAP_SETFCAP, for its children's sake. Since Linux 5.12 a process may map an id onto uid 0
    of the parent namespace only if it held CAP_SETFCAP when it created its own namespace
    (user_namespaces(7)), which is what :func:`enter_child` does. And uid 0 keeps a child's
    ``/proc/self/uid_map`` its own although it is not dumpable: such files belong to uid 0 of
    the namespace the process's memory was made in (proc(5)), the zygote's. The children drop
    every capability.
    """
    namespaces = "--unshare-user --unshare-pid --unshare-ipc --unshare-net --unshare-uts"
    identity = "--uid 0 --gid 0 --cap-drop ALL --cap-add CAP_SETFCAP"
    return [
        *f"{namespaces} --unshare-cgroup-try {identity}".split(),
        "--die-with-parent",
        "--new-session",
    ]


def _system_binds() -> list[str]:
    """System folders read-only (merged-/usr symlinks as symlinks) and the minimal /etc."""
    binds = []
    for path in _SYSTEM:
        if os.path.islink(path):
            binds += ["--symlink", os.readlink(path), path]
        else:
            binds += ["--ro-bind-try", path, path]
    for path in _ETC:
        binds += ["--ro-bind-try", path, path]
    return binds


def _gpu_binds() -> list[str]:
    """The device files CUDA opens (and issues ioctls on), the driver's /proc entries, /sys."""
    binds = []
    for device in sorted(str(path) for path in Path("/dev").glob("nvidia*")) + ["/dev/dri"]:
        binds += ["--dev-bind-try", device, device]
    for path in ("/proc/driver/nvidia", "/sys"):
        binds += ["--ro-bind-try", path, path]
    return binds


def seal_zygote() -> None:
    """Make the calling process (the zygote) not dumpable, before it forks any child.

    Children inherit the flag from the fork, so no child is ever dumpable, not even between
    the fork and :func:`enter_child`. ``/proc/<pid>/mem``, ``environ``, ``fd/`` and ``root/``
    of a process that is not dumpable are closed to a caller without CAP_SYS_PTRACE in its
    user namespace (ptrace(2), "Ptrace access mode checking"), which no child has: without
    this, a child could write into the zygote's memory or read a sibling's.
    """
    _prctl(_PR_SET_DUMPABLE, 0, "not dumpable")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1, "no new privileges")


# --- each child ------------------------------------------------------------------------------


def enter_child(memory_bytes: int | None = None, scratch_mb: int = 64) -> list[str]:
    """Raise the per-child fences in the calling, freshly forked, single-threaded process.

    In this order: not dumpable (first, so that no sibling can open this process's memory
    while the rest is raised); a new user, mount, IPC and network namespace; a private tmpfs
    of ``scratch_mb`` MB on /tmp and /dev/shm (HOME and TMPDIR point there); resource limits;
    no new privileges; no capabilities; the seccomp filter, last. Returns the names of the
    fences in force. Raises :class:`FenceError`, naming the step, when the namespaces, the
    capability drop or the filter fail. Outside :func:`wrap_command`'s sandbox it raises the
    same per-child fences where the kernel allows.
    """
    if _scmp is None:
        raise FenceError("seccomp: pyseccomp or libseccomp is not installed")
    fenced = ["bubblewrap namespaces (user, pid, ipc, net, uts, mount)"] if _in_bwrap() else []
    _prctl(_PR_SET_DUMPABLE, 0, "not dumpable")
    _enter_namespaces()
    fenced.append("own namespaces (user, mount, ipc, net)")
    _mount_scratch(scratch_mb)
    fenced.append(f"private scratch (tmpfs, {scratch_mb} MB)")
    try:
        fenced.append(_limit_resources(memory_bytes))
    except (OSError, ValueError) as error:
        raise FenceError(f"resource limits: {error}") from error
    _prctl(_PR_SET_NO_NEW_PRIVS, 1, "no new privileges")
    fenced += ["not dumpable", "no new privileges"]
    _drop_capabilities()
    fenced.append("no capabilities")
    try:
        rules = _load_filter()
    except OSError as error:
        raise FenceError(f"seccomp: the filter did not load ({error})") from error
    return fenced + [f"seccomp filter ({rules} rules)", *_FILTERED]


_FILTERED = (
    "no new processes",
    "no terminal",
    "no SysV IPC",
    "no sockets",
    "no signals to other processes",
)


def describe_weak() -> list[str]:
    """Names of what :func:`enter_child_weak` raises, for reports."""
    names = [
        "resource limits",
        "not dumpable",
        "no new privileges",
        "own network namespace (where the kernel allows)",
        "no capabilities",
    ]
    if _scmp is not None:
        names += ["seccomp filter", *_FILTERED]
    return names


def enter_child_weak(memory_bytes: int | None = None) -> list[str]:
    """Best-effort fences, for when the instructor allowed weak isolation; never raises.

    Resource limits, not dumpable, no new privileges, a new user and network namespace where
    the kernel allows one, no capabilities, and the seccomp filter where pyseccomp works.
    Returns what is in force.
    """
    fenced = []
    steps = (
        (lambda: _prctl(_PR_SET_DUMPABLE, 0, "not dumpable"), "not dumpable"),
        (lambda: _limit_resources(memory_bytes), None),
        (lambda: _prctl(_PR_SET_NO_NEW_PRIVS, 1, "no new privileges"), "no new privileges"),
        (lambda: _enter_namespaces(_CLONE_NEWUSER | _CLONE_NEWNET), "own network namespace"),
        (_drop_capabilities, "no capabilities"),
        (lambda: f"seccomp filter ({_load_filter()} rules)", None),
    )
    for step, name in steps:
        try:
            outcome = step()
        except Exception:  # best effort: a fence that fails is left out
            continue
        fenced.append(name or outcome)
    if any(name.startswith("seccomp") for name in fenced):
        fenced += _FILTERED
    return fenced


# --- the steps ---------------------------------------------------------------------------------


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int, step: str) -> None:
    if _libc().prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        raise FenceError(f"{step}: prctl({option}, {value}) failed ({_strerror()})")


def _strerror() -> str:
    """The message of the errno that the last ctypes call left."""
    return os.strerror(ctypes.get_errno())


def _in_bwrap() -> bool:
    """True inside :func:`wrap_command`'s sandbox, whose PID namespace's init is bwrap."""
    try:
        return Path("/proc/1/comm").read_text().strip() == "bwrap"
    except OSError:
        return False


def _enter_namespaces(flags: int = _CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWNET):
    """Move into new namespaces, keeping our uid and gid (mapped onto themselves)."""
    threads = _status_field("Threads")
    if threads != "1":  # unshare(2): CLONE_NEWUSER needs a single-threaded caller
        raise FenceError(f"namespaces: the process has {threads} threads, not 1")
    uid, gid = os.getuid(), os.getgid()
    if _libc().unshare(flags) != 0:
        raise FenceError(f"namespaces: unshare failed ({_strerror()})")
    try:
        _write_id_maps(uid, gid)
    except OSError as error:
        raise FenceError(f"namespaces: the id maps were refused ({error})") from error


def _write_id_maps(uid: int, gid: int) -> None:
    """Map ``uid`` and ``gid`` onto themselves in the new user namespace (user_namespaces(7)).

    setgroups must be denied before an unprivileged gid_map. Outside bubblewrap, as a user
    other than root, a process that is not dumpable does not own its /proc/self files (proc(5)),
    so there it is made dumpable again for the three writes.
    """
    maps = (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1"))
    try:
        for name, text in maps:
            _write(f"/proc/self/{name}", text)
    except PermissionError as error:
        if error.errno != errno.EACCES or _libc().prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0) != 0:
            raise
        try:
            for name, text in maps:
                if not (name == "setgroups" and _read(f"/proc/self/{name}") == "deny"):
                    _write(f"/proc/self/{name}", text)
        finally:
            _prctl(_PR_SET_DUMPABLE, 0, "not dumpable")


def _write(path: str, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(descriptor, text.encode())
    finally:
        os.close(descriptor)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _mount_scratch(scratch_mb: int) -> None:
    """A fresh, size-limited tmpfs on /tmp and /dev/shm, seen by this process alone."""
    # Mounts made here must never propagate back (mount_namespaces(7), "MS_PRIVATE").
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    options = f"size={scratch_mb}m,mode=1777"
    # The read-only folders bound under /tmp (a course unpacked in a temporary folder) are
    # kept: held open before the tmpfs hides them, bound again on top of it.
    kept = [(path, os.open(path, os.O_PATH)) for path in _mounts_under("/tmp")]
    for target in ("/tmp", "/dev/shm"):
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
    for path, descriptor in kept:
        _bind_read_only(f"/proc/self/fd/{descriptor}", path)
        os.close(descriptor)
    # A working directory in the old /tmp would still reach it (the zygote's, shared).
    os.chdir("/tmp")
    os.environ["HOME"] = os.environ["TMPDIR"] = "/tmp"
    tempfile.tempdir = None  # computed again, from TMPDIR, on next use


def _mounts_under(folder: str) -> list[str]:
    """Mount points strictly below ``folder``, outermost first (proc_pid_mountinfo(5))."""
    found = []
    for line in _read("/proc/self/mountinfo").splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4].startswith(folder.rstrip("/") + "/"):
            found.append(fields[4].encode().decode("unicode_escape"))
    return sorted(set(found), key=lambda path: path.count("/"))


def _bind_read_only(source: str, target: str) -> None:
    """Bind ``source`` on ``target`` (created, as a folder or a file), then make it read-only."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()  # noqa: SIM115 - an empty file to bind onto
    _mount(source, target, None, _MS_BIND | _MS_REC, None)
    if not os.statvfs(target).f_flag & os.ST_RDONLY:  # a bind of a read-only bind stays so
        flags = os.statvfs(target).f_flag & (_MS_NOSUID | _MS_NODEV | 8)  # keep locked flags
        _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | flags, None)


def _mount(source, target, kind, flags, options) -> None:
    arguments = [None if value is None else value.encode() for value in (source, target, kind)]
    data = None if options is None else options.encode()
    if _libc().mount(*arguments, ctypes.c_ulong(flags), data) != 0:
        raise FenceError(f"private scratch: mount on {target} failed ({_strerror()})")


def _limit_resources(memory_bytes: int | None) -> str:
    """Address space (when given), file size, core dumps, descriptors and processes."""
    _cap(resource.RLIMIT_CORE, 0)
    _cap(resource.RLIMIT_FSIZE, _FILE_BYTES)
    _cap(resource.RLIMIT_NOFILE, _DESCRIPTORS)
    threads = int(_status_field("Threads") or 1)
    _cap(resource.RLIMIT_NPROC, threads + _SPARE_PROCESSES + (os.cpu_count() or 1))
    parts = [f"files {_FILE_BYTES >> 20} MB", f"{_DESCRIPTORS} descriptors"]
    if memory_bytes is not None:
        _cap(resource.RLIMIT_AS, int(_status_field("VmSize").split()[0]) * 1024 + memory_bytes)
        parts.insert(0, f"memory {memory_bytes >> 20} MB")
    return f"resource limits ({', '.join(parts)})"


def _cap(limit: int, value: int) -> None:
    """Set both the soft and the hard limit to ``value``, or to the hard limit if lower."""
    _, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, value))


def _status_field(name: str) -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return ""


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _drop_capabilities() -> None:
    """Empty the bounding, ambient, inheritable, permitted and effective sets (capabilities(7)).

    The bounding set first: dropping from it needs CAP_SETPCAP, which we hold until capset.
    """
    libc = _libc()
    for capability in range(64):
        # EINVAL: past the kernel's last capability
        failed = libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0
        if failed and ctypes.get_errno() != errno.EINVAL:
            raise FenceError(f"capabilities: bounding set ({_strerror()})")
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    if libc.capset(ctypes.byref(header), (_CapData * 2)()) != 0:
        raise FenceError(f"capabilities: capset failed ({_strerror()})")
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        if int(_status_field(field) or "1", 16) != 0:
            raise FenceError(f"capabilities: {field} is not empty")


def _load_filter() -> int:
    """Load the seccomp filter into this process (and every thread); the number of rules.

    Default ALLOW, because torch and CUDA need many system calls; refused calls fail with
    EPERM, never kill. Arguments are compared as the 64-bit registers the filter sees, so an
    allowed value must match exactly and a refused ``int`` command is matched on its low 32
    bits only (seccomp(2), "Caveats"; CVE-2019-10063).
    """
    scmp = _scmp
    if scmp is None:
        raise OSError(errno.ENOSYS, "pyseccomp or libseccomp is not installed")
    pid, refuse = os.getpid(), scmp.ERRNO(errno.EPERM)
    rules = _Rules(scmp.SyscallFilter(defaction=scmp.ALLOW), scmp)
    # Another ABI (i386's int 0x80, x32) would name other calls by the same numbers.
    rules.filter.set_attr(scmp.Attr.ACT_BADARCH, refuse)
    rules.filter.set_attr(scmp.Attr.CTL_TSYNC, 1)
    for names in _REFUSED.values():
        for name in names.split():
            rules.add(refuse, name)
    # clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes glibc fall
    # back to clone, whose flags it can.
    rules.add(scmp.ERRNO(errno.ENOSYS), "clone3")
    rules.add(refuse, "clone", scmp.Arg(0, scmp.MASKED_EQ, _CLONE_THREAD, 0))
    for flag in _NEW_NAMESPACES:
        rules.add(refuse, "clone", scmp.Arg(0, scmp.MASKED_EQ, flag, flag))
    # Signals only to this process (tgkill's first argument is the thread group's id).
    for name in ("kill", "rt_sigqueueinfo", "tgkill", "rt_tgsigqueueinfo"):
        rules.add(refuse, name, scmp.Arg(0, scmp.NE, pid))
    for command in (_TIOCSTI, _TIOCLINUX, _FIOSETOWN, _SIOCSPGRP):  # terminal input; SIGIO
        rules.add(refuse, "ioctl", scmp.Arg(1, scmp.MASKED_EQ, _LOW32, command))
    for command in (_F_SETOWN, _F_SETOWN_EX):  # SIGIO and SIGURG to another process
        rules.add(refuse, "fcntl", scmp.Arg(1, scmp.MASKED_EQ, _LOW32, command))
    rules.add(refuse, "prctl", scmp.Arg(0, scmp.MASKED_EQ, _LOW32, _PR_SET_DUMPABLE))
    # Limits and priorities of this process only: others run as the same user, whom the kernel
    # lets change them (the zygote's descriptor limit, say).
    rules.add(refuse, "prlimit64", scmp.Arg(0, scmp.NE, 0))
    rules.add(refuse, "setpriority", scmp.Arg(0, scmp.NE, _PRIO_PROCESS))
    rules.add(refuse, "ioprio_set", scmp.Arg(0, scmp.NE, _IOPRIO_WHO_PROCESS))
    rules.filter.load()
    return rules.count


class _Rules:
    """A libseccomp filter being built, counting its rules, skipping calls this arch lacks."""

    def __init__(self, filter_, scmp):
        self.filter, self.scmp, self.count = filter_, scmp, 0

    def add(self, action: int, name: str, *arguments) -> None:
        number = self.scmp.resolve_syscall(self.scmp.Arch.NATIVE, name)
        if number < 0:  # not a system call on this architecture (fork on aarch64, say)
            return
        self.filter.add_rule(action, number, *arguments)
        self.count += 1


# --- what this machine allows --------------------------------------------------------------------

_PROBE = """
import os, runpy, sys
fences = runpy.run_path(sys.argv[1])
pid = os.fork()
if pid == 0:
    try:
        fences["enter_child"]()
    except BaseException as error:
        os.write(2, str(error).encode())
        os._exit(1)
    os._exit(0)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@functools.cache
def availability() -> Availability:
    """What this machine allows (cached): it actually runs bubblewrap and the child's fences.

    First ``/usr/bin/true`` under :func:`wrap_command`'s flags, then, in the same sandbox, a
    forked Python child that raises :func:`enter_child` (which needs nested user namespaces
    and a working libseccomp).
    """
    if shutil.which("bwrap") is None:
        missing, advice = (
            ["bubblewrap (bwrap not found)"],
            ["Install bubblewrap: apt-get install bubblewrap."],
        )
    else:
        missing, advice = _try_bubblewrap()
    if _scmp is None or not _seccomp_loads():
        missing.append("seccomp (libseccomp / pyseccomp)")
        advice.append("Install libseccomp: apt-get install libseccomp2; pip install pyseccomp.")
    if not missing:
        problem = _run_fenced([sys.executable, "-c", _PROBE, __file__], _python_roots())
        if problem:
            missing.append(f"per-child fences ({problem})")
            advice.append(_namespace_advice())
    return Availability(tuple(missing), " ".join(advice))


def _try_bubblewrap() -> tuple[list[str], list[str]]:
    problem = _run_fenced(["/usr/bin/true"], [])
    if problem is None:
        return [], []
    return [f"user namespaces (bwrap: {problem})"], [_namespace_advice()]


def _run_fenced(argv: list[str], readable: list[Path]) -> str | None:
    """Run ``argv`` under :func:`wrap_command`; None when it succeeded, else why not."""
    try:
        done = subprocess.run(
            wrap_command(argv, readable),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1][:200] if lines else f"exit status {done.returncode}"


def _seccomp_loads() -> bool:
    """Whether a filter loads here (a container's own filter may refuse seccomp(2))."""
    code = "import pyseccomp as s; s.SyscallFilter(s.ALLOW).load()"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _python_roots() -> list[Path]:
    """This interpreter, its standard library and its site-packages (pyseccomp's among them)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(__file__)}
    roots |= {Path(entry) for entry in sys.path if entry.endswith("site-packages")}
    if _scmp is not None:
        roots.add(Path(_scmp.__file__).parent)
    return sorted(root for root in roots if root.exists())


def _namespace_advice() -> str:
    """How to allow (nested) user namespaces here, from what the kernel and container say."""
    tips = []
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        tips.append("sysctl -w kernel.unprivileged_userns_clone=1")
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        tips.append("sysctl -w user.max_user_namespaces=15000")
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        tips.append("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    advice = "Allow user namespaces" + (f": {'; '.join(tips)}." if tips else ".")
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"):
        advice += (
            " In Docker, run the container with --security-opt seccomp=unconfined "
            "--security-opt apparmor=unconfined (or --privileged)."
        )
    return advice

"""What Linux's /proc says about a process and its sockets: queues of the
server's connections, CPU time, memory (VmRSS, VmHWM), and this process's
file descriptor limit."""

import os
import resource
import threading
import time


def server_sockets(port):
    """The server's side of the ESTABLISHED connections on loopback port:
    one entry per socket, its receive queue in bytes (received by the kernel,
    not yet read by the service), from /proc/net/tcp."""
    want = ":%04X" % port
    queues = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1].endswith(want) and parts[3] == "01":
                queues.append(int(parts[4].split(":")[1], 16))
    return queues


def proc_status(pid, tid=None):
    path = "/proc/%d/task/%d/status" % (pid, tid) if tid else "/proc/%d/status" % pid
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def cpu_seconds(pid):
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kib(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, RssAnon, ...) in KiB."""
    v = proc_status(pid).get(field, "0 kB").split()
    return int(v[0]) if v else 0


def rss_kib(pid):
    """Resident set size (VmRSS = RssAnon + RssFile + RssShmem), KiB."""
    return status_kib(pid, "VmRSS")


def reset_hwm(pid):
    """Resets VmHWM to the current VmRSS (writes 5 to /proc/PID/clear_refs,
    Linux >= 4.0). Returns False when the kernel refuses."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def wait_rss_stable(pid, timeout=10.0, interval=0.2, tolerance_kib=64, samples=4):
    """Polls VmRSS until `samples` consecutive readings lie within
    tolerance_kib of each other (or the timeout); returns the last reading."""
    deadline = time.monotonic() + timeout
    window = []
    while True:
        window.append(rss_kib(pid))
        window = window[-samples:]
        if len(window) == samples and max(window) - min(window) <= tolerance_kib:
            return window[-1]
        if time.monotonic() >= deadline:
            return window[-1]
        time.sleep(interval)


class RssSampler(threading.Thread):
    """Samples VmRSS of a process every interval; .peak is the highest."""

    def __init__(self, pid, interval=0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop_ev = threading.Event()
        self.peak = 0
        self.n = 0

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
                self.n += 1
            except OSError:
                return
            self.stop_ev.wait(self.interval)

    def stop(self):
        self.stop_ev.set()
        self.join(5)
        return self.peak


def raise_nofile(want):
    """Raises this process's soft RLIMIT_NOFILE towards want (up to the hard
    limit); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft

"""Shared helpers for the fault, hostile-client and sandbox tests.

Python 3 standard library only (runs on Debian 12's python3). Everything is
real: the service binary is started as a child process listening on a free
loopback port, PostgreSQL is the throwaway cluster that tests/faults/run.sh
started (PG_URL, PG_PORT, PG_PASSWORD, PG_BIN, PG_DIR, PG_USER in the
environment), and HTTP goes over loopback sockets.

Each test script builds a Checker, records figures and checks, and ends with
checker.finish(): exit 0 = pass, 1 = fail, 77 = skipped (with the reason
printed).
"""

import atexit
import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def repo_root():
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=HERE,
                             capture_output=True, text=True, check=True, timeout=10)
        if out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return os.path.abspath(os.path.join(HERE, "..", ".."))


ROOT = repo_root()
RELEASE_BIN = os.environ.get("ITEMS_API_BIN", os.path.join(ROOT, "build", "items-api"))
TEST_BIN = os.environ.get("ITEMS_API_TEST_BIN", os.path.join(ROOT, "build", "test", "items-api"))
# Scratch space shared with run.sh: it records service PIDs and nftables
# tables there so its trap can clean up even if a test is killed.
STATE_DIR = os.environ.get("FAULTS_STATE_DIR") or tempfile.mkdtemp(prefix="faults-")
os.makedirs(STATE_DIR, exist_ok=True)

KEY1 = "faults-key-one-0123456789abcdef"
KEY2 = "faults-key-two-0123456789abcdef"

SKIP = 77


def now():
    return time.monotonic()


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- results

class Checker:
    """Collects checks and figures; prints them as it goes."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.figures = []
        self.t0 = now()
        log("--- %s" % name)
        # SIGTERM (run.sh's trap, make being interrupted) must still run the
        # finally blocks that remove services and firewall rules.
        signal.signal(signal.SIGTERM, _raise_exit)

    def figure(self, name, value):
        self.figures.append((name, value))
        log("  figure  %-44s %s" % (name, value))

    def check(self, cond, what, detail=""):
        if cond:
            log("  ok      %s" % what)
        else:
            msg = what + (": " + detail if detail else "")
            self.failures.append(msg)
            log("  FAIL    %s" % msg)
        return cond

    def info(self, msg):
        log("  info    %s" % msg)

    def skip(self, why):
        log("  SKIP    %s: %s" % (self.name, why))
        sys.stdout.flush()
        sys.exit(SKIP)

    def finish(self):
        dur = now() - self.t0
        if self.failures:
            log("--- %s: FAIL (%d failed checks, %.1fs)" % (self.name, len(self.failures), dur))
            for f in self.failures:
                log("    - " + f)
            sys.exit(1)
        log("--- %s: PASS (%.1fs)" % (self.name, dur))
        sys.exit(0)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------- PostgreSQL

def pg_env():
    need = ["PG_URL", "PG_PORT", "PG_PASSWORD", "PG_BIN", "PG_DIR"]
    missing = [k for k in need if not os.environ.get(k)]
    if missing:
        raise RuntimeError("PostgreSQL environment missing (%s): run through tests/faults/run.sh"
                           % ", ".join(missing))
    return os.environ


def psql(sql, db="items", timeout=30, check=True):
    env = dict(pg_env())
    env["PGPASSWORD"] = env["PG_PASSWORD"]
    env["PGCONNECT_TIMEOUT"] = "5"
    cmd = [os.path.join(env["PG_BIN"], "psql"), "-h", "127.0.0.1", "-p", env["PG_PORT"],
           "-U", "items", "-d", db, "-qAt", "-v", "ON_ERROR_STOP=1", "-f", "-"]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True, env=env,
                         timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError("psql failed (%d): %s" % (out.returncode, out.stderr.strip()))
    return out.stdout


def psql_session(db):
    """An interactive psql session (stdin/stdout pipes) for holding locks."""
    env = dict(pg_env())
    env["PGPASSWORD"] = env["PG_PASSWORD"]
    cmd = [os.path.join(env["PG_BIN"], "psql"), "-h", "127.0.0.1", "-p", env["PG_PORT"],
           "-U", "items", "-d", db, "-qAt", "-v", "ON_ERROR_STOP=1"]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)


def new_database(name):
    """A fresh database in the shared test cluster; returns its libpq URL."""
    psql("DROP DATABASE IF EXISTS %s;" % name, db="postgres")
    psql("CREATE DATABASE %s;" % name, db="postgres")
    env = pg_env()
    return "postgres://items:%s@127.0.0.1:%s/%s?sslmode=disable" % (
        env["PG_PASSWORD"], env["PG_PORT"], name)


def pg_isready(timeout=1):
    env = pg_env()
    cmd = [os.path.join(env["PG_BIN"], "pg_isready"), "-q", "-h", "127.0.0.1", "-p",
           env["PG_PORT"], "-U", "items", "-d", "items", "-t", str(timeout)]
    try:
        return subprocess.run(cmd, timeout=timeout + 2).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def pg_ctl(*args, timeout=90):
    """pg_ctl_do from lib/pg.sh (runs as the cluster's owner)."""
    script = 'source "$1/lib/pg.sh"; shift; pg_ctl_do "$@"'
    out = subprocess.run(["bash", "-c", script, "pg_ctl", ROOT] + list(args),
                         capture_output=True, text=True, timeout=timeout, env=dict(pg_env()))
    if out.returncode != 0:
        raise RuntimeError("pg_ctl %s failed: %s %s" % (" ".join(args), out.stdout, out.stderr))
    return out.stdout


# ---------------------------------------------------------------- the service

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


_services = []


class Service:
    """The items-api binary as a child process on a free loopback port."""

    def __init__(self, name, env=None, binary=None, database_url=None, keys=(KEY1,), nofile=None):
        self.name = name
        # RLIMIT_NOFILE soft and hard limit for the child (None: inherited).
        # Both are set, so the service cannot raise the soft limit itself.
        self.nofile = nofile
        self.binary = binary or RELEASE_BIN
        self.port = free_port()
        self.log_path = os.path.join(STATE_DIR, "%s-%d.log" % (name, self.port))
        e = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PORT": str(self.port),
            "BIND_ADDRESS": "127.0.0.1",
            "DATABASE_URL": database_url or os.environ.get("PG_URL", "sqlite::memory:"),
            "API_KEYS": ",".join(keys),
            "DRAIN_SECONDS": "0",
            "SHUTDOWN_TIMEOUT_SECONDS": "5",
            "LOG_LEVEL": "info",
            "METRICS_EMF_INTERVAL_SECONDS": "0",
        }
        e.update(env or {})
        self.env = e
        self.proc = None
        self.logf = None

    def start(self, ready_timeout=20.0, wait_ready=True):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("%s is missing: run make build build-test" % self.binary)
        self.logf = open(self.log_path, "wb")
        preexec = None
        if self.nofile is not None:
            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.logf,
                                     stderr=subprocess.STDOUT, cwd=STATE_DIR,
                                     start_new_session=True, preexec_fn=preexec)
        _services.append(self)
        with open(os.path.join(STATE_DIR, "pids"), "a") as f:
            f.write("%d\n" % self.proc.pid)
        if wait_ready:
            self.wait_healthy(ready_timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, timeout):
        deadline = now() + timeout
        while now() < deadline:
            if not self.alive():
                raise RuntimeError("%s exited during start-up (status %s); log:\n%s"
                                   % (self.name, self.proc.returncode, self.log_tail()))
            try:
                if request(self.port, "GET", "/healthz", timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s not healthy within %.0fs; log:\n%s"
                           % (self.name, timeout, self.log_tail()))

    def wait_ready(self, timeout):
        deadline = now() + timeout
        while now() < deadline:
            try:
                if request(self.port, "GET", "/readyz", timeout=2).status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self, timeout=15):
        """SIGTERM, wait; returns the exit status (SIGKILL after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log("  info    %s did not exit within %ds of SIGTERM: SIGKILL" % (self.name, timeout))
                self.proc.kill()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    log("  info    %s (pid %d) still not reaped after SIGKILL" % (self.name, self.pid))
        if self.logf:
            self.logf.close()
            self.logf = None
        return self.proc.returncode

    def log_lines(self):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        out = []
        for line in data.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"level": "?", "message": "(not JSON) " + line})
        return out

    def log_tail(self, n=25, pred=None):
        lines = self.log_lines()
        if pred:
            lines = [x for x in lines if pred(x)]
        return "\n".join("      " + json.dumps(x)[:400] for x in lines[-n:])

    def problem_lines(self, n=25):
        """Log lines at warn level or above (what to quote in a report)."""
        return self.log_tail(n, lambda x: x.get("level") in ("warn", "error", "fatal", "?"))


def _cleanup_services():
    for s in _services:
        try:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait(5)
        except (OSError, subprocess.SubprocessError):
            pass


atexit.register(_cleanup_services)


# ---------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%s %.3fs %r>" % (self.status, self.elapsed, self.body[:120])


def request(port, method, path, body=None, key=None, headers=None, timeout=10.0, conn=None):
    """One HTTP request; a fresh connection unless conn (http.client) is given.

    Raises OSError (socket.timeout included) / http.client.HTTPException."""
    h = {}
    if key:
        h["X-API-Key"] = key
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t = now()
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        return Resp(r.status, hdrs, data, now() - t)
    finally:
        if own:
            conn.close()


def is_problem_503(r):
    """A 503 as issue 2 requires it: problem+json with Retry-After."""
    ct = (r.header("content-type") or "").split(";")[0].strip()
    return r.status == 503 and ct == "application/problem+json" and r.header("retry-after")


class HealthPoller(threading.Thread):
    """GET /healthz every interval on a fresh connection; records latencies."""

    def __init__(self, port, interval=0.2, timeout=5.0):
        super().__init__(daemon=True)
        self.port, self.interval, self.timeout = port, interval, timeout
        self.stop_ev = threading.Event()
        self.n = 0
        self.failures = []
        self.max_latency = 0.0

    def run(self):
        while not self.stop_ev.is_set():
            t = now()
            try:
                r = request(self.port, "GET", "/healthz", timeout=self.timeout)
                if r.status != 200:
                    self.failures.append("status %d" % r.status)
            except (OSError, http.client.HTTPException) as e:
                self.failures.append("%s: %s" % (type(e).__name__, e))
            lat = now() - t
            self.n += 1
            self.max_latency = max(self.max_latency, lat)
            self.stop_ev.wait(max(0.0, self.interval - lat))

    def stop(self):
        self.stop_ev.set()
        self.join(self.timeout + 2)


# ---------------------------------------------------------------- misc

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


def metric_sum(text, name):
    """Sum of every sample of a Prometheus metric family (any labels)."""
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})?\s+([0-9.eE+-]+)" % re.escape(name), line)
        if m:
            total += float(m.group(2))
            found = True
    return total if found else None


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


# ---------------------------------------------------------------- memory

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
    deadline = now() + timeout
    window = []
    while True:
        window.append(rss_kib(pid))
        window = window[-samples:]
        if len(window) == samples and max(window) - min(window) <= tolerance_kib:
            return window[-1]
        if now() >= deadline:
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


def mib(kib):
    return kib / 1024.0

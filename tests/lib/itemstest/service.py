"""The items-api binary as a child process on a free loopback port: its
environment, its output files, readiness, stop (SIGTERM, then SIGKILL) and
the safety net that kills what a test left running."""

import atexit
import json
import os
import resource
import secrets
import signal
import subprocess
import threading
import time

from . import client, paths, ports

# Fresh keys for every run: if one of them ever shows up in a log, it came
# from this run's server.
KEY1 = "key1-" + secrets.token_hex(16)
KEY2 = "key2-" + secrets.token_hex(16)

# The settings every test server starts with; a test's env overrides them
# (a value of None removes a variable).
DEFAULTS = {
    "BIND_ADDRESS": "127.0.0.1",
    "DRAIN_SECONDS": "0",
    "SHUTDOWN_TIMEOUT_SECONDS": "5",
    "LOG_LEVEL": "info",
    "METRICS_EMF_INTERVAL_SECONDS": "0",
}

# How often start() tries another port when the server found its port
# taken (another suite's server bound it after free_port() looked).
PORT_TRIES = 3


class ServiceFailed(AssertionError):
    pass


_live = set()
_live_lock = threading.Lock()


def parse_log_lines(text):
    """Parses JSON log lines; returns (objects, bad_lines)."""
    objs, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            bad.append(line)
            continue
        try:
            o = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(o, dict) or not {"time", "level", "message"} <= set(o):
            bad.append(line)
            continue
        objs.append(o)
    return objs, bad


class Service:
    """The items-api binary as a child process on a free loopback port.

    env: settings over DEFAULTS (None removes one); base_env: the rest of
    the child's environment (default: PATH only). Output goes to out_path
    (stdout, and stderr too unless err_path is given); by default both in
    paths.state_dir(), whose pids file (record_pid) lets tests/faults/run.sh
    kill a service a killed test left behind. nofile: RLIMIT_NOFILE, soft
    and hard, for the child (None: inherited)."""

    ready_timeout = 20.0  # start(): /healthz must answer 200 within this
    stop_timeout = 15.0  # stop(): SIGKILL after this

    def __init__(self, name, env=None, binary=None, database_url=None, keys=(KEY1,), nofile=None,
                 args=("serve",), base_env=None, cwd=None, out_path=None, err_path=None,
                 new_session=True, record_pid=True):
        self.name = name
        self.nofile = nofile
        self.binary = binary or paths.RELEASE_BIN
        self.args = list(args)
        self.port = ports.free_port()
        self._own_port = "PORT" not in (env or {})
        settings = dict(DEFAULTS, PORT=self.port,
                        DATABASE_URL=database_url or os.environ.get("PG_URL", "sqlite::memory:"),
                        API_KEYS=",".join(keys) if keys else None)
        settings.update(env or {})
        self.env = dict(base_env) if base_env is not None else {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k, v in settings.items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = str(v)
        self.cwd = cwd or paths.state_dir()
        self.out_path = out_path or os.path.join(paths.state_dir(), "%s-%d.log" % (name, self.port))
        self.err_path = err_path
        self.new_session = new_session
        self.record_pid = record_pid
        self.proc = None
        self._out = self._err = None

    # -- lifecycle

    def start(self, wait=True):
        """Starts the binary; with wait, returns once it is ready
        (wait_started) and retries on another port when the server found
        the port it picked taken. Raises ServiceFailed."""
        for attempt in range(PORT_TRIES):
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_started()
                return self
            except ServiceFailed:
                if self._own_port and attempt + 1 < PORT_TRIES and self.proc.poll() is not None \
                        and "Address already in use" in self.output():
                    self._close()
                    self.port = ports.free_port()
                    self.env["PORT"] = str(self.port)
                    continue
                raise
        return self

    def _spawn(self):
        if not os.access(self.binary, os.X_OK):
            raise ServiceFailed("%s is missing: run make build build-test" % self.binary)
        self._out = open(self.out_path, "wb")
        if self.err_path:
            self._err = open(self.err_path, "wb")
        preexec = None
        if self.nofile is not None:
            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
        self.proc = subprocess.Popen(self.command(), env=self.env, cwd=self.cwd,
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err or subprocess.STDOUT,
                                     start_new_session=self.new_session, preexec_fn=preexec)
        with _live_lock:
            _live.add(self)
        if self.record_pid:
            with open(os.path.join(paths.state_dir(), "pids"), "a") as f:
                f.write("%d\n" % self.proc.pid)

    def command(self):
        """The child's argv; a subclass may wrap the binary (a namespace,
        a debugger) as long as the pid stays the service's."""
        return [self.binary] + self.args

    def wait_started(self):
        """What start() waits for: /healthz (the process serves)."""
        self.wait_healthy(self.ready_timeout)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def probe(self, path, timeout):
        """GET path without a key; the status (OSError when unreachable)."""
        return client.request(self.port, "GET", path, timeout=timeout)

    def wait_for(self, path, timeout, probe_timeout=2.0, interval=0.1, strict=False):
        """Polls GET path until it answers 200: True. Past timeout, or when
        the process exited: False, or ServiceFailed when strict."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                if strict:
                    raise ServiceFailed("%s exited with %s before %s answered 200:\n%s"
                                        % (self.name, self.proc.returncode, path, self.output()))
                return False
            try:
                r = self.probe(path, probe_timeout)
                if r.status == 200:
                    return True
                last = r
            except OSError as e:
                last = e
            time.sleep(interval)
        if strict:
            raise ServiceFailed("%s: %s not 200 within %ss (last: %r):\n%s"
                                % (self.name, path, timeout, last, self.output()))
        return False

    def wait_healthy(self, timeout):
        """/healthz answers 200 (raises ServiceFailed otherwise)."""
        self.wait_for("/healthz", timeout, probe_timeout=1.0, interval=0.05, strict=True)

    def wait_ready(self, timeout):
        """/readyz answers 200 within timeout: True or False."""
        return self.wait_for("/readyz", timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=None, strict=False):
        """SIGTERM, wait; returns the exit status. Past timeout: SIGKILL,
        and ServiceFailed when strict."""
        if self.proc is None:
            return None
        timeout = self.stop_timeout if timeout is None else timeout
        late = False
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    late = True
                    self.kill()
        finally:
            self._close()
        if late and strict:
            raise ServiceFailed("%s did not exit within %ss after SIGTERM" % (self.name, timeout))
        if late:
            print("  info    %s did not exit within %ss of SIGTERM: SIGKILL" % (self.name, timeout),
                  flush=True)
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        with _live_lock:
            _live.discard(self)

    def _close(self):
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._out = self._err = None
        with _live_lock:
            _live.discard(self)

    # -- output

    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout(self):
        return self._read(self.out_path)

    def stderr(self):
        return self._read(self.err_path) if self.err_path else ""

    def output(self):
        if not self.err_path:
            return "--- output\n%s" % self.stdout()[-6000:]
        return "--- stdout\n%s\n--- stderr\n%s" % (self.stdout()[-6000:], self.stderr()[-6000:])

    def log_lines(self):
        """Every line of stdout as an object; a line that is not JSON as
        {"level": "?", "message": "(not JSON) ..."}."""
        out = []
        for line in self.stdout().splitlines():
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


@atexit.register
def _kill_leftovers():
    for s in list(_live):
        try:
            s.kill()
        except (OSError, subprocess.SubprocessError):
            pass

"""Shared helpers for ACS integration tests: real processes, a real private dbus-daemon,
real HTTP. Every helper cleans up what it started, also when a test fails.

Environment (set by meson): ACS_BUILD_DIR, ACS_SOURCE_DIR.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SOURCE_DIR = os.environ.get("ACS_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("ACS_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")


def binary(name):
    """Path of a program in the build tree, e.g. binary('src/vmm/acs-vmm')."""
    path = os.path.join(BUILD_DIR, name)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path} is not built")
    return path


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = predicate()
            if v:
                return v
        except Exception as e:  # the thing we wait for may not exist yet
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                       + (f" (last error: {last_exc})" if last_exc else ""))


def port_is_free(port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port(lo, hi):
    """First free TCP port on 127.0.0.1 in [lo, hi]: each test area has its own range."""
    for p in range(lo, hi + 1):
        if port_is_free(p):
            return p
    raise RuntimeError(f"no free port in {lo}..{hi}")


def wait_port(port, timeout=10, host="127.0.0.1"):
    def connects():
        with socket.create_connection((host, port), timeout=0.5):
            return True
    return wait_until(connects, timeout, what=f"{host}:{port} to accept")


def http_get(url, timeout=5, headers=None, method="GET", data=None):
    """Returns (status, headers dict, body bytes); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def http_json(url, timeout=5, **kw):
    status, _, body = http_get(url, timeout=timeout, **kw)
    return status, json.loads(body) if body else None


class Process:
    """A daemon under test: output goes to a log file that is printed when the test fails."""

    def __init__(self, argv, name=None, env=None, logdir=None, **popen):
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.logdir = logdir or tempfile.mkdtemp(prefix="acs-test-")
        self.logpath = os.path.join(self.logdir, f"{self.name}.log")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env,
                                     start_new_session=True, **popen)
        self.pid = self.proc.pid

    def output(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for_output(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.output()), timeout,
                          what=f"{self.name} to print /{pattern}/")

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode


class Bus:
    """A real private dbus-daemon, for daemons started with --bus-address=. listen= replaces
    the configuration's listening address (e.g. unix:dir=D, for a daemon in a container that
    sees only D)."""

    def __init__(self, listen=None):
        conf = os.path.join(SOURCE_DIR, "tests", "lib", "dbus-test.conf")
        self.proc = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork",
                                      "--print-address=1", *([f"--address={listen}"] if listen else [])],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            raise RuntimeError("dbus-daemon printed no address")

    def busctl(self, *args, check=True, user=None, timeout=30):
        """Runs busctl against this bus; returns CompletedProcess (text). user= runs it as that
        uid through setpriv, to check what an unprivileged caller gets."""
        argv = ["busctl", f"--address={self.address}", *map(str, args)]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)

    def call_json(self, service, path, interface, method, signature="", *args):
        r = self.busctl("--json=short", "call", service, path, interface, method,
                        *( [signature, *args] if signature else [] ))
        return json.loads(r.stdout)

    def get_property_json(self, service, path, interface, prop):
        r = self.busctl("--json=short", "get-property", service, path, interface, prop)
        return json.loads(r.stdout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.proc.stdout.close()


class Monitor:
    """`busctl monitor --json=short` on a bus, collecting messages in the background."""

    def __init__(self, bus, *match_args):
        self.path = tempfile.mktemp(prefix="acs-monitor-")
        self.file = open(self.path, "wb")
        self.proc = subprocess.Popen(["busctl", f"--address={bus.address}", "monitor", "--json=short",
                                      *match_args], stdout=self.file, stderr=subprocess.DEVNULL,
                                     start_new_session=True)

    def messages(self):
        out = []
        with open(self.path, "rb") as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def signals(self, member):
        return [m for m in self.messages() if m.get("type") == "signal" and m.get("member") == member]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class DaemonTestCase(unittest.TestCase):
    """A TestCase that stops every Process/Bus/Monitor it registered, and prints the logs of
    the processes when a test failed."""

    def setUp(self):
        self._owned = []
        self.tmpdir = tempfile.mkdtemp(prefix=f"acs-{self.id().split('.')[-1]}-")

    def own(self, thing):
        self._owned.append(thing)
        return thing

    def start(self, argv, **kw):
        kw.setdefault("logdir", self.tmpdir)
        return self.own(Process(argv, **kw))

    def start_bus(self, listen=None):
        return self.own(Bus(listen))

    def has_failed(self):
        """In tearDown: whether the test failed. unittest records the failure in the result
        before tearDown runs (and on 3.11 does not clear _outcome.success yet): look for this
        test among the recorded errors and failures."""
        result = getattr(self._outcome, "result", None)
        return (result is not None and any(t is self for t, _ in result.errors + result.failures)) \
            or not getattr(self._outcome, "success", True)

    def tearDown(self):
        failed = self.has_failed()
        for thing in reversed(self._owned):
            with contextlib.suppress(Exception):
                thing.stop()
        if failed:
            for thing in self._owned:
                if isinstance(thing, Process):
                    print(f"----- {thing.name} log ({thing.logpath}) -----")
                    print(thing.output()[-8000:])
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def prometheus_text_problems(text):
    """What `promtool check metrics` finds in a /metrics text, plus what it lets through: a
    family whose samples are not one group (the text format requires it)."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    problems = (r.stdout + r.stderr).decode().strip().splitlines() if r.returncode != 0 else []
    seen, current = set(), None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        family = re.split(r"[{ ]", line, maxsplit=1)[0]
        if family != current:
            if family in seen:
                problems.append(f"family {family} is split in several groups")
            seen.add(family)
            current = family
    return problems


def docker(*args, check=True, timeout=120):
    """Runs the real docker CLI against the local engine."""
    return subprocess.run(["docker", *map(str, args)], capture_output=True, text=True,
                          check=check, timeout=timeout)


def main():
    unittest.main(verbosity=2)

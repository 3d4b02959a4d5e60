#!/usr/bin/env python3
"""Runs one libFuzzer target for a bounded time (ACS_FUZZ_SECONDS, default 60).

    run-fuzzer.py FUZZER KIND WORKDIR

The corpus starts from the requests and responses the tests send (KIND says which, and how the
target reads its first byte) and grows in WORKDIR/corpus from run to run. A crash, leak or
timeout fails the run; libFuzzer leaves the input that caused it in WORKDIR (crash-*, leak-*,
timeout-*), and this prints how to replay it.
"""
import importlib.util
import os
import subprocess
import sys

SRC = os.environ.get("ACS_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path[:0] = [os.path.join(SRC, "tests", "proxy"), os.path.join(SRC, "tests", "lib")]

VALID_RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil close",
]


def load_test(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), os.path.join(SRC, "tests", "proxy", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requests():
    """Every raw request of the proxy's strictness and RFC tests, refused or valid."""
    strict, rfc = load_test("test-proxy-strict"), load_test("test-proxy-rfc")
    out = [raw for raw, _ in strict.BAD_REQUESTS.values()] + list(strict.BAD_BODIES.values())
    for table in (rfc.REQUEST_LINE, rfc.HOST, rfc.BODY_SIZE):
        out += list(table.values())
    out += [v[0] for v in rfc.VALID.values()]
    return out


def seeds(kind):
    if kind == "http-proxy":
        import proxytest
        # First byte: bit 7 picks a response, the rest where the input is cut in two reads.
        return ([b"\x10" + r for r in test_requests()] +
                [b"\x90" + r for r in list(proxytest.BAD_RESPONSES.values()) + VALID_RESPONSES])
    if kind == "http-request":
        # First byte: the size of the pieces the input is fed in.
        return [b"\x05" + r for r in test_requests()]
    return []


def main():
    fuzzer, kind, workdir = sys.argv[1:4]
    seconds = int(os.environ.get("ACS_FUZZ_SECONDS", "60"))
    corpus, seed_dir = os.path.join(workdir, "corpus"), os.path.join(workdir, "seeds")
    for d in (corpus, seed_dir):
        os.makedirs(d, exist_ok=True)
    for i, s in enumerate(seeds(kind)):
        with open(os.path.join(seed_dir, f"test-{i:03d}"), "wb") as f:
            f.write(s)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    argv = [fuzzer, corpus, seed_dir, f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
            "-max_len=65536", "-print_final_stats=1", f"-artifact_prefix={workdir}/"]
    print(" ".join(argv), flush=True)
    rc = subprocess.run(argv, env=env).returncode
    if rc != 0:
        found = sorted(f for f in os.listdir(workdir) if f.split("-")[0] in ("crash", "leak", "timeout", "oom"))
        print(f"{os.path.basename(fuzzer)} failed ({rc}); inputs kept in {workdir}: {found}; replay with "
              f"{fuzzer} {workdir}/<input>", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""The system test's hypervisor: boots and powers off machines of the fleet on request, as a
cloud's API boots and stops VMs.

The machines are systemd-nspawn containers of the host, which has no systemd; a machine's own
systemd cannot start a sibling. So the front machine reaches this small HTTP service on a unix
socket bind-mounted into it, through a unit an operator would write around a cloud CLI:

    ExecStart=curl --unix-socket /srv/acs-hypervisor/socket -X POST http://hypervisor/machines/acs-vm3/start
    ExecStopPost=curl --unix-socket /srv/acs-hypervisor/socket -X POST http://hypervisor/machines/acs-vm3/stop

POST .../start answers once the machine's systemd finished booting (a Type=oneshot unit's start
job ends then); .../stop once the machine is powered off. Every request is logged with its time.
"""
import http.server
import os
import socketserver
import threading
import time

import machines


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Hypervisor:
    def __init__(self, fleet, names, directory):
        """Serves the machines `names` of fleet on directory/socket."""
        self.fleet, self.names = fleet, set(names)
        self.events = []  # (monotonic time, machine, what)
        self.lock = threading.Lock()
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "socket")
        hv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                machines.log("hypervisor: " + fmt % args)

            def do_POST(self):
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[0] != "machines" or parts[1] not in hv.names or \
                        parts[2] not in ("start", "stop"):
                    self.send_error(404)
                    return
                try:
                    hv.act(parts[1], parts[2])
                except Exception as e:  # the unit fails, with the reason in its journal
                    self.send_error(500, str(e)[:200])
                    return
                body = f"{parts[1]}: {parts[2]} done\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        with_path = self.path
        if os.path.exists(with_path):
            os.unlink(with_path)
        self.server = _Server(with_path, Handler)
        os.chmod(with_path, 0o666)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def act(self, name, what):
        machine = self.fleet[name]
        # One action at a time per fleet: a stop never races the boot it follows.
        with self.lock:
            self.events.append((time.monotonic(), name, what))
            if what == "start":
                if not machine.running():
                    machine.boot()
                    state = machine.wait_running(120)
                    machines.log(f"hypervisor: {name} booted ({state})")
            else:
                machine.poweroff()
                machines.log(f"hypervisor: {name} powered off")
            self.events.append((time.monotonic(), name, what + " done"))

    def times(self, name, what):
        return [t for t, n, w in self.events if n == name and w == what]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

#!/usr/bin/env python3
"""Drives the lorafarm dashboard in headless Chromium over the DevTools protocol.

Standard library only (a minimal RFC 6455 WebSocket client below), so it runs
wherever python3 and chromium are installed, with no npm and no pip.

  progress mode: load the page, start the sweep command given with --sweep,
  and watch one trial's row without reloading: it must appear, show RUNNING,
  show its progress change, then COMPLETED. window.__loadId, set once per page
  load, must never change. Then a screenshot.
  shot mode: load the page, wait until the experiment's trial table and curves
  are drawn, take a screenshot (docs/dashboard.png).

Prints one JSON object; exit status 0 on success, 1 on failure, 77 when
chromium is missing.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


class WebSocket:
    """Just enough of RFC 6455 for a DevTools client: text frames, masking, ping."""

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError("websocket handshake refused: " + head.decode(errors="replace"))

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("websocket closed")
            data += chunk
        return data

    def send(self, text, opcode=0x1):
        payload = text.encode() if isinstance(text, str) else text
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._exact(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            mask = self._exact(4) if b1 & 0x80 else None
            data = self._exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x9:
                self.send(data, 0xA)
                continue
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            message += data
            if b0 & 0x80:
                return message.decode()


class DevTools:
    def __init__(self, ws_url):
        self.ws = WebSocket(ws_url)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError("page script error: " + json.dumps(r["exceptionDetails"])[:300])
        return r["result"].get("value")

    def screenshot(self, path, width=1360):
        metrics = self.call("Page.getLayoutMetrics")
        height = int(metrics.get("cssContentSize", metrics.get("contentSize"))["height"])
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=min(max(height, 600), 4000),
                  deviceScaleFactor=1, mobile=False)
        time.sleep(0.3)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def start_chromium(binary, profile):
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--no-first-run", "--disable-dev-shm-usage", "--remote-debugging-port=0",
            f"--user-data-dir={profile}", "--window-size=1360,900", "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port_file = os.path.join(profile, "DevToolsActivePort")
    until = time.time() + 30
    while time.time() < until:
        if proc.poll() is not None:
            raise RuntimeError("chromium exited: " + proc.stderr.read().decode(errors="replace")[-500:])
        if os.path.exists(port_file):
            lines = open(port_file).read().split()
            if len(lines) >= 2:
                return proc, int(lines[0])
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("chromium wrote no DevToolsActivePort within 30 s")


def page_target(port):
    until = time.time() + 10
    while time.time() < until:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    raise RuntimeError("chromium has no page target")


ROW_STATE = """(() => {
  const row = document.getElementById('trial-row-%d');
  const p = row && row.querySelector('.progress');
  return JSON.stringify({loadId: window.__loadId || null, status: row ? row.dataset.status : null,
                         step: p ? p.dataset.step : null, title: document.getElementById('exp-title').textContent,
                         curves: document.querySelectorAll('#curves path.curve').length});
})()"""


def watch_progress(tools, args, result):
    sweep = subprocess.Popen(json.loads(args.sweep), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    result["sweep_pid"] = sweep.pid
    seen_status, steps_running, load_ids = [], [], set()
    until = time.time() + args.timeout
    try:
        while time.time() < until:
            state = json.loads(tools.evaluate(ROW_STATE % args.trial))
            load_ids.add(state["loadId"])
            if state["status"] and (not seen_status or seen_status[-1] != state["status"]):
                seen_status.append(state["status"])
            if state["status"] == "RUNNING" and state["step"] and (not steps_running or steps_running[-1] != state["step"]):
                steps_running.append(state["step"])
            if state["status"] == "COMPLETED":
                result["curves_drawn"] = state["curves"]
                break
            time.sleep(0.1)
        time.sleep(1.5)  # let the table and curves settle for the picture
        tools.screenshot(args.screenshot)
    finally:
        result["statuses_seen"] = seen_status
        result["steps_seen_while_running"] = steps_running
        result["load_ids"] = sorted(x for x in load_ids if x)
        try:
            sweep.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sweep.kill()
        result["sweep_exit"] = sweep.returncode
    problems = []
    if "RUNNING" not in seen_status:
        problems.append("the trial never showed RUNNING")
    if len(set(steps_running)) < 2:
        problems.append("the progress did not change while the trial ran")
    if not seen_status or seen_status[-1] != "COMPLETED":
        problems.append("the trial never showed COMPLETED")
    if len(result["load_ids"]) != 1:
        problems.append("the page reloaded (window.__loadId changed or vanished)")
    if result["sweep_exit"] != 0:
        problems.append("the sweep exited with %s: %s" % (result["sweep_exit"], sweep.stderr.read().decode(errors="replace")[-300:]))
    return problems


def wait_for_picture(tools, args, result):
    until = time.time() + args.timeout
    while time.time() < until:
        state = json.loads(tools.evaluate(ROW_STATE % args.trial))
        if state["status"] and state["curves"] > 0:
            break
        time.sleep(0.2)
    else:
        return ["the experiment's table and curves were not drawn"]
    if args.before_shot:  # e.g. fill and submit the generation form
        tools.evaluate(args.before_shot)
        until = time.time() + args.timeout
        while args.wait_for and time.time() < until and not tools.evaluate(args.wait_for):
            time.sleep(0.2)
    time.sleep(args.settle)
    tools.screenshot(args.screenshot)
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="the dashboard page, e.g. http://127.0.0.1:8080/#exp=NAME")
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--mode", choices=["progress", "shot"], default="progress")
    ap.add_argument("--sweep", help="progress mode: the sweep command as a JSON array, started once the page is up")
    ap.add_argument("--trial", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=40)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--before-shot", help="shot mode: JavaScript to run before the screenshot")
    ap.add_argument("--wait-for", help="shot mode: JavaScript condition to wait for after --before-shot")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    if not os.path.exists(args.chromium):
        print(json.dumps({"ok": False, "skipped": "chromium not found at " + args.chromium}))
        return 77
    result = {}
    profile = tempfile.mkdtemp(prefix="lorafarm-chromium-")
    browser = None
    try:
        browser, port = start_chromium(args.chromium, profile)
        tools = DevTools(page_target(port))
        tools.call("Page.enable")
        tools.call("Page.navigate", url=args.url)
        until = time.time() + 15
        while time.time() < until and not tools.evaluate("window.__loadId || null"):
            time.sleep(0.1)
        if args.mode == "progress":
            problems = watch_progress(tools, args, result)
        else:
            problems = wait_for_picture(tools, args, result)
    except Exception as e:  # one line for the test's failure message
        problems = [f"{type(e).__name__}: {e}"]
    finally:
        if browser:
            browser.kill()
            browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
    result["ok"] = not problems
    result["problems"] = problems
    result["screenshot"] = args.screenshot if os.path.exists(args.screenshot) else None
    print(json.dumps(result))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())

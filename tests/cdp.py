"""A small driver of Debian's headless chromium over the DevTools protocol, for the browser
tests of tests/report and tests/label: chromium runs with --remote-debugging-pipe (the
protocol's JSON messages, NUL-separated, on fds 3 and 4), so nothing but the standard
library is needed and nothing is fetched. Console errors, uncaught exceptions and the
browser's own error log entries (CSP violations, failed loads) are collected per page."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


def skip_without_chromium(what):
    """Exit 77 (CTest: skipped) with a clear message when chromium is missing."""
    if find_chromium():
        return
    print(f"SKIP: {what} needs Debian's chromium (scripts/bootstrap.sh installs it)")
    sys.exit(77)


class Browser:
    def __init__(self, width=1280, height=900):
        self.profile = tempfile.mkdtemp(prefix="pst_chromium.")
        to_r, to_w = os.pipe()      # we write, chromium reads (its fd 3)
        from_r, from_w = os.pipe()  # chromium writes (its fd 4), we read

        def fds():  # copies first: a pipe may already be fd 3 or 4, and close-on-exec
            r, w = os.dup(to_r), os.dup(from_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [find_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", "--mute-audio",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False)
        os.close(to_r)
        os.close(from_w)
        self.w, self.r = to_w, from_r
        self.buf, self.next_id, self.events = b"", 0, []
        self.width, self.height = width, height

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, session, timeout=30):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method and e.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def new_page(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        page.goto(url)
        return page


class Page:
    def __init__(self, browser, session, target):
        self.b, self.session, self.target = browser, session, target

    def goto(self, url):
        self.b.send("Page.navigate", {"url": url}, session=self.session)
        self.b.wait_event("Page.loadEventFired", self.session)

    def errors(self):
        """Console errors, uncaught exceptions and error log entries so far."""
        out = []
        for e in self.b.events:
            if e.get("sessionId") != self.session:
                continue
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p["exceptionDetails"])[:400])
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append("log: " + p["entry"]["text"])
        return out

    def eval(self, expression):
        r = self.b.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                        session=self.session)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expression, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.eval(expression):
                return True
            time.sleep(0.05)
        raise TimeoutError(f"waited {timeout} s for {expression}")

    def key(self, ch):
        """A key press as a person types it (keyDown with its text, keyUp)."""
        code = "Key" + ch.upper()
        vk = ord(ch.upper())
        self.b.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": ch, "text": ch, "code": code,
                                               "windowsVirtualKeyCode": vk}, session=self.session)
        self.b.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch, "code": code,
                                               "windowsVirtualKeyCode": vk}, session=self.session)

    def click(self, selector):
        """A mouse click at the centre of the element (pressed and released)."""
        x, y = self.eval(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                         f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for t in ("mousePressed", "mouseReleased"):
            self.b.send("Input.dispatchMouseEvent", {"type": t, "x": x, "y": y, "button": "left", "clickCount": 1},
                        session=self.session)

    def screenshot(self, full_page=False):
        """PNG bytes of the viewport (or the whole page)."""
        params = {"format": "png"}
        if full_page:
            w, h = self.eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": w, "height": min(h, 4000),
                                                            "scale": 1})
        return base64.b64decode(self.b.send("Page.captureScreenshot", params, session=self.session)["data"])


def png_ink(browser, png):
    """(fraction of pixels that are not white, distinct colours) of a PNG, measured by
    drawing it on a canvas in a blank page of the same browser."""
    page = browser.new_page("about:blank")
    data = base64.b64encode(png).decode()
    return page.eval(f"""new Promise(done => {{
        const img = new Image();
        img.onload = () => {{
            const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data;
            let ink = 0; const colours = new Set();
            for (let i = 0; i < d.length; i += 4) {{
                if (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245) ink++;
                if (colours.size < 5000) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            }}
            done([ink / (d.length / 4), colours.size]);
        }};
        img.src = 'data:image/png;base64,{data}';
    }})""")

#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol (--remote-debugging-pipe: JSON messages,
each ended by a NUL, on file descriptors 3 and 4), the way a person uses the status page: sign
in with the token, look at the communities, start a rescan, watch the progress bar reach 100 %.
Prints what it saw; exits 1 with the reason when something a person would notice is wrong.

    status-page-browser-check.py URL TOKEN_FILE SCREENSHOT EXPECT_JSON

EXPECT_JSON: {"<community id>": {"present": 9, "waiting-for-key": 1} | {"error": "<text>"}, ...}
"""
import base64, fcntl, json, os, select, shutil, subprocess, sys, tempfile, time


class Browser:
    def __init__(self):
        binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not binary:
            sys.exit("FAIL: no chromium on PATH (apt-get install chromium)")
        to_chrome, self.write_end = os.pipe()
        self.read_end, from_chrome = os.pipe()

        def wire():  # in the child: its descriptors 3 (commands in) and 4 (answers out)
            # Moved above 10 first: a pipe's own number may be 3 or 4 (dup2 onto itself would
            # keep its close-on-exec flag, and the other dup2 could overwrite it).
            high_in, high_out = fcntl.fcntl(to_chrome, fcntl.F_DUPFD, 10), fcntl.fcntl(from_chrome, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.profile = tempfile.mkdtemp(prefix="status-page-chromium-")
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--user-data-dir=" + self.profile, "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.write_end, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" not in self.buffer:
                # Waits no longer than the command's deadline for chromium to say something.
                if not select.select([self.read_end], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    sys.exit(f"FAIL: {method}: no answer in {timeout} s")
                chunk = os.read(self.read_end, 1 << 20)
                if not chunk:
                    sys.exit("FAIL: chromium closed the pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    sys.exit(f"FAIL: {method}: {answer['error']}")
                return answer.get("result", {})
        sys.exit(f"FAIL: {method}: no answer in {timeout} s")

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1200, "height": 1400, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            return None
        return result["result"].get("value")

    def wait_for(self, expression, what, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        self.screenshot(os.environ.get("FAILURE_SCREENSHOT", "status-page-failure.png"))
        sys.exit(f"FAIL: {what} (not within {seconds} s) at {self.evaluate('location.href')}; page text:\n"
                 + (self.evaluate("document.body && document.body.innerText") or ""))

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))

    def close(self):
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


# What a person sees of each community: the text of its card, its strip's cells by state, its bar.
SEEN = """(() => Array.from(document.querySelectorAll("article.community")).map(card => ({
  id: card.dataset.community,
  text: card.innerText,
  cells: Array.from(card.querySelectorAll("ol.strip li.week")).map(cell => ({
    state: cell.className.replace("week", "").trim(),
    visible: cell.getBoundingClientRect().width > 0 && getComputedStyle(cell).backgroundColor !== "rgba(0, 0, 0, 0)"})),
  progress: card.querySelector("[data-progress]").value,
  progressText: card.querySelector("[data-progress-text]").textContent,
  error: (card.querySelector("p.error") || {}).innerText || null})))()"""


def main():
    url, token_file, screenshot, expect = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    token = open(token_file).read().strip()
    browser = Browser()
    try:
        browser.open(url)
        browser.wait_for("document.readyState === 'complete' && !!document.querySelector('input[name=token]')", "the sign-in form")
        if token in (browser.evaluate("document.documentElement.outerHTML") or ""):
            sys.exit("FAIL: the sign-in page shows the token")
        browser.evaluate(f"document.querySelector('input[name=token]').value = {json.dumps(token)}; "
                         "document.querySelector('#login form').requestSubmit(); true")
        browser.wait_for("location.pathname === '/' && !!document.querySelector('#communities')", "the status page after signing in")
        if token in browser.evaluate("location.href"):
            sys.exit("FAIL: the token is in the URL")
        # The syncs run while the page is open: it shows each week as its archive is imported.
        for community, wanted in expect.items():
            weeks = {state: count for state, count in wanted.items() if state != "error"}
            browser.wait_for(f"(() => {{ const c = {SEEN}.find(c => c.id === {json.dumps(community)}); if (!c) return false; "
                             f"const weeks = {json.dumps(weeks)}; const error = {json.dumps(wanted.get('error'))}; "
                             "return Object.entries(weeks).every(([s, n]) => c.cells.filter(x => x.state === s).length === n) "
                             "&& (error === null || (c.error || '').includes(error)); })()",
                             f"community {community[:18]}… in its final state", seconds=120)
        seen = browser.evaluate(SEEN)
        for community, wanted in expect.items():
            card = next((c for c in seen if c["id"] == community), None)
            if card is None:
                sys.exit(f"FAIL: community {community} is not on the page")
            states = [cell["state"] for cell in card["cells"]]
            if not all(cell["visible"] for cell in card["cells"]):
                sys.exit(f"FAIL: {community[:18]}…: a week of the strip is not drawn")
            for state, count in wanted.items():
                if state == "error":
                    if not card["error"] or count not in card["error"]:
                        sys.exit(f"FAIL: {community[:18]}…: no error saying '{count}' (saw {card['error']!r})")
                elif states.count(state) != count:
                    sys.exit(f"FAIL: {community[:18]}…: {states.count(state)} '{state}' weeks on the strip, expected {count} ({states})")
            print(f"seen: {community[:18]}… weeks {states}; progress {card['progress']} % ({card['progressText']}); error {card['error']!r}")

        # Live progress: once the page hears the event stream, a rescan runs to 100 % on the bar.
        first = next(iter(c for c, w in expect.items() if "error" not in w))
        browser.wait_for("document.documentElement.dataset.events === 'open'", "the page's event stream")
        # The bar is set back to zero here, so only the rescan's events can bring it to 100 %.
        browser.evaluate(f"(() => {{ const c = document.querySelector('article[data-community=\"{first}\"]'); "
                         "c.querySelector('[data-progress]').value = 0; c.querySelector('[data-progress-text]').textContent = 'before the rescan'; "
                         "return true; })()")
        browser.evaluate(f"fetch('/communities/{first}/rescan', {{method: 'POST'}}).then(r => r.ok)")
        browser.wait_for(f"(() => {{ const c = {SEEN}.find(c => c.id === {json.dumps(first)}); "
                         "return c.progress === 100 && c.progressText !== 'before the rescan'; })()",
                         "the rescan's progress reaching 100 % on the bar")
        card = next(c for c in browser.evaluate(SEEN) if c["id"] == first)
        print(f"live: after a rescan the bar reads {card['progress']} % ({card['progressText']})")
        browser.screenshot(screenshot)
        print(f"screenshot: {screenshot}")
    finally:
        browser.close()


if __name__ == "__main__":
    main()

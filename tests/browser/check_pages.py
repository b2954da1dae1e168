"""Open every page of the built book in headless Chromium, offline, and check what a reader sees.

    python tests/browser/check_pages.py _build/html [--screenshots _build/screenshots]

The book is served from 127.0.0.1 by `http.server`; Chromium resolves no other host name
(`--host-resolver-rules`), so the run is the same with or without network. MathJax is served by
the book itself (`sphinx-mathjax-offline` in `_config.yml`); what only a CDN has (the ipywidgets
renderer) cannot load and is counted, not failed. For every HTML page this checks:

* console errors, uncaught exceptions and failed loads of the book's own files;
* internal links: the target file exists and, for `page.html#anchor`, the anchor exists;
* images: every local image loads (natural width > 0); output images are not empty;
* math: every `.math` element was typeset into an `mjx-container`, MathJax reported no
  error, and no raw TeX (`\\(`, `$$`, `$x$`, `\\begin{...}`) is left in the text;
* `to_jshtml` animations: the player has frames and shows the first one;
* layout, at 1280 px (a laptop) and at 390 px (a phone): no formula, table, image or animation
  is wider than the text column unless it sits in a box that scrolls sideways (then it is
  reachable, not clipped), and at 1280 px no display formula even needs that scrolling (break
  it with `aligned`); no entry of the page's contents is cut; no cell output area is
  empty (an ipywidgets view renders nothing on a static page: give it a static twin and tag
  the widget cell `remove-output`);

and saves full-page screenshots to `<screenshots>/<page>.png` and `<page>.390px.png`. It prints
one row per page and exits 1 if any check failed, 2 if it could not run.

Chromium is driven through the DevTools protocol over `--remote-debugging-pipe` (NUL-separated
JSON on file descriptors 3 and 4), so no websocket library and no open port are needed.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

WIDTH, HEIGHT = 1280, 900  # viewport of a laptop screen
PHONE_WIDTH, PHONE_HEIGHT = 390, 844  # viewport of a phone (CSS pixels)
MAX_SHOT_HEIGHT = 40_000  # px; longer pages are cut in the screenshot (the checks see all of it)
PAGE_TIMEOUT = 30.0  # s for one page to load, typeset and settle
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
BROWSER_OWN_REQUESTS = {"/favicon.ico"}  # asked for by Chromium itself, not by the book
# Errors of the toolchain the book cannot fix, matched exactly; they are counted and listed.
KNOWN_UPSTREAM = {
    # Sphinx 7.4 adds inline scripts registered after the builder starts twice (fixed in
    # Sphinx 8.2, sphinx-doc/sphinx#13402; Jupyter Book 1.x needs Sphinx 7). sphinx-thebe's
    # `const THEBE_JS_URL = ...` then fails the second time; the first copy works, so nothing
    # on the page changes.
    "uncaught: SyntaxError: Identifier 'THEBE_JS_URL' has already been declared",
}
# Jupyter Book's index.html is only <meta http-equiv="Refresh" content="0; url=book/intro.html">
REDIRECT = re.compile(
    r"""<meta\s+http-equiv=["']?refresh["']?\s+content=["']\d+;\s*url=([^"']+)["']""", re.I)

# Runs in the page once it has loaded: waits for MathJax and images, then reports what it found.
SETTLE_JS = """
(async () => {
  const limit = new Promise(resolve => setTimeout(resolve, 15000));
  const settle = (async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
    }
    if (document.fonts) { await document.fonts.ready; }
    await Promise.all(Array.from(document.images).map(img => img.complete ? null :
      new Promise(resolve => { img.addEventListener('load', resolve);
                               img.addEventListener('error', resolve); })));
  })();
  await Promise.race([settle, limit]);
  return document.documentElement.scrollHeight;
})()
"""

INSPECT_JS = r"""
(() => {
  const rendered = el => el.getClientRects().length > 0;
  const isLocal = url => { try { return ['127.0.0.1', 'localhost'].includes(new URL(url).hostname)
                                        || url.startsWith('data:'); } catch (e) { return false; } };
  const result = {links: [], ids: [], badImages: [], externalImages: 0, animations: 0,
                  badAnimations: [], widgets: 0, math: {}};
  for (const a of document.querySelectorAll('a[href]')) { result.links.push(a.href); }
  for (const el of document.querySelectorAll('[id]')) { result.ids.push(el.id); }
  for (const el of document.querySelectorAll('a[name]')) { result.ids.push(el.name); }

  for (const img of document.images) {
    const src = img.getAttribute('src');
    const inAnimation = img.closest('.animation') !== null;  // checked with its player below
    if (inAnimation) { continue; }
    if (!src) { result.badImages.push('<img> without src'); continue; }
    if (!isLocal(img.currentSrc || img.src)) { result.externalImages += 1; continue; }
    if (!img.complete || img.naturalWidth === 0) {
      result.badImages.push(src.slice(0, 120));
      continue;
    }
    const output = img.closest('.cell_output, .output');
    if (output && rendered(img)) {
      const box = img.getBoundingClientRect();
      if (box.width < 2 || box.height < 2) {
        result.badImages.push('empty output ' + src.slice(0, 80));
      }
    }
  }

  for (const div of document.querySelectorAll('div.animation')) {
    result.animations += 1;
    const img = div.querySelector('img[id^="_anim_img"]');
    const player = img ? window['anim' + img.id.slice('_anim_img'.length)] : undefined;
    const frames = player && player.frames ? player.frames.length : 0;
    const shown = img && img.getAttribute('src') && img.complete && img.naturalWidth > 0;
    if (!frames || !shown) {
      result.badAnimations.push((img ? img.id : 'animation without <img>') + ': ' + frames +
                                ' frames, first frame ' + (shown ? 'shown' : 'not shown'));
    }
  }
  result.widgets = document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]').length;

  // Math: Sphinx and MyST put every formula in a .math element for MathJax to replace.
  const mathElements = Array.from(document.querySelectorAll('.math'));
  const raw = [];
  const rawTex = new RegExp(String.raw`\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|` +
                            String.raw`(?:^|[^\w$\\])\$(?:[^$\s]|[^$\s][^$\n]{0,200}?[^$\s\\])\$(?![\w$])`);
  const tex = /[\\^_{}]|^\S{1,3}$/;
  const skip = 'script, style, pre, code, textarea, kbd, samp, mjx-container, .highlight, ' +
               '.MathJax, [data-mjx-error], .headerlink';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue;
    if (!text || !(text.includes('$') || text.includes('\\'))) { continue; }
    if (node.parentElement && node.parentElement.closest(skip)) { continue; }
    const match = text.match(rawTex);
    if (!match) { continue; }
    if (match[0].includes('$') && !match[0].includes('$$')) {
      const inner = match[0].slice(match[0].indexOf('$') + 1, -1);
      if (!tex.test(inner)) { continue; }  // "$5 and $10" is money, not math
    }
    const at = Math.max(0, match.index - 30);
    raw.push(text.slice(at, match.index + match[0].length + 30).replace(/\s+/g, ' '));
  }
  const loader = document.querySelector('script[src*="mathjax" i]');
  result.math = {
    source: loader ? loader.src : '',
    elements: mathElements.length,
    typeset: mathElements.filter(el => el.querySelector('mjx-container')).length,
    containers: document.querySelectorAll('mjx-container').length,
    errors: document.querySelectorAll('mjx-merror, [data-mjx-error], .MathJax_Error').length,
    mathjax: Boolean(window.MathJax && window.MathJax.startup),
    raw: raw.slice(0, 5),
  };
  return result;
})()
"""

# Runs in the page at the current width: what a reader could not see or reach.
LAYOUT_JS = r"""
(() => {
  const rendered = el => el.getClientRects().length > 0;
  const column = document.querySelector('.bd-article') || document.querySelector('main')
                 || document.body;
  const col = column.getBoundingClientRect();
  const overflowX = el => getComputedStyle(el).overflowX;
  const describe = el => {
    const label = el.closest('section[id]');
    const text = (el.getAttribute('aria-label') || el.textContent || el.getAttribute('src') || '')
      .replace(/\s+/g, ' ').trim().slice(0, 60);
    return `${el.tagName.toLowerCase()}${label ? ' in #' + label.id : ''}: "${text}"`;
  };
  const clipped = [];
  const candidates = column.querySelectorAll(
    'mjx-container, table, div.animation, div.animation button, div.animation input, img');
  for (const el of candidates) {
    if (!rendered(el)) { continue; }
    const r = el.getBoundingClientRect();
    if (r.width < 1) { continue; }
    let problem = '';
    let scroller = null;
    for (let a = el; a && a !== column; a = a.parentElement) {
      const o = overflowX(a);
      if (o === 'auto' || o === 'scroll') { scroller = a; break; }
      if (a !== el && (o === 'hidden' || o === 'clip')) {
        const ar = a.getBoundingClientRect();
        if (r.right > ar.right + 1 || r.left < ar.left - 1) {
          problem = `${Math.round(r.width)} px wide, cut by a ${Math.round(ar.width)} px box`;
          break;
        }
      }
    }
    const box = scroller ? scroller.getBoundingClientRect() : r;
    if (!problem && (box.right > col.right + 1 || box.left < col.left - 1)) {
      problem = `${Math.round(box.width)} px wide in a ${Math.round(col.width)} px column`;
    }
    if (problem) { clipped.push(`${describe(el)} (${problem})`); }
  }
  // On a laptop screen a display formula should fit without scrolling (break it with aligned).
  const scrolled = [];
  if (window.innerWidth >= 1000) {
    for (const m of column.querySelectorAll('mjx-container[display="true"]')) {
      if (rendered(m) && m.scrollWidth > m.clientWidth + 1) {
        scrolled.push(`${describe(m)} (${m.scrollWidth} px in ${m.clientWidth} px)`);
      }
    }
  }
  const cutEntries = [];
  for (const a of document.querySelectorAll('.bd-sidebar-secondary .nav-link, .bd-toc-nav a')) {
    if (rendered(a) && a.scrollWidth > a.clientWidth + 1 && overflowX(a) !== 'auto') {
      cutEntries.push(a.textContent.replace(/\s+/g, ' ').trim().slice(0, 60));
    }
  }
  const emptyOutputs = [];
  for (const out of column.querySelectorAll('.cell_output')) {
    if (!rendered(out)) { continue; }
    const visible = out.innerText.trim() !== '' ||
      out.querySelector('img, svg, canvas, iframe, video, table, mjx-container');
    const r = out.getBoundingClientRect();
    if (!visible || r.height < 2) {
      const cell = out.closest('.cell');
      const code = cell ? (cell.querySelector('.cell_input') || cell).innerText : '';
      emptyOutputs.push(code.replace(/\s+/g, ' ').trim().slice(0, 60));
    }
  }
  return {clipped: clipped.slice(0, 10), clippedCount: clipped.length, scrolled: scrolled,
          cutEntries: cutEntries.slice(0, 5), emptyOutputs: emptyOutputs.slice(0, 5)};
})()
"""


class Chromium:
    """A headless Chromium driven by the DevTools protocol over --remote-debugging-pipe."""

    def __init__(self, binary: str, profile: str, log: Path) -> None:
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--disable-dev-shm-usage",
            "--no-default-browser-check", "--mute-audio", "--hide-scrollbars",
            "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--window-size={WIDTH},{HEIGHT}", "--force-device-scale-factor=1",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank",
        ]
        # Chromium reads commands on fd 3 and writes replies on fd 4. A tiny Python trampoline
        # puts our pipe ends there and execs Chromium (a shell cannot redirect fds above 9).
        # Moving the ends above 10 first means neither dup2 can clobber the other.
        def high(fd: int) -> int:
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            return moved

        cmd_read, cmd_write = map(high, os.pipe())
        reply_read, reply_write = map(high, os.pipe())
        trampoline = ("import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); "
                      "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w); "
                      "os.execv(sys.argv[3], sys.argv[3:])")
        self.log = log
        self._log = open(log, "wb")  # closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-c", trampoline, str(cmd_read), str(reply_write), binary, *args],
            pass_fds=(cmd_read, reply_write),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        os.close(cmd_read)
        os.close(reply_write)
        self._out = os.fdopen(cmd_write, "wb", buffering=0)
        self._in = os.fdopen(reply_read, "rb", buffering=0)
        self._messages: queue.Queue[dict | None] = queue.Queue()
        self._next_id = 0
        self.events: list[dict] = []  # events seen while waiting, oldest first
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while chunk := self._in.read(1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))
        self._messages.put(None)  # Chromium closed the pipe

    def _next(self, deadline: float) -> dict:
        try:
            message = self._messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError("no answer from Chromium") from None
        if message is None:
            tail = self.log.read_bytes()[-2000:].decode(errors="replace").strip()
            raise RuntimeError(f"Chromium exited; the end of {self.log}:\n{tail}")
        return message

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = PAGE_TIMEOUT) -> dict:
        self._next_id += 1
        request: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        self._out.write(json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float = PAGE_TIMEOUT) -> None:
        """Wait until event `method` arrives (it may already have)."""
        if any(event["method"] == method for event in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                message = self._next(deadline)
            except TimeoutError:
                return
            if "method" in message:
                self.events.append(message)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class _Handler(SimpleHTTPRequestHandler):
    failures: list[tuple[str, int]] = []  # (path, status) of every request that failed

    def log_message(self, format: str, *args: object) -> None:  # quiet, but remember failures
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, int) and code >= 400:
            self.failures.append((self.path, code))


class _Ids(HTMLParser):
    """Every id= and <a name=> of a static HTML file (for pages the browser did not open)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value and (key == "id" or (tag == "a" and key == "name")):
                self.ids.add(value)


@dataclass
class PageReport:
    page: str
    console: list[str] = field(default_factory=list)  # errors the book itself caused
    external: list[str] = field(default_factory=list)  # CDN / other hosts: counted, not failed
    known: list[str] = field(default_factory=list)  # KNOWN_UPSTREAM errors: counted, not failed
    redirect: str = ""  # a page that only redirects (meta refresh) is checked as a link
    links: list[str] = field(default_factory=list)  # raw hrefs, checked after all pages ran
    broken_links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    images: list[str] = field(default_factory=list)
    animations: int = 0
    bad_animations: list[str] = field(default_factory=list)
    widgets: int = 0
    math: dict = field(default_factory=dict)
    math_problems: list[str] = field(default_factory=list)
    layout: list[str] = field(default_factory=list)  # clipped elements, cut entries, empty outputs
    screenshot: str = ""
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.console or self.broken_links or self.images or self.bad_animations
                    or self.math_problems or self.layout or self.error
                    or not (self.screenshot or self.redirect))


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS


def _classify(events: list[dict], session: str, report: PageReport) -> None:
    """Sort the page's console, log and network events into the book's errors and external."""
    requests: dict[str, str] = {}
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            requests[params["requestId"]] = params["request"]["url"]
            continue
        if method == "Network.loadingFailed":
            if params.get("canceled"):
                continue
            url = requests.get(params["requestId"], "?")
            message, url_for_class = f"failed to load {url}: {params.get('errorText')}", url
        elif method == "Network.responseReceived":
            status = params["response"]["status"]
            if status < 400:
                continue
            url = params["response"]["url"]
            message, url_for_class = f"HTTP {status} for {url}", url
        elif method == "Runtime.consoleAPICalled":
            if params["type"] not in ("error", "assert"):
                continue
            texts = [str(arg.get("value", arg.get("description", ""))) for arg in params["args"]]
            frames = params.get("stackTrace", {}).get("callFrames", [])
            url_for_class = frames[0]["url"] if frames else ""
            message = "console.error: " + " ".join(texts)
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            url_for_class = details.get("url", "")
            message = f"uncaught: {text.splitlines()[0] if text else '?'}"
        elif method == "Log.entryAdded":
            entry = params["entry"]
            if entry["level"] != "error" or entry.get("source") == "network":
                continue  # network failures arrive through Network.* above
            url_for_class = entry.get("url", "")
            message = f"{entry.get('source')}: {entry['text']}"
        else:
            continue
        # An error from, or about, another host (a CDN script, require.js's help page) is external.
        words = [w.strip("'\"()[]<>,;") for w in message.split()] + [url_for_class]
        urls = [w for w in words if w.startswith(("http://", "https://"))]
        if any(not _is_local(url) for url in urls):
            report.external.append(message[:200])
        elif message in KNOWN_UPSTREAM:
            report.known.append(message)
        elif urlsplit(url_for_class).path in BROWSER_OWN_REQUESTS:
            continue
        else:
            report.console.append(message[:300])


def _check_math(report: PageReport) -> None:
    math = report.math
    if math["elements"] or math["raw"]:
        if math["source"] and not _is_local(math["source"]):
            report.math_problems.append(
                f"MathJax comes from {math['source']}, not from the book: is "
                "sphinx-mathjax-offline in _config.yml's extra_extensions, and is _build/html "
                "up to date?")
        elif not math["mathjax"]:
            report.math_problems.append("MathJax did not load")
        if math["typeset"] < math["elements"]:
            report.math_problems.append(
                f"{math['elements'] - math['typeset']} of {math['elements']} formulas not typeset")
    if math["errors"]:
        report.math_problems.append(f"{math['errors']} MathJax error nodes")
    for text in math["raw"]:
        report.math_problems.append(f"raw TeX: ...{text}...")


def _check_links(reports: list[PageReport], root: Path, origin: str) -> None:
    ids = {report.page: report.ids for report in reports}
    static_ids: dict[str, set[str]] = {}
    for report in reports:
        for href in dict.fromkeys(report.links):
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" != origin:
                continue  # another site, mailto:, javascript:
            path = unquote(parts.path).lstrip("/")
            if path == "" or path.endswith("/"):
                path += "index.html"
            target = root / path
            if not target.is_file():
                report.broken_links.append(f"{href} (no file {path})")
                continue
            if not parts.fragment or not path.endswith(".html"):
                continue
            known = ids.get(path)
            if known is None:
                if path not in static_ids:
                    parser = _Ids()
                    parser.feed(target.read_text(encoding="utf-8", errors="replace"))
                    static_ids[path] = parser.ids
                known = static_ids[path]
            if unquote(parts.fragment) not in known:
                report.broken_links.append(f"{href} (no anchor #{parts.fragment} in {path})")


def _check_page(browser: Chromium, session: str, url: str, report: PageReport,
                shot: Path) -> None:
    browser.events.clear()
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
                 session)
    browser.send("Page.navigate", {"url": url}, session)
    browser.wait_for("Page.loadEventFired")
    height = browser.send("Runtime.evaluate", {"expression": SETTLE_JS, "awaitPromise": True,
                                               "returnByValue": True}, session)
    height = int(height.get("result", {}).get("value") or HEIGHT)
    # Make the viewport as tall as the page: lazy content loads, and one screenshot shows it all.
    shot_height = max(HEIGHT, min(height, MAX_SHOT_HEIGHT))
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": WIDTH, "height": shot_height, "deviceScaleFactor": 1, "mobile": False},
                 session)
    browser.send("Runtime.evaluate", {"expression": SETTLE_JS, "awaitPromise": True}, session)
    browser.drain(0.3)
    found = browser.send("Runtime.evaluate", {"expression": INSPECT_JS, "returnByValue": True},
                         session)
    if "exceptionDetails" in found:
        raise RuntimeError(f"page inspection failed: {found['exceptionDetails']}")
    found = found["result"]["value"]
    report.links, report.ids = found["links"], set(found["ids"])
    report.images = found["badImages"]
    report.animations, report.bad_animations = found["animations"], found["badAnimations"]
    report.widgets, report.math = found["widgets"], found["math"]
    if found["externalImages"]:
        report.external.append(f"{found['externalImages']} images from other hosts")
    _check_math(report)
    _check_layout(browser, session, report, WIDTH)
    png = browser.send("Page.captureScreenshot", {"format": "png"}, session)
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.write_bytes(base64.b64decode(png["data"]))
    report.screenshot = str(shot) + (" (cut)" if height > MAX_SHOT_HEIGHT else "")
    # The same page on a phone: a narrow, mobile viewport as tall as the (now longer) page.
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": PHONE_WIDTH, "height": PHONE_HEIGHT, "deviceScaleFactor": 1,
                  "mobile": True}, session)
    phone_height = browser.send("Runtime.evaluate", {"expression": SETTLE_JS,
                                                     "awaitPromise": True, "returnByValue": True},
                                session)
    phone_height = int(phone_height.get("result", {}).get("value") or PHONE_HEIGHT)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": PHONE_WIDTH, "height": max(PHONE_HEIGHT, min(phone_height,
                                                                        MAX_SHOT_HEIGHT)),
                  "deviceScaleFactor": 1, "mobile": True}, session)
    browser.drain(0.3)
    _check_layout(browser, session, report, PHONE_WIDTH)
    png = browser.send("Page.captureScreenshot", {"format": "png"}, session)
    shot.with_name(shot.stem + ".390px.png").write_bytes(base64.b64decode(png["data"]))
    _classify(browser.events, session, report)


def _check_layout(browser: Chromium, session: str, report: PageReport, width: int) -> None:
    """Clipped elements, cut contents entries and empty output areas at the current width."""
    found = browser.send("Runtime.evaluate", {"expression": LAYOUT_JS, "returnByValue": True},
                         session)
    if "exceptionDetails" in found:
        raise RuntimeError(f"layout inspection failed: {found['exceptionDetails']}")
    found = found["result"]["value"]
    for item in found["clipped"]:
        report.layout.append(f"{width} px: clipped {item}")
    if found["clippedCount"] > len(found["clipped"]):
        report.layout.append(f"{width} px: ... {found['clippedCount']} clipped elements in all")
    for item in found["scrolled"]:
        report.layout.append(f"{width} px: display formula needs sideways scrolling: {item}")
    for entry in found["cutEntries"]:
        report.layout.append(f"{width} px: contents entry cut: {entry}")
    for code in found["emptyOutputs"]:
        report.layout.append(f"{width} px: empty output area below the cell: {code}")


def find_chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in CHROMIUM_CANDIDATES:
        if path := shutil.which(name):
            return path
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path,
                        help="where PNGs go (default: screenshots/ beside the html folder)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list the external (CDN) errors")
    args = parser.parse_args(argv)
    root: Path = args.html.resolve()
    shots: Path = (args.screenshots or root.parent / "screenshots").resolve()
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                   if not p.relative_to(root).parts[0].startswith(("_static", "_sources")))
    if not pages:
        print(f"check_pages: no HTML pages under {root}; build the book first", file=sys.stderr)
        return 2
    binary = find_chromium()
    if binary is None:
        print("check_pages: Chromium not found (apt-get install chromium, or set CHROMIUM)",
              file=sys.stderr)
        return 2

    start = time.monotonic()
    _Handler.failures = []
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    reports = [PageReport(page) for page in pages]
    with tempfile.TemporaryDirectory(prefix="check_pages_") as profile:
        browser = Chromium(binary, profile, shots / "chromium.log")
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.send("Target.attachToTarget",
                                   {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                browser.send(f"{domain}.enable", {}, session)
            browser.send("Network.setCacheDisabled", {"cacheDisabled": False}, session)
            for report in reports:
                html = (root / report.page).read_text(encoding="utf-8", errors="replace")
                if (redirect := REDIRECT.search(html[:2000])) and "<body" not in html:
                    report.redirect = redirect.group(1)
                    report.links = [urljoin(f"{origin}/{report.page}", report.redirect)]
                    continue
                shot = shots / (report.page.removesuffix(".html") + ".png")
                try:
                    _check_page(browser, session, f"{origin}/{report.page}", report, shot)
                except (RuntimeError, TimeoutError, KeyError, OSError) as error:
                    report.error = f"{type(error).__name__}: {error}"
        finally:
            browser.close()
            server.shutdown()
    _check_links(reports, root, origin)
    server_failures = sorted(f for f in set(_Handler.failures)
                             if urlsplit(f[0]).path not in BROWSER_OWN_REQUESTS)

    rows = [("page", "console errors", "broken links", "bad images", "math ok", "layout ok",
             "animations", "external/known", "screenshot")]
    for r in reports:
        math = r.math or {}
        math_ok = "n/a" if not (math.get("elements") or r.math_problems) else (
            "no" if r.math_problems else f"yes ({math['typeset']})")
        rows.append((r.page, str(len(r.console)), str(len(r.broken_links)), str(len(r.images)),
                     math_ok, "n/a" if not r.screenshot else ("no" if r.layout else "yes"),
                     f"{r.animations - len(r.bad_animations)}/{r.animations}",
                     f"{len(r.external)}/{len(r.known)}",
                     ("saved (cut)" if r.screenshot.endswith("(cut)") else "saved") if r.screenshot
                     else f"-> {r.redirect}" if r.redirect else "MISSING"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))

    failed = [r for r in reports if r.failed]
    for r in reports:
        problems = ([f"error: {r.error}"] if r.error else []) + \
            [f"console: {m}" for m in r.console] + [f"link: {m}" for m in r.broken_links] + \
            [f"image: {m}" for m in r.images] + [f"animation: {m}" for m in r.bad_animations] + \
            [f"math: {m}" for m in r.math_problems] + [f"layout: {m}" for m in r.layout] + \
            ([f"external: {m}" for m in r.external] if args.verbose else []) + \
            ([f"known upstream: {m}" for m in r.known] if args.verbose else [])
        if problems:
            print(f"\n{r.page}:")
            for problem in problems:
                print(f"  {problem}")
    if server_failures:
        print("\nrequests the server could not answer:")
        for path, status in server_failures:
            print(f"  {status} {path}")
    external = sum(len(r.external) for r in reports)
    known = sum(len(r.known) for r in reports)
    widgets = sum(r.widgets for r in reports)
    print(f"\n{len(reports)} pages in {time.monotonic() - start:.1f} s; screenshots in {shots}.\n"
          f"Not failed, counted: {external} errors from other hosts (CDN, unreachable offline), "
          f"{known} known upstream errors (-v lists both); {widgets} ipywidgets views need the "
          f"CDN and are not rendered offline.")
    if failed or server_failures:
        print(f"FAILED: {len(failed)} pages with problems"
              + (f", {len(server_failures)} missing files" if server_failures else ""))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

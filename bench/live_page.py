"""Live pages in headless Chromium: how busy the page's main thread is and how late rows reach the DOM.

    .venv/bin/python bench/live_page.py [--seconds S] [--rates 100,1000] [--pages tail,follow,group]
                                        [--before REV|DIR] [--rounds N]

Starts its own redis-server (free port, temporary directory, persistence off) and a real daphne
serving weatherstreams.asgi (its own SQLite database, one user; bench/_common.py), and stops
them at the end, also on Ctrl-C or failure. It never touches a Redis, a database or a server it
did not start.

One headless Chromium (/usr/bin/chromium, through Playwright, logged in through the form) opens
one page at a time, 1280×900:

  tail    the live tail, /streams/<s>/live/ (newest first, WEATHERSTREAMS_LIVE_ROWS rows kept);
  follow  the stream page that follows new entries, /streams/<s>/?order=desc;
  group   a consumer group's page, /streams/<s>/groups/<g>/: its "processed just now" rows,
          fed by processing reports this benchmark writes itself as a worker would
          (weatherstreams:processed:<g>, one report per tick of the producer), no real worker.

A producer (another process) XADDs at a fixed rate for --seconds, each entry carrying the
wall-clock time it was sent (`sent_ms`, just before its XADD; late ticks are sent together in
one pipeline). In the page a MutationObserver on the table's body records when each row is
inserted (performance.timeOrigin + performance.now()): row in the DOM = insertion time −
sent_ms; and when the frame that shows it has been rendered ("painted": the first task after
that frame's rendering, the same frame when the page inserts rows in its animation-frame
callbacks, the next one when it inserts them as messages arrive; a plain requestAnimationFrame
after the insertion would count one frame too many for the first kind). The renderer's main
thread busy fraction is Chrome's own TaskDuration (CDP Performance.getMetrics) over the
producing time, which also counts the time a busy machine keeps the thread waiting for a
core; its CPU time (/proc, the renderer's first thread) does not. A 100 ms timer measures how
late the main thread answers (responsiveness). At the end the table is checked against Redis:
exactly the newest rows it keeps, in order, none twice.

Each page and rate runs twice in the same run, alternated: "before", the page scripts and
stylesheet of --before (a git revision, read with `git show`, or a directory holding live.js,
follow.js, socket.js and app.css; default: the commit before the per-frame batching), and
"after", those files as they are in this checkout when the run starts. Both are served to the
browser in place of the app's own files by Playwright's request routing (the same way for
both, and an edit of the checkout during the run changes nothing); the templates and the
server are the same for both. --rounds N repeats every pair and reports the median of each
figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    PASSWORD,
    ROOT,
    USERNAME,
    DaphneApp,
    PrivateRedis,
    Processes,
    cpu_seconds,
    descendants,
    load_note,
    machine,
    percentile,
    raise_keyboard_interrupt_on_sigterm,
    shown_command,
)

# The commit before the live pages batched their DOM updates per animation frame.
BEFORE_REVISION = "e75fc51"
PAGE_FILES = ("live.js", "follow.js", "socket.js", "app.css")
STATIC = "streams_app/static/streams_app"
GROUP = "benchgroup"
GOAL_BUSY = 0.50
GOAL_P99_MS = 50.0
DRAIN_SECONDS = 2.0
VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


# --- the producer's process --------------------------------------------------------------


def run_producer(redis_url: str, stream: str, rate: float, seconds: float, reports: bool) -> None:
    """XADD `rate` entries a second for `seconds`; with `reports`, also one processing report a
    tick on GROUP's reports stream listing that tick's entries, as a worker's batch would."""
    import redis

    client = redis.Redis.from_url(redis_url)
    key = stream.encode()
    reports_key = f"weatherstreams:processed:{GROUP}"
    total = int(rate * seconds)
    sent = late = 0
    print("go", flush=True)
    started = time.perf_counter()
    while sent < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        if due <= sent:
            time.sleep(max(0.0, started + sent / rate - time.perf_counter()))
            continue
        late += due - sent - 1  # a tick came late: the overdue entries go out together
        pipe = client.pipeline(transaction=False)
        batch = []
        for seq in range(sent, due):
            fields = {"sent_ms": f"{time.time() * 1000:.3f}", "seq": str(seq), "temperature": "21.5"}
            pipe.xadd(key, fields)
            batch.append(fields)
        ids = [entry_id.decode() for entry_id in pipe.execute()]
        if reports:
            events = [
                {"stream": stream, "id": entry_id, "fields": fields, "ms": 0.1, "deliveries": 1, "ok": True}
                for entry_id, fields in zip(ids, batch, strict=True)
            ]
            client.xadd(
                reports_key,
                {"consumer": "alice", "processed": str(len(events)), "failed": "0", "entries": json.dumps(events)},
                maxlen=10_000,
                approximate=True,
            )
        sent = due
    elapsed = time.perf_counter() - started
    print(json.dumps({"sent": sent, "seconds": elapsed, "rate": sent / elapsed, "late": late}), flush=True)


# --- what runs in the page ----------------------------------------------------------------

# Every page, before its own scripts: each WebSocket message's arrival, per entry it carries.
WS_HOOK_JS = """
(() => {
  window.__benchMessages = [];
  const Native = window.WebSocket;
  function Hooked(...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (event) => {
      if (!window.__benchHooked) return;
      window.__benchFrames = (window.__benchFrames || 0) + 1;
      const now = performance.timeOrigin + performance.now();
      let data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type !== 'entries' && data.type !== 'processed') return;
      for (const entry of data.entries) {
        const sent = Number(entry.fields && entry.fields.sent_ms);
        if (sent >= window.__benchHooked) window.__benchMessages.push(now - sent);
      }
    });
    return socket;
  }
  Hooked.prototype = Native.prototype;
  Object.assign(Hooked, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Hooked;
  // Whether the page is in an animation frame's callbacks: from the first callback of a frame
  // until the first task after that frame's rendering (a message posted then runs after it).
  window.__benchInFrame = false;
  const frameEnd = new MessageChannel();
  frameEnd.port1.onmessage = () => { window.__benchInFrame = false; };
  const nativeFrame = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) => nativeFrame((time) => {
    if (!window.__benchInFrame) { window.__benchInFrame = true; frameEnd.port2.postMessage(0); }
    callback(time);
  });
})();
"""

# Rows as they are inserted and as they are painted; a 100 ms timer's lateness; long tasks.
OBSERVER_JS = """
(selector) => {
  const hooked = performance.timeOrigin + performance.now();
  window.__benchHooked = hooked;
  window.__benchRows = [];
  window.__benchTimerLate = [];
  window.__benchLongTasks = [];
  new PerformanceObserver((list) => {
    for (const task of list.getEntries()) window.__benchLongTasks.push(task.duration);
  }).observe({ type: 'longtask' });
  let due = performance.now() + 100;
  window.__benchTimer = setInterval(() => {
    const now = performance.now();
    window.__benchTimerLate.push(Math.max(0, now - due));
    due = now + 100;
  }, 100);
  const body = document.querySelector(selector);
  new MutationObserver((records) => {
    const now = performance.timeOrigin + performance.now();
    const batch = [];
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        for (const pair of node.querySelectorAll('.field-pair')) {
          if (pair.querySelector('.field-name').textContent !== 'sent_ms') continue;
          const sent = Number(pair.querySelector('.field-value').textContent);
          if (sent >= hooked) batch.push([sent, now - sent, null]);
        }
      }
    }
    if (!batch.length) return;
    window.__benchRows.push(...batch);
    // Painted: the first task after the rendering of the frame that shows the rows (this frame,
    // when they were inserted in its callbacks; else the next one), whichever way a page inserts.
    const painted = () => {
      const after = new MessageChannel();
      after.port1.onmessage = () => {
        const time = performance.timeOrigin + performance.now();
        for (const row of batch) row[2] = time - row[0];
      };
      after.port2.postMessage(0);
    };
    if (window.__benchInFrame) painted(); else requestAnimationFrame(painted);
  }).observe(body, { childList: true });
}
"""


class PageKind:
    def __init__(self, name: str, path: str, body: str, ready: str, row_id: str, kept: str) -> None:
        self.name, self.path, self.body, self.ready, self.row_id, self.kept = name, path, body, ready, row_id, kept


PAGES = {
    "tail": PageKind(
        "live tail", "/streams/{stream}/live/", "section[data-live='tail'] tbody",
        "[data-live-status][data-kind=ok]", "data-id", "section[data-live='tail']@data-max-rows",
    ),
    "follow": PageKind(
        "stream page, following", "/streams/{stream}/?order=desc", "table.entries tbody",
        ".follow-bar [data-live-status][data-kind=ok]", "data-id", "[data-follow]@data-keep",
    ),
    "group": PageKind(
        "group page, processed", "/streams/{stream}/groups/" + GROUP + "/", "[data-processed] tbody",
        "[data-live-status][data-kind=ok]", "data-processed-id", "section[data-live='group']@data-max-rows",
    ),
}  # fmt: skip


def page_files(source: str) -> dict[str, bytes]:
    """The page files of a version: from a directory, or a git revision (read-only `git show`)."""
    directory = Path(source)
    if directory.is_dir():
        return {name: (directory / name).read_bytes() for name in PAGE_FILES}
    found = {}
    for name in PAGE_FILES:
        shown = subprocess.run(["git", "show", f"{source}:{STATIC}/{name}"], cwd=ROOT, capture_output=True)
        if shown.returncode != 0:
            raise SystemExit(f"--before {source}: cannot read {STATIC}/{name}: {shown.stderr.decode().strip()}")
        found[name] = shown.stdout
    return found


class Bench:
    def __init__(self, processes: Processes, server: PrivateRedis, app: DaphneApp, seconds: float) -> None:
        self.processes = processes
        self.server = server
        self.app = app
        self.seconds = seconds
        self.serial = 0
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def fresh_stream(self, kind: str) -> str:
        """A stream of its own for each pass (so every page starts from the same small stream)."""
        self.serial += 1
        stream = f"bench{self.serial}"
        client = self.server.client()
        client.xadd(stream, {"note": "the stream this pass watches"})
        if kind == "group":
            client.xgroup_create(stream, GROUP, id="$")
        return stream

    def produce(self, stream: str, rate: float, reports: bool, on_start, on_end) -> dict:
        producer = self.processes.spawn(
            "producer",
            [sys.executable, str(Path(__file__).resolve()), "--child-producer", "--redis-url", self.server.url,
             "--stream", stream, "--rate", str(rate), "--seconds", str(self.seconds),
             *(["--reports"] if reports else [])],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            if read_line(producer, 60) != "go":
                raise RuntimeError(f"the producer did not start:\n{producer.stderr.read()}")
            on_start()
            result = read_line(producer, self.seconds + 60)
            on_end()
            producer.wait(timeout=10)
        finally:
            self.processes.stop(producer)
        if producer.returncode != 0 or not result:
            raise RuntimeError(f"the producer failed:\n{producer.stderr.read()}")
        return json.loads(result)

    def run_pass(self, browser, kind: str, rate: float, files: dict[str, bytes]) -> dict:
        page_kind = PAGES[kind]
        stream = self.fresh_stream(kind)
        context = browser.new_context(viewport=VIEWPORT, base_url=self.app.url)
        try:
            for name, body in files.items():
                kind_of = "text/css" if name.endswith(".css") else "text/javascript"
                context.route(f"**/static/streams_app/{name}", serve(body, kind_of))
            context.add_init_script(WS_HOOK_JS)
            page = context.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            target = page_kind.path.format(stream=stream)
            page.goto(f"/accounts/login/?next={target}")
            page.fill("#id_username", USERNAME)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"**{target}")
            page.wait_for_selector(page_kind.ready)
            selector, attribute = page_kind.kept.split("@")
            kept = int(page.get_attribute(selector, attribute))
            page.evaluate(OBSERVER_JS, page_kind.body)
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            marks: dict[str, float | dict] = {}
            renderer, chromium = chromium_processes()

            def start() -> None:
                marks["metrics"] = metrics(cdp)
                marks["cpu"] = {pid: cpu_seconds(pid) for pid in renderer}
                marks["chromium"] = {pid: cpu_seconds(pid) for pid in chromium}
                marks["main_cpu"] = {pid: main_thread_cpu_seconds(pid) for pid in renderer}
                marks["t"] = time.perf_counter()

            def end() -> None:
                marks["elapsed"] = time.perf_counter() - marks["t"]
                marks["metrics_after"] = metrics(cdp)
                marks["cpu_after"] = {pid: cpu_seconds(pid) for pid in renderer}
                marks["chromium_after"] = {pid: cpu_seconds(pid) for pid in chromium}
                marks["main_cpu_after"] = {pid: main_thread_cpu_seconds(pid) for pid in renderer}

            sent = self.produce(stream, rate, kind == "group", start, end)
            page.wait_for_timeout(DRAIN_SECONDS * 1000)
            rows = page.evaluate("window.__benchRows")
            messages = page.evaluate("window.__benchMessages")
            frames = page.evaluate("window.__benchFrames || 0")
            timer_late = page.evaluate("window.__benchTimerLate")
            long_tasks = page.evaluate("window.__benchLongTasks")
            shown = page.eval_on_selector_all(
                f"{page_kind.body} tr", f"rows => rows.map(r => r.getAttribute('{page_kind.row_id}'))"
            )
        finally:
            context.close()
        elapsed = marks["elapsed"]
        before, after = marks["metrics"], marks["metrics_after"]
        busy = {name: (after[name] - before[name]) / elapsed for name in METRICS}
        cpu = used(marks["cpu"], marks["cpu_after"]) / elapsed
        main_cpu = used(marks["main_cpu"], marks["main_cpu_after"]) / elapsed
        newest = [entry_id.decode() for entry_id, _ in self.server.client().xrevrange(stream, count=kept)]
        return {
            "sent": sent["sent"],
            "produced_rate": sent["rate"],
            "late": sent["late"],
            "busy": busy,
            "renderer_cpu": cpu,
            "chromium_cpu": used(marks["chromium"], marks["chromium_after"]) / elapsed,
            "main_thread_cpu": main_cpu,
            "dom": stats(sorted(row[1] for row in rows)),
            "frame": stats(sorted(row[2] for row in rows if row[2] is not None)),
            "message": stats(sorted(messages)),
            "rows_built": len(rows),
            "messages_per_s": frames / (elapsed + DRAIN_SECONDS),
            "timer_late": stats(sorted(timer_late)),
            "long_tasks": len(long_tasks),
            "long_task_ms": sum(long_tasks),
            "kept": kept,
            "ends_right": shown == newest,
            "shown": len(shown),
            "duplicates": len(shown) - len(set(shown)),
            "errors": errors,
        }


def serve(body: bytes, content_type: str):
    """A Playwright route handler answering with `body` instead of the app's file."""

    def handle(route, request) -> None:
        route.fulfill(body=body, content_type=content_type)

    return handle


METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def metrics(cdp) -> dict:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def chromium_processes() -> tuple[list[int], list[int]]:
    """Chromium's renderer processes and all its processes (browser, GPU, network, renderers),
    found below this process in /proc, for their CPU."""
    renderers, everything = [], []
    for pid in descendants(os.getpid()):
        try:
            command = b" ".join(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))
        except OSError:
            continue
        if b"chromium" not in command:
            continue
        everything.append(pid)
        if b"--type=renderer" in command:  # Chromium rewrites its argv into one string
            renderers.append(pid)
    return renderers, everything


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings, by the processes alive at both."""
    spent = (after[pid] - before[pid] for pid in before)
    return sum(seconds for seconds in spent if seconds >= 0)


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of a process's first thread (a Chromium renderer's main thread), from /proc (Linux):
    unlike Chrome's task durations, it does not grow while the thread waits for a core."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(ordered: list[float]) -> dict:
    return {
        "samples": len(ordered),
        "p50": percentile(ordered, 0.5),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else float("nan"),
    }


def read_line(process: subprocess.Popen, timeout: float) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        raise RuntimeError(f"no answer from the producer within {timeout} s")
    return found[0].strip()


# --- report ----------------------------------------------------------------------------------


def median_of(results: list[dict], path: tuple[str, ...]) -> float:
    values = []
    for result in results:
        value = result
        for part in path:
            value = value[part]
        values.append(value)
    return statistics.median(values)


FIGURES = [
    ("busy", ("busy", "TaskDuration"), "{:.0%}"),
    ("script", ("busy", "ScriptDuration"), "{:.0%}"),
    ("layout", ("busy", "LayoutDuration"), "{:.0%}"),
    ("style", ("busy", "RecalcStyleDuration"), "{:.0%}"),
    ("DOM p50", ("dom", "p50"), "{:.1f}"),
    ("DOM p99", ("dom", "p99"), "{:.1f}"),
    ("DOM max", ("dom", "max"), "{:.1f}"),
    ("painted p99", ("frame", "p99"), "{:.1f}"),
    ("msg p99", ("message", "p99"), "{:.1f}"),
    ("timer late p99", ("timer_late", "p99"), "{:.1f}"),
    ("main CPU", ("main_thread_cpu",), "{:.0%}"),
    ("renderer CPU", ("renderer_cpu",), "{:.0%}"),
    ("Chromium CPU", ("chromium_cpu",), "{:.0%}"),
]


def report(table: dict[tuple[str, float, str], list[dict]], kinds: list[str], rates: list[float]) -> list[str]:
    head = f"{'page':<24} {'rate':>6} {'version':<7} " + " ".join(f"{name:>9}" for name, _, _ in FIGURES)
    lines = [
        "",
        "busy: the renderer main thread's busy share of the producing time (Chrome's TaskDuration), of it",
        "script, layout and style; DOM: XADD → row in the DOM, ms; painted: → the end of the rendering of the",
        "frame that shows it, ms; msg: → the WebSocket message in the page, ms; timer late: how late a 100 ms",
        "timer ran, ms; main CPU: the CPU time of the renderer's main thread (no waiting for a core counted);",
        "renderer, Chromium CPU: of the page's renderer process, of all of Chromium's; medians over rounds.",
        head,
    ]
    for kind in kinds:
        for rate in rates:
            for version in ("before", "after"):
                results = table.get((kind, rate, version))
                if not results:
                    continue
                cells = []
                for _, path, shape in FIGURES:
                    cells.append(f"{shape.format(median_of(results, path)):>9}")
                checks = results[-1]
                rows = (
                    f"rows built {median_of(results, ('rows_built',)):,.0f} of {checks['sent']:,} sent, "
                    f"{median_of(results, ('messages_per_s',)):,.0f} WebSocket messages/s"
                )
                ends = "ends with the newest rows" if all(r["ends_right"] for r in results) else "ENDS WRONG"
                lines.append(f"{PAGES[kind].name:<24} {rate:>6,.0f} {version:<7} " + " ".join(cells))
                lines.append(
                    f"{'':<24} {'':>6} {'':<7} {rows}; {ends} ({checks['shown']} kept of {checks['kept']}, "
                    f"{checks['duplicates']} twice); long tasks {median_of(results, ('long_tasks',)):.0f}"
                    + (f"; page errors: {checks['errors'][:2]}" if checks["errors"] else "")
                )
            if table.get((kind, rate, "before")) and table.get((kind, rate, "after")):
                old, new = table[(kind, rate, "before")], table[(kind, rate, "after")]
                busy_ratio = median_of(old, ("busy", "TaskDuration")) / max(
                    median_of(new, ("busy", "TaskDuration")), 1e-9
                )
                p99_ratio = median_of(old, ("dom", "p99")) / max(median_of(new, ("dom", "p99")), 1e-9)
                busy, p99 = median_of(new, ("busy", "TaskDuration")), median_of(new, ("dom", "p99"))
                goal = "met" if busy < GOAL_BUSY and p99 < GOAL_P99_MS else "MISSED"
                lines.append(
                    f"{'':<24} {'':>6} before/after: main thread {busy_ratio:.1f}× less busy, DOM p99 {p99_ratio:.1f}× "
                    f"lower; goal (busy < {GOAL_BUSY:.0%}, DOM p99 < {GOAL_P99_MS:.0f} ms): {goal}"
                )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="producing time per pass (default 10)")
    parser.add_argument("--rates", default="100,1000", help="entries per second, comma-separated (default 100,1000)")
    parser.add_argument("--pages", default="tail,follow,group", help="pages to measure: tail, follow, group")
    parser.add_argument("--before", default=BEFORE_REVISION, help="git revision or directory of the old page files")
    parser.add_argument("--rounds", type=int, default=1, help="before/after pairs per page and rate (median)")
    parser.add_argument("--only-after", action="store_true", help="measure the files of this checkout only")
    parser.add_argument("--child-producer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--stream", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--reports", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_producer:
        run_producer(args.redis_url, args.stream, args.rate, args.seconds, args.reports)
        return 0

    rates = [float(rate) for rate in args.rates.split(",")]
    kinds = [kind.strip() for kind in args.pages.split(",")]
    for kind in kinds:
        if kind not in PAGES:
            parser.error(f"unknown page {kind!r}: one of {', '.join(PAGES)}")
    # Both versions are read now and served by Playwright's routing, so an edit of the checkout
    # during the run changes nothing (and both are served the same way).
    new_files = page_files(str(ROOT / STATIC))
    old_files = None if args.only_after else page_files(args.before)
    print(f"$ {shown_command()}")
    print(f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; machine: {machine()}")
    print(load_note())
    if old_files is not None:
        print(f"before: {', '.join(PAGE_FILES)} of {args.before}; after: this checkout's, as the run started")
    raise_keyboard_interrupt_on_sigterm()
    processes = Processes()
    server = PrivateRedis(processes)
    app = None
    try:
        server.start()
        print(f"private redis-server {server.version} on port {server.port}, persistence off")
        app = DaphneApp(processes, server.url).start()
        print(f"daphne on {app.url} (DJANGO_DEBUG=0, its own SQLite database)")
        bench = Bench(processes, server, app, args.seconds)
        from playwright.sync_api import sync_playwright

        table: dict[tuple[str, float, str], list[dict]] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            print(f"headless Chromium {browser.version}, {VIEWPORT['width']}×{VIEWPORT['height']}")
            try:
                for round_number in range(args.rounds):
                    for kind in kinds:
                        for rate in rates:
                            versions = ["after"] if old_files is None else ["before", "after"]
                            if round_number % 2:
                                versions.reverse()
                            for version in versions:
                                files = old_files if version == "before" else new_files
                                result = bench.run_pass(browser, kind, rate, files)
                                table.setdefault((kind, rate, version), []).append(result)
                                print(
                                    f"  {PAGES[kind].name}, {rate:,.0f}/s, {version}: busy "
                                    f"{result['busy']['TaskDuration']:.0%}, DOM p50 {result['dom']['p50']:.1f} / "
                                    f"p99 {result['dom']['p99']:.1f} ms, {result['rows_built']:,} rows built of "
                                    f"{result['sent']:,} (produced at {result['produced_rate']:,.0f}/s)",
                                    flush=True,
                                )
            finally:
                browser.close()
        for line in report(table, kinds, rates):
            print(line)
        print(load_note().replace("before the run", "after the run"))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every process this benchmark started", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        if app is not None:
            app.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

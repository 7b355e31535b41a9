// The live pages' one WebSocket (live.js) and the stream page's follow socket (follow.js):
// reconnecting with backoff, stopping on the server's refusal close codes; and the per-frame
// scheduler and arrival marks both pages change their tables with. Loaded (deferred) before both;
// it only defines window.weatherstreams.connect, .perFrame and .arrivals and starts nothing itself.
(function () {
  "use strict";

  // Close codes the server refuses a socket with (after an error message saying why); the page
  // stops reconnecting on them (streams_app/live/messages.py).
  const REFUSED = {
    4401: "Not logged in: log in again to see live data.",
    4403: "Not allowed: this is someone else's.",
    4404: "Not found: there is nothing live at this address.",
    4409: "This key is not a stream.",
    4429: "Too many live pages open: close some, then reload this one.",
  };

  // Opens the socket at `path`; calls onMessage(data) for each message and onStatus(text, kind,
  // state). The status always says whether the page is live, not connected (never was),
  // disconnected (and reconnecting), or refused (and why). With `options.types` (a list of message
  // types), messages of other types are dropped without touching the status. After close(),
  // nothing more is reported and nothing reconnects.
  function connect(path, onMessage, onReport, options) {
    const types = options && options.types;
    // The status as last reported: "live" is said once, not on every message (setting a badge's
    // text, even to the same text, costs the page a style and layout pass).
    let said = null;
    function onStatus(text, kind, state) {
      const status = `${kind}|${state || ""}|${text}`;
      if (status === said) return;
      said = status;
      onReport(text, kind, state);
    }
    let delay = 500;
    let socket = null;
    let stopped = false;
    let everOpened = false;
    function open() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      let reason = "";  // the server's last error message on this socket
      let opened = false;
      let ended = false;
      socket = new WebSocket(`${scheme}://${location.host}${path}`);
      socket.addEventListener("open", () => { opened = everOpened = true; delay = 500; });
      socket.addEventListener("message", (event) => {
        if (stopped) return;
        let data;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        if (data.type === "error") {
          reason = String(data.message || "");
          onStatus(reason, "error");
          return;
        }
        if (data.type === "status" && data.redis === "unavailable") {
          onStatus("Redis is unavailable; waiting for it to come back…", "error");
          return;
        }
        if (types && !types.includes(data.type)) return;
        onStatus("live", "ok");
        onMessage(data);
      });
      function end(code) {
        if (stopped || ended) return;
        ended = true;
        if (code in REFUSED) {
          onStatus(reason || REFUSED[code], "error", "refused");
          return;
        }
        const wait = `${Math.round(delay / 100) / 10} s`;
        if (!everOpened) {
          onStatus(`not connected: the server does not answer this page's WebSocket; reconnecting in ${wait}…`, "error", "not-connected");
        } else {
          onStatus(`disconnected${reason ? ` (${reason})` : ""}; reconnecting in ${wait}…`, "warn", "reconnecting");
        }
        setTimeout(() => { if (!stopped) open(); }, delay);
        delay = Math.min(delay * 2, 10000);
      }
      // A socket that never opens may report only "error" (Chromium can hold back its "close").
      socket.addEventListener("error", () => { if (!opened) end(1006); });
      socket.addEventListener("close", (event) => end(event.code));
    }
    open();
    return {
      send(message) { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message)); },
      close() { stopped = true; if (socket) socket.close(); },
    };
  }

  // Returns a function that asks for apply() to run in the next animation frame, once however
  // often it is asked before then: messages are queued as they arrive and the DOM changes once
  // a frame, when the browser is about to lay out and paint anyway. A hidden tab gets no frames
  // (apply() waits until it is shown), so what a page queues meanwhile is its own to bound.
  function perFrame(apply) {
    let asked = false;
    const run = () => {
      asked = false;
      apply();
    };
    return () => {
      if (asked) return;
      asked = true;
      requestAnimationFrame(run);
    };
  }

  // Rows built with the class "arrived" (app.css tints them) lose it `ms` later, a batch at a time,
  // in an animation frame: each row changes style twice, whatever the rate. A fading animation per
  // row would restyle every row that arrived in its last second on every frame (all of a table's
  // rows at 1,000 entries/s).
  function arrivals(ms) {
    const batches = [];  // [when, rows], oldest first
    let timer = null;
    const later = perFrame(sweep);
    function sweep() {
      const now = performance.now();
      while (batches.length && now - batches[0][0] >= ms) {
        for (const row of batches.shift()[1]) row.classList.remove("arrived");
      }
      if (batches.length && timer === null) {
        timer = setTimeout(() => { timer = null; later(); }, ms - (now - batches[0][0]));
      }
    }
    // `rows`: the rows just put in the page with the class "arrived"; call it from a frame.
    return (rows) => {
      if (rows.length) batches.push([performance.now(), rows]);
      sweep();
    };
  }

  window.weatherstreams = Object.assign(window.weatherstreams || {}, { REFUSED, connect, perFrame, arrivals });
})();

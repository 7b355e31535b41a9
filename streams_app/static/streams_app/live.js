// Live pages: one WebSocket per page, reconnecting with backoff; every value from Redis is
// put in the page as text (textContent), never as HTML.
(function () {
  "use strict";

  const connect = window.weatherstreams.connect;  // socket.js, loaded before this file

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  let timeFormat = null;  // one formatter for the page: building one per row is slow
  function idTime(id) {
    const ms = Number(String(id).split("-")[0]);
    if (!Number.isFinite(ms)) return "";
    const date = new Date(ms);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    try {
      if (!timeFormat) {
        const holder = document.querySelector("[data-time-zone]");
        timeFormat = new Intl.DateTimeFormat("en-CA", {
          timeZone: (holder && holder.dataset.timeZone) || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
        });
      }
      const parts = timeFormat.formatToParts(date).reduce((acc, p) => ((acc[p.type] = p.value), acc), {});
      return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}.${pad(date.getUTCMilliseconds(), 3)}`;
    } catch (e) {
      return date.toISOString().replace("T", " ").replace("Z", "");
    }
  }

  function fieldsNode(fields, limit = 120) {
    const cell = el("td", { class: "fields-cell", "data-label": "Fields" });
    for (const [name, value] of Object.entries(fields || {})) {
      const shown = value.length > limit ? value.slice(0, limit - 1) + "…" : value;
      cell.append(el("span", { class: "field-pair" },
        el("span", { class: "field-name" }, name), "=", el("span", { class: "field-value" }, shown)));
    }
    return cell;
  }

  function statusSetter(root) {
    const badge = root.querySelector("[data-live-status]");
    return (text, kind, state) => {
      if (!badge) return;
      badge.textContent = text;
      badge.dataset.kind = kind;
      badge.dataset.state = state || (kind === "ok" ? "live" : "");
    };
  }

  function seenAgo(worker) {
    const ago = worker.seen_seconds_ago;
    return ago === null || ago === undefined ? "gone" : `gone (seen ${Math.round(ago)} s ago)`;
  }

  // --- stream tail --------------------------------------------------------------

  function initTail(root) {
    const body = root.querySelector("tbody");
    const maxRows = Number(root.dataset.maxRows || 200);
    const pauseButton = root.querySelector("[data-pause]");
    const missedNote = root.querySelector("[data-missed]");
    const entryUrl = root.dataset.entryUrl;
    let paused = false;
    let missed = 0;

    function row(entry) {
      const idCell = el("td", { "data-label": "ID" });
      if (entryUrl) idCell.append(el("a", { href: entryUrl.replace("__ID__", encodeURIComponent(entry.id)) }, el("code", {}, entry.id)));
      else idCell.append(el("code", {}, entry.id));
      return el("tr", { "data-id": entry.id }, idCell, el("td", { "data-label": "Time" }, idTime(entry.id)), fieldsNode(entry.fields));
    }
    function prepend(entries) {
      // Only the newest rows can show at the top: build no more than the table keeps.
      const fragment = document.createDocumentFragment();
      for (const entry of entries.slice(-maxRows).reverse()) fragment.append(row(entry));
      body.prepend(fragment);
      while (body.rows.length > maxRows) body.lastElementChild.remove();
      root.querySelector("[data-count]").textContent = String(body.rows.length);
    }
    const live = connect(root.dataset.ws, (data) => {
      if (data.type === "snapshot") {
        body.replaceChildren();
        missed = 0;
        missedNote.textContent = "";
        prepend(data.entries);
      } else if (data.type === "entries") {
        if (paused) {
          missed += data.entries.length;
          missedNote.textContent = `${missed} new entr${missed === 1 ? "y" : "ies"} while paused`;
        } else {
          prepend(data.entries);
        }
      }
    }, statusSetter(root));
    pauseButton.addEventListener("click", () => {
      paused = !paused;
      pauseButton.textContent = paused ? "Resume" : "Pause";
      pauseButton.setAttribute("aria-pressed", String(paused));
      if (!paused && missed) live.send({ action: "resync" });
    });
  }

  // --- small charts ---------------------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";
  function sparkline(values, width = 120, height = 28) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "sparkline");
    svg.setAttribute("aria-hidden", "true");
    if (!values.length) return svg;
    const high = Math.max(...values, 1);
    const step = values.length > 1 ? width / (values.length - 1) : width;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / high) * (height - 4)).toFixed(1)}`);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(line);
    return svg;
  }

  // --- dashboard ------------------------------------------------------------------

  function initDashboard(root) {
    const streamsBody = root.querySelector("[data-streams] tbody");
    const groupsBody = root.querySelector("[data-groups] tbody");
    const workersBody = root.querySelector("[data-workers] tbody");
    const streamUrl = root.dataset.streamUrl;
    const groupUrl = root.dataset.groupUrl;
    function link(url, text) { return el("a", { href: url }, text); }

    connect(root.dataset.ws, (data) => {
      if (data.type !== "dashboard") return;
      const streamRows = [];
      const groupRows = [];
      for (const stream of data.streams) {
        const url = streamUrl.replace("__STREAM__", encodeURIComponent(stream.token));
        streamRows.push(el("tr", {},
          el("td", { "data-label": "Stream" }, link(url, stream.name)),
          el("td", { class: "num", "data-label": "Length" }, stream.length.toLocaleString()),
          el("td", { class: "num", "data-label": "Entries/s" }, stream.rate.toLocaleString()),
          el("td", { "data-label": "Last minute" }, sparkline(stream.rates)),
          el("td", { "data-label": "Last entry" }, stream.last_id ? idTime(stream.last_id) : "—")));
        for (const group of stream.groups) {
          const gUrl = groupUrl.replace("__STREAM__", encodeURIComponent(stream.token))
            .replace("__GROUP__", encodeURIComponent(group.token));
          groupRows.push(el("tr", {},
            el("td", { "data-label": "Stream" }, stream.name),
            el("td", { "data-label": "Group" }, link(gUrl, group.name)),
            el("td", { class: "num", "data-label": "Pending" }, String(group.pending)),
            el("td", { class: "num", "data-label": "Lag" }, group.lag === null ? "?" : String(group.lag))));
        }
      }
      const workerRows = data.workers.map((w) => el("tr", { class: w.alive ? "" : "gone" },
        el("td", { "data-label": "Worker" }, w.name),
        el("td", { "data-label": "Group" }, w.group),
        el("td", { "data-label": "State" }, w.alive ? "live" : seenAgo(w)),
        el("td", { class: "num", "data-label": "Entries/s" }, w.alive ? w.rate.toLocaleString() : "—"),
        el("td", { class: "num", "data-label": "Processed" }, w.processed.toLocaleString()),
        el("td", { "data-label": "Host" }, w.host)));
      streamsBody.replaceChildren(...(streamRows.length ? streamRows : [el("tr", {}, el("td", { colspan: "5" }, "No streams yet."))]));
      groupsBody.replaceChildren(...(groupRows.length ? groupRows : [el("tr", {}, el("td", { colspan: "4" }, "No consumer groups yet."))]));
      workersBody.replaceChildren(...(workerRows.length ? workerRows : [el("tr", {}, el("td", { colspan: "6" }, "No workers have run yet: python manage.py run_consumer alice"))]));
    }, statusSetter(root));
  }

  // --- group page -----------------------------------------------------------------

  function initGroup(root) {
    const processedBody = root.querySelector("[data-processed] tbody");
    const workersBody = root.querySelector("[data-group-workers] tbody");
    const maxRows = Number(root.dataset.maxRows || 100);
    // The newest `visibleRows` show; the rest of the kept rows wait behind "show more (N)".
    const visibleRows = Number(root.dataset.visibleRows || 20);
    const moreButton = root.querySelector("[data-processed-more]");
    let expanded = false;
    const seen = new Set();

    function foldProcessed() {
      const rows = processedBody.rows;
      for (let i = 0; i < rows.length; i++) rows[i].hidden = !expanded && i >= visibleRows;
      if (!moreButton) return;
      const more = Math.max(0, rows.length - visibleRows);
      moreButton.hidden = more === 0;
      moreButton.textContent = expanded ? "Show fewer" : `Show more (${more})`;
      moreButton.setAttribute("aria-expanded", String(expanded));
    }
    if (moreButton) moreButton.addEventListener("click", () => { expanded = !expanded; foldProcessed(); });

    function showCounts(data) {
      const set = (name, value) => { const node = root.querySelector(`[data-${name}]`); if (node) node.textContent = value; };
      set("pending", String(data.pending));
      set("lag", data.lag === null || data.lag === undefined ? "?" : String(data.lag));
      set("last-delivered", data.last_delivered_id || "—");
      // Consumer rows are server-rendered (with their delete forms): update their numbers in place.
      for (const c of data.consumers) {
        for (const cell of root.querySelectorAll("[data-consumer-pending]")) {
          if (cell.dataset.consumerPending === c.name) cell.textContent = String(c.pending);
        }
        for (const cell of root.querySelectorAll("[data-consumer-idle]")) {
          if (cell.dataset.consumerIdle === c.name) cell.textContent = `${(c.idle_ms / 1000).toFixed(1)} s`;
        }
      }
      if (workersBody) {
        workersBody.replaceChildren(...data.workers.map((w) => el("tr", { class: w.alive ? "" : "gone" },
          el("td", { "data-label": "Worker" }, w.name),
          el("td", { "data-label": "State" }, w.alive ? "live" : seenAgo(w)),
          el("td", { class: "num", "data-label": "Entries/s" }, w.alive ? String(w.rate) : "—"),
          el("td", { class: "num", "data-label": "Processed" }, String(w.processed)),
          el("td", { class: "num", "data-label": "Failed" }, String(w.failed)),
          el("td", { "data-label": "Host" }, `${w.host} (pid ${w.pid})`))));
      }
    }
    function addProcessed(message) {
      for (const item of message.entries) {
        const key = `${item.stream}|${item.id}|${item.reported}`;
        if (seen.has(key)) continue;
        seen.add(key);
        processedBody.prepend(el("tr", { class: item.ok ? "" : "failed", "data-processed-id": item.id, "data-processed-key": key },
          el("td", { "data-label": "Consumer" }, item.consumer),
          el("td", { "data-label": "ID" }, el("code", {}, item.id)),
          fieldsNode(item.fields),
          el("td", { class: "num", "data-label": "Handler" }, `${item.ms} ms`),
          el("td", { "data-label": "Result" }, item.ok ? "ok" : `failed (delivery ${item.deliveries})`)));
      }
      while (processedBody.rows.length > maxRows) {
        seen.delete(processedBody.lastElementChild.dataset.processedKey);
        processedBody.lastElementChild.remove();
      }
      foldProcessed();
      const total = root.querySelector("[data-processed-total]");
      if (total && message.processed) total.textContent = String(Number(total.textContent || 0) + message.processed);
    }
    connect(root.dataset.ws, (data) => {
      if (data.type === "group_snapshot") {
        showCounts(data);
        processedBody.replaceChildren();
        seen.clear();
        addProcessed({ ...data.processed, processed: 0 });
      } else if (data.type === "group") {
        showCounts(data);
      } else if (data.type === "processed") {
        addProcessed(data);
      }
    }, statusSetter(root));
  }

  // --- job page ---------------------------------------------------------------------

  function initJob(root) {
    const q = (name) => root.querySelector(`[data-job-${name}]`);
    let socket = null;
    socket = connect(root.dataset.ws, (data) => {
      if (data.type !== "job") return;
      q("state").textContent = data.state;
      q("progress").value = data.percent;
      q("progress").textContent = `${data.percent} %`;
      q("percent").textContent = String(data.percent);
      q("message").textContent = data.message || "";
      q("error").textContent = data.error || "";
      q("download").hidden = !data.download;
      const finished = ["finished", "failed", "stopped", "canceled"].includes(data.state);
      q("size").textContent = data.size || "—";
      q("started").textContent = data.started || "not yet";
      q("finished").textContent = data.finished || (finished ? "—" : "not yet");
      q("duration").textContent = data.duration || "—";
      if (finished && socket) {
        root.querySelector("[data-live-status]").textContent = data.state;
      }
    }, statusSetter(root));
  }

  const starters = { tail: initTail, dashboard: initDashboard, group: initGroup, job: initJob };
  document.querySelectorAll("[data-live]").forEach((root) => {
    const start = starters[root.dataset.live];
    if (start) start(root);
  });
})();

// Live pages: one WebSocket per page, reconnecting with backoff; every value from Redis is
// put in the page as text (textContent), never as HTML. The tail and the group page queue what
// arrives and change their tables once an animation frame (socket.js's perFrame): new rows built
// in a fragment and inserted at once, the rows beyond the kept number removed at once.
(function () {
  "use strict";

  const { connect, perFrame, arrivals } = window.weatherstreams;  // socket.js, loaded before this file
  const ARRIVED_MS = 1000;  // how long a new row stays tinted

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

  // One formatter for the page, and the last second it formatted: entries come in order, many a
  // second, and formatToParts is the slow part of building a row.
  let timeFormat = null;
  let lastSecond = NaN;
  let lastSecondText = "";
  function idTime(id) {
    const ms = Number(String(id).split("-")[0]);
    if (!Number.isFinite(ms)) return "";
    const date = new Date(ms);
    const millis = String(date.getUTCMilliseconds()).padStart(3, "0");
    const second = Math.floor(ms / 1000);
    if (second === lastSecond) return `${lastSecondText}.${millis}`;
    try {
      if (!timeFormat) {
        const holder = document.querySelector("[data-time-zone]");
        timeFormat = new Intl.DateTimeFormat("en-CA", {
          timeZone: (holder && holder.dataset.timeZone) || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
        });
      }
      const parts = timeFormat.formatToParts(date).reduce((acc, p) => ((acc[p.type] = p.value), acc), {});
      lastSecondText = `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
      lastSecond = second;
      return `${lastSecondText}.${millis}`;
    } catch (e) {
      return date.toISOString().replace("T", " ").replace("Z", "");
    }
  }

  // Sets a node's text only when it changes: setting it, even to the same text, costs a style
  // and layout pass in the next frame.
  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  // Removes the rows `first` to `last` (inclusive) of `body` in one operation.
  function removeRows(body, first, last) {
    const range = document.createRange();
    range.setStartBefore(body.rows[first]);
    range.setEndAfter(body.rows[last]);
    range.deleteContents();
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
    const countNode = root.querySelector("[data-count]");
    const entryUrl = root.dataset.entryUrl;
    let paused = false;
    let missed = 0;
    let queued = [];  // entries not in the table yet, oldest first
    let restart = false;  // a snapshot came: the next frame starts the table again from `queued`
    let shown = 0;  // rows in the table
    const arrived = arrivals(ARRIVED_MS);

    function row(entry, isNew) {
      const idCell = el("td", { "data-label": "ID" });
      if (entryUrl) idCell.append(el("a", { href: entryUrl.replace("__ID__", encodeURIComponent(entry.id)) }, el("code", {}, entry.id)));
      else idCell.append(el("code", {}, entry.id));
      return el("tr", { "data-id": entry.id, class: isNew ? "arrived" : "" },
        idCell, el("td", { "data-label": "Time" }, idTime(entry.id)), fieldsNode(entry.fields));
    }
    function applyFrame() {
      // Only the newest rows can show at the top: none is built that this frame would remove.
      const entries = queued.length > maxRows ? queued.slice(-maxRows) : queued;
      queued = [];
      const fragment = document.createDocumentFragment();
      const built = [];
      for (let i = entries.length - 1; i >= 0; i--) built.push(row(entries[i], !restart));
      fragment.append(...built);
      if (!restart) arrived(built);
      if (restart || entries.length >= maxRows) {
        body.replaceChildren(fragment);
        shown = entries.length;
        restart = false;
      } else if (entries.length) {
        body.prepend(fragment);
        shown += entries.length;
        if (shown > maxRows) {
          removeRows(body, maxRows, shown - 1);
          shown = maxRows;
        }
      }
      setText(countNode, String(shown));
      setText(missedNote, missed ? `${missed} new entr${missed === 1 ? "y" : "ies"} while paused` : "");
    }
    const schedule = perFrame(applyFrame);
    function queue(entries) {
      for (const entry of entries) queued.push(entry);
      // A hidden tab gets no frames: keep what a frame could show (the newest maxRows, which leave
      // no gap, since the table then holds those only), dropping the rest now and then.
      if (queued.length > 2 * maxRows) queued = queued.slice(-maxRows);
      schedule();
    }
    const live = connect(root.dataset.ws, (data) => {
      if (data.type === "snapshot") {
        queued = [];
        restart = true;
        missed = 0;
        queue(data.entries);
      } else if (data.type === "entries") {
        if (paused) {
          missed += data.entries.length;
          schedule();
        } else {
          queue(data.entries);
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
    const totalNode = root.querySelector("[data-processed-total]");
    const maxRows = Number(root.dataset.maxRows || 100);
    // The newest `visibleRows` show; the rest of the kept rows wait behind "show more (N)".
    const visibleRows = Number(root.dataset.visibleRows || 20);
    const moreButton = root.querySelector("[data-processed-more]");
    let expanded = false;
    let queued = [];  // processed entries not in the table yet, oldest first, each with its key
    let restart = false;  // a snapshot came: the next frame starts the table again from `queued`
    let keys = [];  // the keys of the rows in the table, newest first
    const seen = new Set();  // the keys of the rows in the table and of those queued
    let counts = null;  // the newest counts not shown yet
    let total = 0;
    const arrived = arrivals(ARRIVED_MS);

    // Rows `from` to `to` (excluded) shown or folded away behind "show more".
    function fold(from, to) {
      const rows = processedBody.rows;
      for (let i = from; i < to; i++) rows[i].hidden = !expanded && i >= visibleRows;
    }
    function showMoreButton() {
      if (!moreButton) return;
      const more = Math.max(0, keys.length - visibleRows);
      moreButton.hidden = more === 0;
      moreButton.textContent = expanded ? "Show fewer" : `Show more (${more})`;
      moreButton.setAttribute("aria-expanded", String(expanded));
    }
    if (moreButton) moreButton.addEventListener("click", () => { expanded = !expanded; fold(0, keys.length); showMoreButton(); });

    function showCounts(data) {
      const set = (name, value) => { const node = root.querySelector(`[data-${name}]`); if (node) node.textContent = value; };
      set("pending", String(data.pending));
      set("lag", data.lag === null || data.lag === undefined ? "?" : String(data.lag));
      set("last-delivered", data.last_delivered_id || "—");
      // Consumer rows are server-rendered (with their delete forms): update their numbers in place.
      const byName = new Map(data.consumers.map((c) => [c.name, c]));
      for (const cell of root.querySelectorAll("[data-consumer-pending]")) {
        const c = byName.get(cell.dataset.consumerPending);
        if (c) cell.textContent = String(c.pending);
      }
      for (const cell of root.querySelectorAll("[data-consumer-idle]")) {
        const c = byName.get(cell.dataset.consumerIdle);
        if (c) cell.textContent = `${(c.idle_ms / 1000).toFixed(1)} s`;
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
    function row(item, isNew, folded) {
      const node = el("tr", { class: `${item.ok ? "" : "failed"}${isNew ? " arrived" : ""}`, "data-processed-id": item.id, "data-processed-key": item.key },
        el("td", { "data-label": "Consumer" }, item.consumer),
        el("td", { "data-label": "ID" }, el("code", {}, item.id)),
        fieldsNode(item.fields),
        el("td", { class: "num", "data-label": "Handler" }, `${item.ms} ms`),
        el("td", { "data-label": "Result" }, item.ok ? "ok" : `failed (delivery ${item.deliveries})`));
      node.hidden = folded;
      return node;
    }
    function forget(cut) {
      for (const item of cut) seen.delete(item.key);
    }
    function applyFrame() {
      if (counts) {
        showCounts(counts);
        counts = null;
      }
      setText(totalNode, String(total));
      if (!queued.length && !restart) return;
      if (queued.length > maxRows) forget(queued.splice(0, queued.length - maxRows));
      const items = queued;
      queued = [];
      const fragment = document.createDocumentFragment();
      const added = [];
      const built = [];
      for (let i = items.length - 1; i >= 0; i--) {
        built.push(row(items[i], !restart, !expanded && added.length >= visibleRows));
        added.push(items[i].key);
      }
      fragment.append(...built);
      if (!restart) arrived(built);
      if (restart || items.length >= maxRows) {
        if (!restart) for (const key of keys) seen.delete(key);  // a snapshot has set `seen` afresh
        processedBody.replaceChildren(fragment);
        keys = added;
        restart = false;
      } else {
        processedBody.prepend(fragment);
        keys = added.concat(keys);
        if (keys.length > maxRows) {
          removeRows(processedBody, maxRows, keys.length - 1);
          for (const key of keys.splice(maxRows)) seen.delete(key);
        }
        fold(added.length, Math.min(keys.length, visibleRows + added.length));  // the rows pushed past the fold
      }
      showMoreButton();
    }
    const schedule = perFrame(applyFrame);
    function queue(entries) {
      for (const item of entries) {
        const key = `${item.stream}|${item.id}|${item.reported}`;
        if (seen.has(key)) continue;
        seen.add(key);
        queued.push({ ...item, key });
      }
      // A hidden tab gets no frames: keep what a frame could show (the newest maxRows).
      if (queued.length > 2 * maxRows) forget(queued.splice(0, queued.length - maxRows));
    }
    connect(root.dataset.ws, (data) => {
      if (data.type === "group_snapshot") {
        counts = data;
        queued = [];
        seen.clear();
        restart = true;
        queue(data.processed.entries);
      } else if (data.type === "group") {
        counts = data;
      } else if (data.type === "processed") {
        queue(data.entries);
        if (data.processed) total += data.processed;
      } else {
        return;
      }
      schedule();
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

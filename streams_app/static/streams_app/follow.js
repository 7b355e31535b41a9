// The stream page follows new entries when its window reaches the newest one (pages.follow_context):
// it listens on the live tail's socket (/ws/streams/<stream>/tail/: a "snapshot" of the newest
// entries on every (re)connect and resync, then "entries" as they arrive, oldest first) and adds
// the entries newer than the newest it shows, at the top (newest first) or at the bottom (oldest
// first). Messages are queued as they arrive and the table changes once an animation frame
// (socket.js's perFrame): the new rows built in a fragment and inserted at once, the rows beyond
// `keep` removed at once; the page's facts (length, last entry) follow too. Every value from
// Redis is put in the page as text (textContent), never as HTML.
(function () {
  "use strict";

  const bar = document.querySelector("[data-follow]");
  if (!bar) return;

  const atTop = bar.dataset.follow === "top";
  const keep = Number(bar.dataset.keep) || 250;
  const snapshotRows = Number(bar.dataset.snapshotRows) || 50;
  const previewChars = Number(bar.dataset.previewChars) || 120;
  const entryUrl = bar.dataset.entryUrl;
  const tableWrap = document.querySelector("[data-follow-table]");
  const body = tableWrap.querySelector("tbody");
  const emptyNote = document.querySelector("[data-follow-empty]");
  const pager = document.querySelector("nav.pager");
  const switchBox = bar.querySelector("[data-follow-switch]");
  const badge = bar.querySelector("[data-live-status]");
  const countNode = bar.querySelector("[data-follow-count]");
  const gapNote = bar.querySelector("[data-follow-gap]");
  const lengthNode = document.querySelector("[data-stream-length]");
  const lastIdNode = document.querySelector("[data-last-id]");
  const lastTimeNode = document.querySelector("[data-last-time]");
  const lengthAtLoad = lengthNode ? Number(lengthNode.dataset.streamLength) : NaN;

  let newest = parseId(bar.dataset.after);  // entries at or below it are on the page (or queued for it)
  let newestId = bar.dataset.after;
  let followed = 0;
  let queued = [];  // entries newer than the table's, not in it yet, oldest first
  let shown = body.rows.length;  // rows in the table

  function parseId(id) {
    const [ms, seq] = String(id).split("-");
    return [BigInt(ms), BigInt(seq || 0)];
  }
  function isNewer(id) {
    return id[0] > newest[0] || (id[0] === newest[0] && id[1] > newest[1]);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  // As the server cuts values (stream_tags.preview): by characters, not UTF-16 units.
  function preview(text, limit) {
    if (text.length <= limit) return text;
    const chars = Array.from(text);
    return chars.length <= limit ? text : chars.slice(0, limit - 1).join("") + "…";
  }
  function isCut(text, limit) { return text.length > limit && Array.from(text).length > limit; }

  // One formatter, and the last second it formatted: entries come in order, many a second, and
  // formatToParts is the slow part of building a row.
  let timeFormat = null;
  let lastSecond = NaN;
  let lastSecondText = "";
  function idTime(id) {
    const date = new Date(Number(String(id).split("-")[0]));
    if (Number.isNaN(date.getTime())) return "";
    const ms = String(date.getUTCMilliseconds()).padStart(3, "0");
    const second = Math.floor(date.getTime() / 1000);
    if (second === lastSecond) return `${lastSecondText}.${ms}`;
    try {
      timeFormat = timeFormat || new Intl.DateTimeFormat("en-CA", {
        timeZone: bar.dataset.timeZone || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      });
      const p = timeFormat.formatToParts(date).reduce((acc, part) => ((acc[part.type] = part.value), acc), {});
      lastSecondText = `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
      lastSecond = second;
      return `${lastSecondText}.${ms}`;
    } catch (e) {
      return date.toISOString().replace("T", " ").replace("Z", "");
    }
  }

  // The same row the server renders (stream_detail.html).
  function row(entry) {
    const fields = el("td", { "data-label": "Fields", class: "fields-cell" });
    const pairs = Object.entries(entry.fields || {});
    if (!pairs.length) fields.append(el("span", { class: "muted" }, "no fields"));
    for (const [name, value] of pairs) {
      const pair = el("span", { class: "field-pair" },
        el("span", { class: "field-name" }, preview(name, 40)), "=",
        el("span", { class: "field-value" }, preview(value, previewChars)));
      if (isCut(value, previewChars) || isCut(name, 40)) {
        pair.append(" ", el("a", { class: "whole", href: entryUrl.replace("__ID__", encodeURIComponent(entry.id)) }, "whole value"));
      }
      fields.append(pair, " ");
    }
    return el("tr", { "data-id": entry.id, class: "followed arrived" },
      el("td", { "data-label": "ID" }, el("code", {}, entry.id)),
      el("td", { "data-label": "Time" }, idTime(entry.id)),
      fields);
  }

  // Rows dropped at the far end stay one click away: the pager link on that side pages on from
  // the row now at that end, so paging still skips no entry.
  function relinkPager() {
    const edge = atTop ? body.lastElementChild : body.firstElementChild;
    if (!edge || !pager) return;
    const id = edge.querySelector("code").textContent;
    const params = new URLSearchParams(location.search);
    params.delete("after");
    params.delete("before");
    params.set(atTop ? "after" : "before", id);
    const rel = atTop ? "next" : "prev";
    let link = pager.querySelector(`a[rel=${rel}]`);
    if (!link) {
      link = el("a", { rel }, atTop ? "Next »" : "« Previous");
      if (atTop) pager.append(link); else pager.prepend(link);
    }
    link.href = `?${params}`;
  }

  // Rows `first` to `last` (inclusive) removed in one operation.
  function removeRows(first, last) {
    const range = document.createRange();
    range.setStartBefore(body.rows[first]);
    range.setEndAfter(body.rows[last]);
    range.deleteContents();
  }

  function applyFrame() {
    // Only the newest `keep` can stay: none is built that this frame would remove.
    const entries = queued.length > keep ? queued.slice(-keep) : queued;
    queued = [];
    if (!entries.length) return;
    const built = [];
    if (atTop) for (let i = entries.length - 1; i >= 0; i--) built.push(row(entries[i]));
    else for (const entry of entries) built.push(row(entry));
    const fragment = document.createDocumentFragment();
    fragment.append(...built);
    arrived(built);
    if (entries.length >= keep) {
      body.replaceChildren(fragment);
      shown = entries.length;
      relinkPager();
    } else {
      if (atTop) body.prepend(fragment); else body.append(fragment);
      shown += entries.length;
      if (shown > keep) {
        if (atTop) removeRows(keep, shown - 1); else removeRows(0, shown - keep - 1);
        shown = keep;
        relinkPager();
      }
    }
    tableWrap.hidden = false;
    if (emptyNote) emptyNote.hidden = true;
    countNode.textContent = followed.toLocaleString();
    if (lengthNode && Number.isFinite(lengthAtLoad)) lengthNode.textContent = String(lengthAtLoad + followed);
    if (lastIdNode) lastIdNode.textContent = newestId;
    if (lastTimeNode) lastTimeNode.textContent = idTime(newestId);
  }
  const schedule = window.weatherstreams.perFrame(applyFrame);
  const arrived = window.weatherstreams.arrivals(1000);  // a new row stays tinted for a second

  // `entries`: oldest first, as the socket sends them.
  function add(entries, fromSnapshot) {
    if (!entries.length) return;
    // In order: when the first is new, all are (the overlap is right after a snapshot only).
    const fresh = isNewer(parseId(entries[0].id)) ? entries : entries.filter((entry) => isNewer(parseId(entry.id)));
    if (fromSnapshot && fresh.length && fresh.length === entries.length && entries.length >= snapshotRows) {
      // A full snapshot, all of it new: more arrived while the page was not listening than it holds.
      gapNote.textContent = `Entries arrived faster than this page could follow: some before ${fresh[0].id} may be missing here; reload to see every one.`;
    }
    if (!fresh.length) return;
    newestId = fresh[fresh.length - 1].id;
    newest = parseId(newestId);
    followed += fresh.length;
    for (const entry of fresh) queued.push(entry);
    // A hidden tab gets no frames: keep what a frame could show. What is dropped is older than
    // every row that frame shows, so it lies beyond the table's far end, where the pager link
    // (relinked from the row then at that end) reaches it: no gap.
    if (queued.length > 2 * keep) queued = queued.slice(-keep);
    schedule();
  }

  function setStatus(text, kind, state) {
    badge.textContent = text;
    badge.dataset.kind = kind;
    badge.dataset.state = state || (kind === "ok" ? "live" : "");
  }

  let live = null;
  function follow(on) {
    if (live) { live.close(); live = null; }
    if (on) {
      setStatus("connecting…", "warn");
      // One socket while the switch is on, reconnecting with backoff (socket.js, as live.js does);
      // the tail's other messages are not this page's.
      live = window.weatherstreams.connect(bar.dataset.ws, (data) => add(data.entries || [], data.type === "snapshot"),
        setStatus, { types: ["snapshot", "entries"] });
    } else {
      setStatus("not following", "off", "off");
    }
  }
  switchBox.addEventListener("change", () => follow(switchBox.checked));
  follow(switchBox.checked);
})();

// The stream page follows new entries when its window reaches the newest one (pages.follow_context):
// it listens on the live tail's socket (/ws/streams/<stream>/tail/: a "snapshot" of the newest
// entries on every (re)connect and resync, then "entries" as they arrive, oldest first) and adds
// the entries newer than the newest it shows, at the top (newest first) or at the bottom (oldest
// first). Every value from Redis is put in the page as text (textContent), never as HTML.
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

  let newest = parseId(bar.dataset.after);  // entries at or below it are on the page already
  let followed = 0;

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

  let timeFormat = null;
  function idTime(id) {
    const date = new Date(Number(String(id).split("-")[0]));
    if (Number.isNaN(date.getTime())) return "";
    try {
      timeFormat = timeFormat || new Intl.DateTimeFormat("en-CA", {
        timeZone: bar.dataset.timeZone || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      });
      const p = timeFormat.formatToParts(date).reduce((acc, part) => ((acc[part.type] = part.value), acc), {});
      const ms = String(date.getUTCMilliseconds()).padStart(3, "0");
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${ms}`;
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
    return el("tr", { "data-id": entry.id, class: "followed" },
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

  // `entries`: oldest first, as the socket sends them.
  function add(entries, fromSnapshot) {
    const fresh = entries.filter((entry) => isNewer(parseId(entry.id)));
    if (fromSnapshot && fresh.length && fresh.length === entries.length && entries.length >= snapshotRows) {
      // A full snapshot, all of it new: more arrived while the page was not listening than it holds.
      gapNote.textContent = `Entries arrived faster than this page could follow: some before ${fresh[0].id} may be missing here; reload to see every one.`;
    }
    if (!fresh.length) return;
    const shown = fresh.slice(-keep);  // build no more rows than the page keeps
    const fragment = document.createDocumentFragment();
    for (const entry of atTop ? shown.slice().reverse() : shown) fragment.append(row(entry));
    if (atTop) body.prepend(fragment); else body.append(fragment);
    newest = parseId(fresh[fresh.length - 1].id);
    followed += fresh.length;
    countNode.textContent = followed.toLocaleString();
    tableWrap.hidden = false;
    if (emptyNote) emptyNote.hidden = true;
    if (body.rows.length > keep) {
      while (body.rows.length > keep) (atTop ? body.lastElementChild : body.firstElementChild).remove();
      relinkPager();
    }
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

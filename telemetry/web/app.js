// steady dashboard: polls /api/snapshot once a second and renders it.
// Everything from the server is inserted as text (textContent, attributes),
// never as HTML: actor names, errors and dead-letter values are user data.
"use strict";

(function () {
  const POLL_MS = 1000;
  const TIMEOUT_MS = 2500;
  const SPARK_POINTS = 60;
  const SVG_NS = "http://www.w3.org/2000/svg";

  // Node and layout geometry of the graph, in SVG units.
  const NODE_W = 196, NODE_H = 78, COL_GAP = 210, ROW_GAP = 52, PAD = 24;

  const $ = (sel) => document.querySelector(sel);
  const state = {
    topology: "",        // names of actors and channels, to rebuild the graph only when it changes
    nodes: new Map(),    // actor name -> {g, parts}
    edges: new Map(),    // channel name -> {g, parts}
    restarts: new Map(), // actor name -> last restart count, to flash a node that restarted
    rates: new Map(),    // channel name -> recent rates, for the sparklines
    lastSeq: 0,          // newest event shown in the timeline
    updates: 0,
  };

  // ---------- helpers ----------

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setText(node, text) {
    text = String(text);
    if (node.textContent !== text) node.textContent = text;
  }

  function fmtInt(n) {
    return Number(n).toLocaleString("en-US");
  }

  function fmtDur(s) {
    if (!s || s <= 0) return "–";
    if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
    if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0) + " ms";
    if (s < 120) return s.toFixed(s < 10 ? 2 : 1) + " s";
    return (s / 60).toFixed(1) + " min";
  }

  function fmtRate(r) {
    if (!r || r < 0.05) return "0/s";
    if (r < 10) return r.toFixed(1) + "/s";
    if (r < 1000) return r.toFixed(0) + "/s";
    if (r < 1e6) return (r / 1e3).toFixed(1) + "k/s";
    return (r / 1e6).toFixed(1) + "M/s";
  }

  function fmtPct(x, digits) {
    return (100 * x).toFixed(digits === undefined ? 1 : digits) + "%";
  }

  // fmtAvail shows an availability with a second decimal below 99.95%.
  function fmtAvail(x) {
    return fmtPct(x, x >= 0.9995 ? 1 : 2);
  }

  function fmtClock(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const p = (n, w) => String(n).padStart(w || 2, "0");
    return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." + p(d.getMilliseconds(), 3);
  }

  // fmtAgo says how long before now (both RFC 3339) then was.
  function fmtAgo(now, then) {
    const s = Math.max(0, (new Date(now) - new Date(then)) / 1000);
    if (s < 60) return Math.floor(s) + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function fillLevel(c) {
    if (c.backedUp || c.fill >= 0.9) return "high";
    if (c.fill >= 0.5) return "mid";
    return "low";
  }

  // ---------- graph layout ----------

  // layout places actors in layers, left to right by longest path from the
  // sources, and orders each layer by the mean position of its neighbours.
  function layout(actors, channels) {
    const names = actors.map((a) => a.name);
    const index = new Map(names.map((n, i) => [n, i]));
    const edges = channels.filter((c) => index.has(c.producer) && index.has(c.consumer) && c.producer !== c.consumer);
    const layer = new Map(names.map((n) => [n, 0]));
    // Relax at most |actors| times: a cycle stops growing there.
    for (let round = 0; round < names.length; round++) {
      let changed = false;
      for (const e of edges) {
        const want = layer.get(e.producer) + 1;
        if (want > layer.get(e.consumer) && want < names.length) {
          layer.set(e.consumer, want);
          changed = true;
        }
      }
      if (!changed) break;
    }
    const layers = [];
    for (const n of names) {
      const l = layer.get(n);
      (layers[l] = layers[l] || []).push(n);
    }
    for (let l = 0; l < layers.length; l++) layers[l] = layers[l] || [];
    // Barycentre sweeps, forwards then backwards, to reduce crossings.
    const pos = new Map();
    const setPos = () => layers.forEach((ns) => ns.forEach((n, i) => pos.set(n, i - (ns.length - 1) / 2)));
    setPos();
    const bary = (n, forward) => {
      const ps = edges.filter((e) => (forward ? e.consumer === n : e.producer === n))
        .map((e) => pos.get(forward ? e.producer : e.consumer));
      return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : pos.get(n);
    };
    for (let sweep = 0; sweep < 2; sweep++) {
      for (let l = 1; l < layers.length; l++) {
        layers[l].sort((a, b) => bary(a, true) - bary(b, true) || index.get(a) - index.get(b));
        setPos();
      }
      for (let l = layers.length - 2; l >= 0; l--) {
        layers[l].sort((a, b) => bary(a, false) - bary(b, false) || index.get(a) - index.get(b));
        setPos();
      }
    }
    const tallest = Math.max(1, ...layers.map((ns) => ns.length));
    const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP;
    const width = PAD * 2 + layers.length * NODE_W + Math.max(0, layers.length - 1) * COL_GAP;
    const xy = new Map();
    layers.forEach((ns, l) => {
      const colH = ns.length * NODE_H + (ns.length - 1) * ROW_GAP;
      const top = (height - colH) / 2;
      ns.forEach((n, i) => xy.set(n, { x: PAD + l * (NODE_W + COL_GAP), y: top + i * (NODE_H + ROW_GAP) }));
    });
    const back = edges.some((e) => layer.get(e.consumer) <= layer.get(e.producer));
    return { xy, width, height: height + (back ? 60 : 0) }; // room below for back edges
  }

  // edgePath is the wire of a channel: a curve from the producer's right
  // side to the consumer's left, an arc under both for a backward or
  // same-layer edge, a loop above for an actor feeding itself. It returns
  // the path and where its label goes.
  function edgePath(a, b, k, height, y1, y2) {
    if (a === b) {
      const x = a.x + NODE_W / 2, y = a.y;
      return { d: `M${x - 30},${y} C${x - 60},${y - 70} ${x + 60},${y - 70} ${x + 30},${y}`, lx: x, ly: y - 52 };
    }
    const x1 = a.x + NODE_W, x2 = b.x;
    if (x2 > x1) {
      const dx = (x2 - x1) / 2;
      return { d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`, lx: (x1 + x2) / 2, ly: (y1 + y2) / 2 };
    }
    const bx1 = a.x + NODE_W / 2, by1 = a.y + NODE_H, bx2 = b.x + NODE_W / 2, by2 = b.y + NODE_H;
    const low = Math.min(height - 8, Math.max(by1, by2) + 50 + k * 12);
    return { d: `M${bx1},${by1} C${bx1},${low} ${bx2},${low} ${bx2},${by2}`, lx: (bx1 + bx2) / 2, ly: low - 12 };
  }

  function buildGraph(snap) {
    const root = $("#graph");
    while (root.firstChild) root.removeChild(root.firstChild);
    state.nodes.clear();
    state.edges.clear();
    const { xy, width, height } = layout(snap.actors, snap.channels);
    root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    root.setAttribute("preserveAspectRatio", "xMidYMid meet");

    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }));
    defs.appendChild(marker);
    root.appendChild(defs);

    const edgeLayer = svg("g", { class: "edges" });
    const labelLayer = svg("g", { class: "edge-labels" });
    const nodeLayer = svg("g", { class: "nodes" });
    root.append(edgeLayer, nodeLayer, labelLayer);

    // Ports: a node's outgoing wires leave its right side spread out, in
    // the order of their targets' height; incoming wires likewise arrive
    // on its left side, in the order of their sources' height.
    const wired = snap.channels.filter((c) => xy.has(c.producer) && xy.has(c.consumer));
    const portY = new Map();
    const spread = (node, list, other, side) => {
      list.sort((c1, c2) => xy.get(other(c1)).y - xy.get(other(c2)).y);
      list.forEach((c, i) => portY.set(side + c.name, xy.get(node).y + (NODE_H * (i + 1)) / (list.length + 1)));
    };
    for (const a of snap.actors) {
      spread(a.name, wired.filter((c) => c.producer === a.name), (c) => c.consumer, "out:");
      spread(a.name, wired.filter((c) => c.consumer === a.name), (c) => c.producer, "in:");
    }
    const pairs = new Map();
    for (const c of wired) {
      const a = xy.get(c.producer), b = xy.get(c.consumer);
      const key = c.producer + "\u0000" + c.consumer;
      const k = pairs.get(key) || 0;
      pairs.set(key, k + 1);
      const p = edgePath(a, b, k, height, portY.get("out:" + c.name), portY.get("in:" + c.name));
      const g = svg("g", { class: "edge", "data-channel": c.name, "data-producer": c.producer, "data-consumer": c.consumer });
      const wire = svg("path", { class: "wire", d: p.d, "marker-end": "url(#arrow)" });
      const flow = svg("path", { class: "flow", d: p.d });
      g.append(wire, flow);
      edgeLayer.appendChild(g);

      const LW = 152, LH = 44;
      const lg = svg("g", { class: "edge", "data-channel-label": c.name, transform: `translate(${p.lx - LW / 2},${p.ly - LH / 2})` });
      const title = svg("title", {}, `${c.name}: ${c.producer} → ${c.consumer} (${c.type})`);
      const bg = svg("rect", { class: "label-bg", width: LW, height: LH, rx: 6 });
      const name = svg("text", { class: "cname", x: 8, y: 15 }, c.name);
      const fillBg = svg("rect", { class: "fill-bg", x: 8, y: 21, width: LW - 16, height: 6, rx: 3 });
      const fill = svg("rect", { class: "fill-low", x: 8, y: 21, width: 0, height: 6, rx: 3, "data-field": "fill-bar" });
      const stat = svg("text", { class: "cstat", x: 8, y: 39 });
      const fillText = svg("tspan", { "data-field": "fill" });
      const sep = svg("tspan", {}, " · ");
      const rate = svg("tspan", { "data-field": "rate" });
      stat.append(fillText, sep, rate);
      lg.append(title, bg, name, fillBg, fill, stat);
      labelLayer.appendChild(lg);
      state.edges.set(c.name, { g, lg, fill, fillText, rate, width: LW - 16 });
    }

    for (const a of snap.actors) {
      const p = xy.get(a.name);
      const g = svg("g", { class: "node", "data-actor": a.name, transform: `translate(${p.x},${p.y})` });
      const title = svg("title", {}, a.name);
      const box = svg("rect", { class: "box", width: NODE_W, height: NODE_H, rx: 8 });
      const stripe = svg("rect", { class: "stripe", width: 5, height: NODE_H - 12, x: 0, y: 6, rx: 2 });
      const name = svg("text", { class: "name", x: 16, y: 24 }, a.name);
      const status = svg("text", { class: "status", x: 16, y: 42, "data-field": "status" });
      const meta = svg("text", { class: "meta", x: 16, y: 60, "data-field": "meta" });
      const count = svg("text", { class: "count", x: NODE_W - 12, y: 30, "data-field": "restarts" });
      const countLabel = svg("text", { class: "count-label", x: NODE_W - 12, y: 43 }, "restarts");
      const availBg = svg("rect", { class: "avail-bg", x: 16, y: NODE_H - 11, width: NODE_W - 28, height: 3, rx: 1.5 });
      const avail = svg("rect", { class: "avail", x: 16, y: NODE_H - 11, width: 0, height: 3, rx: 1.5, "data-field": "availability-bar" });
      g.append(title, box, stripe, name, status, meta, count, countLabel, availBg, avail);
      nodeLayer.appendChild(g);
      state.nodes.set(a.name, { g, status, meta, count, avail, width: NODE_W - 28 });
    }
  }

  function updateGraph(snap) {
    for (const a of snap.actors) {
      const n = state.nodes.get(a.name);
      if (!n) continue;
      n.g.setAttribute("data-status", a.status);
      setText(n.status, a.status.replace("_", " "));
      setText(n.count, a.restarts);
      setText(n.meta, `${fmtPct(a.availability)} up · p99 ${fmtDur(a.recoveryP99Seconds)}`);
      n.g.classList.toggle("has-restarts", a.restarts > 0);
      n.avail.setAttribute("width", (n.width * Math.max(0, Math.min(1, a.availability))).toFixed(1));
      const before = state.restarts.get(a.name);
      if (before !== undefined && a.restarts > before) {
        n.g.classList.remove("flash");
        void n.g.getBBox(); // restart the animation
        n.g.classList.add("flash");
      }
      state.restarts.set(a.name, a.restarts);
    }
    for (const c of snap.channels) {
      const e = state.edges.get(c.name);
      if (!e) continue;
      const level = fillLevel(c);
      for (const g of [e.g, e.lg]) {
        g.setAttribute("data-level", level);
        g.classList.toggle("closed", c.closed);
      }
      e.g.classList.toggle("moving", c.rate >= 0.05 && !c.closed);
      e.fill.setAttribute("class", "fill-" + level);
      e.fill.setAttribute("width", Math.max(c.len > 0 ? 2 : 0, e.width * Math.min(1, c.fill)).toFixed(1));
      setText(e.fillText, `${fmtInt(c.len)}/${fmtInt(c.capacity)} (${fmtPct(c.fill, 0)})`);
      setText(e.rate, fmtRate(c.rate));
    }
  }

  // ---------- tables ----------

  // syncRows keeps one row per item in tbody, keyed by attr, in the order
  // of items, creating missing rows with the given cells ([field, class]).
  // It returns a function that gives an item's cell by field.
  function syncRows(tbody, attr, items, key, cells) {
    const want = new Set(items.map(key));
    for (const tr of Array.from(tbody.children)) {
      if (!want.has(tr.getAttribute(attr))) tr.remove();
    }
    const rows = new Map(Array.from(tbody.children).map((tr) => [tr.getAttribute(attr), tr]));
    items.forEach((it, i) => {
      let tr = rows.get(key(it));
      if (!tr) {
        tr = el("tr", { [attr]: key(it) });
        for (const [field, cls] of cells) tr.appendChild(el("td", { "data-field": field, class: cls || "" }));
        rows.set(key(it), tr);
      }
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    return (it) => {
      const tr = rows.get(key(it));
      return (name) => tr.querySelector(`td[data-field="${name}"]`);
    };
  }

  function availClass(x) {
    return x >= 0.999 ? "good" : x >= 0.99 ? "warn" : "bad";
  }

  function updateActors(snap) {
    const cell = syncRows($("#actors tbody"), "data-actor-row", snap.actors, (a) => a.name, [
      ["name", "name"], ["status"], ["restarts", "n"], ["restarts-all", "n hist"], ["panics", "n"], ["errors", "n"],
      ["availability", "n"], ["availability-all", "n hist"], ["p50", "n"], ["p99", "n"], ["max", "n"], ["downtime", "n"], ["steps", "n dim"], ["last-failure", "dim last"],
    ]);
    // The columns over every run of the store show once they say more than
    // this run's: the graph resumed from a store with another history.
    const resumed = snap.actors.some((a) => a.history &&
      (a.history.restarts !== a.restarts || a.history.availability !== a.availability));
    $("#actors").setAttribute("data-history", String(resumed));
    for (const a of snap.actors) {
      const f = cell(a);
      setText(f("name"), a.name);
      let tag = f("status").firstChild;
      if (!tag) tag = f("status").appendChild(el("span", { class: "status-tag" }));
      tag.setAttribute("data-status", a.status);
      setText(tag, a.status.replace("_", " "));
      if (a.lastError) f("status").title = "last failure " + fmtClock(a.lastErrorAt) + ": " + a.lastError;
      setText(f("restarts"), fmtInt(a.restarts));
      f("restarts").className = "n" + (a.restarts > 0 ? " warn" : "");
      setText(f("panics"), fmtInt(a.panics));
      f("panics").className = "n" + (a.panics > 0 ? " bad" : " dim");
      setText(f("errors"), fmtInt(a.errors));
      f("errors").className = "n" + (a.errors > 0 ? " bad" : " dim");
      setText(f("availability"), fmtAvail(a.availability));
      f("availability").className = "n " + availClass(a.availability);
      const h = a.history;
      if (h) {
        const over = `over every run of the store: ${fmtInt(h.panics)} panics, ${fmtInt(h.errors)} errors, ` +
          `down ${fmtDur(h.downtimeSeconds)} of ${fmtDur(h.lifetimeSeconds)}`;
        setText(f("restarts-all"), fmtInt(h.restarts));
        f("restarts-all").className = "n hist" + (h.restarts > 0 ? " warn" : " dim");
        f("restarts-all").title = over;
        setText(f("availability-all"), fmtAvail(h.availability));
        f("availability-all").className = "n hist " + availClass(h.availability);
        f("availability-all").title = over;
      }
      setText(f("p50"), fmtDur(a.recoveryP50Seconds));
      setText(f("p99"), fmtDur(a.recoveryP99Seconds));
      setText(f("max"), fmtDur(a.recoveryMaxSeconds));
      setText(f("downtime"), fmtDur(a.downtimeSeconds));
      setText(f("steps"), fmtInt(a.steps));
      const lf = f("last-failure");
      setText(lf, a.lastErrorAt ? fmtAgo(snap.time, a.lastErrorAt) : "never");
      lf.title = a.lastError || "";
    }
  }

  function sparkline(container, values) {
    let s = container.firstChild;
    if (!s) {
      s = svg("svg", { class: "spark", viewBox: `0 0 ${SPARK_POINTS - 1} 20`, preserveAspectRatio: "none" });
      s.append(svg("polygon"), svg("polyline", { "vector-effect": "non-scaling-stroke" }));
      container.appendChild(s);
    }
    const top = Math.max(1, ...values);
    const off = SPARK_POINTS - values.length;
    const pts = values.map((v, i) => `${off + i},${(19 - (v / top) * 17).toFixed(2)}`);
    s.lastChild.setAttribute("points", pts.join(" "));
    s.firstChild.setAttribute("points", values.length ? `${off},20 ${pts.join(" ")} ${SPARK_POINTS - 1},20` : "");
  }

  function updateChannels(snap) {
    const cell = syncRows($("#channels tbody"), "data-channel-row", snap.channels, (c) => c.name, [
      ["name", "name"], ["ends", "dim"], ["fill"], ["fill-avg", "n dim"], ["rate", "n"], ["spark"], ["sent", "n dim"], ["taken", "n dim"],
    ]);
    for (const c of snap.channels) {
      const f = cell(c);
      setText(f("name"), c.name);
      f("name").title = c.type;
      setText(f("ends"), `${c.producer} → ${c.consumer}`);
      let meter = f("fill").querySelector(".meter");
      if (!meter) {
        meter = el("span", { class: "meter" });
        meter.appendChild(el("span"));
        f("fill").append(meter, el("span", { class: "meter-text" }));
      }
      meter.firstChild.className = "fill-" + fillLevel(c);
      meter.firstChild.style.width = fmtPct(Math.min(1, c.fill), 1);
      setText(f("fill").lastChild, `${fmtInt(c.len)}/${fmtInt(c.capacity)}${c.backedUp ? "  backed up" : c.closed ? "  closed" : ""}`);
      setText(f("fill-avg"), fmtPct(c.fillAvg, 0));
      setText(f("rate"), fmtRate(c.rate));
      const hist = state.rates.get(c.name) || [];
      hist.push(c.rate);
      if (hist.length > SPARK_POINTS) hist.shift();
      state.rates.set(c.name, hist);
      sparkline(f("spark"), hist);
      setText(f("sent"), fmtInt(c.sent));
      setText(f("taken"), fmtInt(c.taken));
    }
  }

  // ---------- timeline and dead letters ----------

  const KIND_LABEL = {
    panicked: "panic", failed: "error", restarting: "restart", gave_up: "gave up",
    dead_lettered: "dead letter", shutdown_requested: "shutdown", shutdown_vetoed: "veto",
    stopped: "stopped", failure_cluster: "cluster alert", channel_backed_up: "backed up",
    memory_pressure: "memory", memory_recovered: "memory ok", resumed: "resumed",
  };

  function updateTimeline(snap) {
    const list = $("#timeline");
    if (snap.eventsTotal < state.lastSeq) {
      // A new process behind the same address: start the timeline over.
      while (list.firstChild) list.removeChild(list.firstChild);
      state.lastSeq = 0;
    }
    const fresh = snap.events.filter((e) => e.seq > state.lastSeq);
    const first = state.lastSeq === 0;
    for (const e of fresh) {
      const li = el("li", { "data-kind": e.kind, "data-seq": e.seq, "data-actor": e.actor || "" });
      li.classList.add("event");
      if (!first) li.classList.add("new");
      if (e.error) li.classList.add("has-error");
      li.append(
        el("span", { class: "t", title: e.time }, fmtClock(e.time)),
        el("span", { class: "kind" }, KIND_LABEL[e.kind] || e.kind.replace(/_/g, " ")),
        el("span", { class: "text" }, e.text),
      );
      list.insertBefore(li, list.firstChild);
      state.lastSeq = e.seq;
    }
    const keep = snap.events.length ? snap.events[0].seq : state.lastSeq + 1;
    for (const li of Array.from(list.children)) {
      if (Number(li.getAttribute("data-seq")) < keep) li.remove();
    }
    $("#timeline-empty").hidden = list.children.length > 0;
    setText($("#events-count"), snap.eventsTotal ? `${fmtInt(snap.eventsTotal)} total, latest ${snap.events.length} shown` : "");
  }

  function updateDeadLetters(snap) {
    const list = $("#dead-letters");
    const want = new Set(snap.deadLetters.map((d) => String(d.id)));
    for (const li of Array.from(list.children)) {
      if (!want.has(li.getAttribute("data-dead-letter"))) li.remove();
    }
    for (const d of snap.deadLetters) {
      const id = String(d.id);
      if (list.querySelector(`li[data-dead-letter="${CSS.escape(id)}"]`)) continue;
      const li = el("li", { "data-dead-letter": id, "data-actor": d.actor, "data-channel": d.channel });
      const head = el("div", { class: "dl-head" });
      head.append(
        el("span", { class: "dl-id" }, "#" + id),
        el("span", { class: "dl-where" }, `${d.channel} → ${d.actor}`),
        el("span", { class: "dl-attempts" }, `${d.attempts} attempts`),
        el("span", { class: "dl-time", title: d.time }, fmtClock(d.time)),
      );
      const value = el("div", { class: "dl-value", title: d.value });
      value.append(el("span", { class: "k" }, "value "), el("code", { "data-field": "value" }, d.value));
      const err = el("div", { class: "dl-err", "data-field": "error" }, d.error);
      li.append(head, value, err);
      if (d.stack) {
        const details = el("details");
        details.append(el("summary", {}, "stack"), el("pre", {}, d.stack));
        li.appendChild(details);
      }
      // In ID order: a letter can slide into the newest 100 from below
      // when a newer one is replayed.
      const after = Array.from(list.children).find((x) => Number(x.getAttribute("data-dead-letter")) > d.id);
      list.insertBefore(li, after || null);
    }
    $("#dead-empty").hidden = snap.deadLetters.length > 0;
    const shown = snap.deadLetters.length < snap.deadLettersInStore ? ` (the newest ${snap.deadLetters.length} shown)` : "";
    const purged = snap.deadLettersPurged ? `, ${fmtInt(snap.deadLettersPurged)} purged` : "";
    setText($("#dead-count"), snap.deadLettersInStore || snap.deadLettersPurged
      ? `${fmtInt(snap.deadLettersInStore)} of ${fmtInt(snap.deadLettersLimit)} in the store${shown}, ${fmtInt(snap.deadLettersTotal)} ever${purged}`
      : "");
  }

  // ---------- header ----------

  function updateHeader(snap) {
    const pill = $("#graph-status");
    pill.setAttribute("data-status", snap.status);
    setText(pill, snap.status.replace("_", " "));
    const h = $("#health");
    h.setAttribute("data-healthy", String(snap.healthy));
    setText(h, snap.healthy ? "healthy" : snap.health);
    h.title = snap.health;
    let restarts = 0, failures = 0;
    for (const a of snap.actors) {
      restarts += a.restarts;
      failures += a.panics + a.errors;
    }
    const kpi = (id, v, cls) => {
      setText($(`#${id} .v`), fmtInt(v));
      $(`#${id}`).className = "kpi" + (cls ? " " + cls : "");
    };
    kpi("kpi-restarts", restarts, restarts > 0 ? "hot" : "");
    kpi("kpi-failures", failures, failures > 0 ? "hot" : "");
    kpi("kpi-dead-letters", snap.deadLettersInStore, snap.deadLettersInStore > 0 ? "alarm" : "");
    kpi("kpi-clusters", snap.failureClusters, snap.failureClusters > 0 ? "alarm" : "");
    kpi("kpi-channel-alerts", snap.channelAlerts, snap.channelAlerts > 0 ? "hot" : "");
    updateAvailability(snap);
    document.title = (snap.healthy ? "" : "⚠ ") + "steady · " + snap.status.replace("_", " ");
  }

  // updateAvailability shows the graph's availability and the memory
  // watch: the live heap as a share of the limit, "held" while the
  // sources are held for memory pressure, "off" when nothing is watched.
  function updateAvailability(snap) {
    const av = $("#kpi-availability");
    setText(av.querySelector(".v"), fmtAvail(snap.availability));
    av.className = "kpi" + (snap.availability < 0.9 ? " alarm" : snap.availability < 0.999 ? " hot" : "");
    av.title = `every actor could work ${fmtPct(snap.availability, 3)} of the run; down ${fmtDur(snap.downtimeSeconds)}`;
    const m = snap.memory, mem = $("#kpi-memory");
    let text = "off", cls = "";
    if (m.limitBytes > 0) {
      text = m.pressure ? "held" : fmtPct(m.heapBytes / m.limitBytes, 0);
      cls = m.pressure ? " alarm" : m.heapBytes > m.lowBytes ? " hot" : "";
      if (m.degradedSeconds > 0) text += " · " + fmtDur(m.degradedSeconds); // the time held so far
    }
    setText(mem.querySelector(".v"), text);
    mem.className = "kpi" + cls;
    mem.setAttribute("data-pressure", String(m.pressure));
    mem.title = m.limitBytes > 0
      ? `live heap ${fmtBytes(m.heapBytes)} of ${fmtBytes(m.limitBytes)} (holds sources above ${fmtBytes(m.highBytes)}, ` +
        `releases below ${fmtBytes(m.lowBytes)}); held ${fmtInt(m.episodes)} times, ${fmtDur(m.degradedSeconds)} in all`
      : "memory pressure is not watched (no memory limit)";
  }

  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
  }

  function render(snap) {
    const topo = JSON.stringify([snap.actors.map((a) => a.name), snap.channels.map((c) => [c.name, c.producer, c.consumer])]);
    if (topo !== state.topology) {
      buildGraph(snap);
      state.topology = topo;
    }
    updateHeader(snap);
    updateGraph(snap);
    updateActors(snap);
    updateChannels(snap);
    updateTimeline(snap);
    updateDeadLetters(snap);
    state.updates++;
    document.body.dataset.updates = String(state.updates);
    document.body.dataset.ready = "true";
  }

  // ---------- polling ----------

  function setLive(ok, when) {
    const dot = $("#live-dot");
    document.body.classList.toggle("stale", !ok);
    if (ok) {
      dot.className = "live-dot";
      void dot.offsetWidth; // restart the beat animation
      dot.className = "live-dot on";
      setText($("#updated"), fmtClock(when).slice(0, 8));
    } else {
      dot.className = "live-dot off";
      const pill = $("#graph-status");
      pill.setAttribute("data-status", "disconnected");
      setText(pill, "disconnected");
    }
  }

  async function poll() {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const res = await fetch("/api/snapshot", { cache: "no-store", signal: ctl.signal });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const snap = await res.json();
      render(snap);
      setLive(true, snap.time);
    } catch (err) {
      // The server is gone or slow (the graph stopped, the process exited):
      // keep the last picture, dimmed, and keep trying.
      setLive(false);
    } finally {
      clearTimeout(timer);
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();

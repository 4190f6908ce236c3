// zkrisk dashboard: polls /dashboard/data and redraws. Plain DOM and inline SVG, nothing to build.
"use strict";

const REFRESH_MS = 3000;
const SVG = "http://www.w3.org/2000/svg";

const pct = (x, digits = 2) => (x * 100).toFixed(digits) + "%";
const short = (hash) => hash.slice(0, 10) + "…" + hash.slice(-6);

function age(seconds) {
  if (seconds === null) return "—";
  if (seconds < 120) return seconds + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return Math.round(seconds / 3600) + " h";
  return Math.round(seconds / 86400) + " d";
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function fill(tableId, rows, columns, emptyText) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren();
  if (rows.length === 0) {
    const td = cell(body.insertRow(), emptyText, "empty");
    td.colSpan = columns;
  }
  return body;
}

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function chartBox(container, title) {
  const box = document.createElement("div");
  box.className = "chart";
  const heading = document.createElement("h3");
  heading.textContent = title;
  box.appendChild(heading);
  container.appendChild(box);
  return box;
}

// Line chart of CR and LT over epochs: a point per on-chain update.
function lineChart(container, symbol, points) {
  const box = chartBox(container, symbol + ": CR and LT per epoch");
  const W = 420, H = 200, L = 48, R = 12, T = 10, B = 28;
  const chart = svg("svg", {width: W, height: H, role: "img", "aria-label": symbol + " parameter history"});
  box.appendChild(chart);
  if (points.length === 0) {
    chart.appendChild(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#7f8c8d"}, "no updates yet"));
    return;
  }
  const values = points.flatMap((p) => [p.cr, p.lt]);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 0.02) { lo -= 0.01; hi += 0.01; }
  const e0 = points[0].epoch, e1 = points[points.length - 1].epoch;
  const x = (e) => L + (e1 === e0 ? (W - L - R) / 2 : (e - e0) / (e1 - e0) * (W - L - R));
  const y = (v) => T + (hi - v) / (hi - lo) * (H - T - B);
  for (const v of [lo, (lo + hi) / 2, hi]) {
    chart.appendChild(svg("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eaeded"}));
    chart.appendChild(svg("text", {x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10}, v.toFixed(3)));
  }
  chart.appendChild(svg("text", {x: L, y: H - 8, "font-size": 10}, "epoch " + e0));
  chart.appendChild(svg("text", {x: W - R, y: H - 8, "font-size": 10, "text-anchor": "end"}, "epoch " + e1));
  for (const [key, colour] of [["cr", "#c0392b"], ["lt", "#2874a6"]]) {
    chart.appendChild(svg("polyline", {fill: "none", stroke: colour, "stroke-width": 2,
      points: points.map((p) => x(p.epoch) + "," + y(p[key])).join(" ")}));
    for (const p of points) {
      chart.appendChild(svg("circle", {cx: x(p.epoch), cy: y(p[key]), r: 3, fill: colour}))
        .appendChild(svg("title", {}, key.toUpperCase() + " " + p[key].toFixed(4) + " @ epoch " + p.epoch));
    }
    chart.appendChild(svg("text", {x: W - R - (key === "cr" ? 60 : 25), y: T + 10, fill: colour, "font-size": 11},
      key.toUpperCase()));
  }
}

// Horizontal bars of the largest attributions per explained output; grouped by input kind and horizon
// when the explanation groups them (as oracle.audit.report does).
function contributionChart(container, explanation) {
  const TOP = 8;
  for (const output of Object.keys(explanation.attributions)) {
    const grouped = (explanation.grouped || {})[output];
    const features = grouped ? Object.keys(grouped) : explanation.features;
    const attributions = grouped ? Object.values(grouped) : explanation.attributions[output];
    const box = chartBox(container, explanation.symbol + " epoch " + explanation.epoch + ": " +
      output.toUpperCase() + " contributions");
    const order = attributions.map((v, i) => i).sort((a, b) => Math.abs(attributions[b]) - Math.abs(attributions[a]))
      .slice(0, TOP);
    const W = 360, row = 20, H = order.length * row + 10, mid = 210;
    const scale = Math.max(...order.map((i) => Math.abs(attributions[i])), 1e-12);
    const chart = svg("svg", {width: W, height: H, role: "img", "aria-label": output + " contributions"});
    order.forEach((i, k) => {
      const v = attributions[i], w = Math.abs(v) / scale * (W - mid - 10);
      chart.appendChild(svg("text", {x: 0, y: k * row + 15, "font-size": 11}, features[i]));
      chart.appendChild(svg("rect", {x: v >= 0 ? mid : mid - w, y: k * row + 4, width: w, height: row - 6,
        fill: v >= 0 ? "#c0392b" : "#2874a6"}));
      chart.appendChild(svg("text", {x: W, y: k * row + 15, "font-size": 10, "text-anchor": "end"},
        (v >= 0 ? "+" : "") + v.toFixed(4)));
    });
    chart.appendChild(svg("line", {x1: mid, x2: mid, y1: 0, y2: H, stroke: "#7f8c8d"}));
    box.appendChild(chart);
  }
}

const VOL_LEVEL_NAMES = {ref: "reference", up: "vol up", down: "vol down", im_up: "IM vol up (floored)"};

function headerCell(row, text) {
  const th = document.createElement("th");
  th.textContent = text;
  row.appendChild(th);
  return th;
}

// One market's scenario grid as oracle.dashboard.data sends it (models.options computed every number; this
// only draws): spot moves across, vol levels down, the reference book's loss per scenario.
function scenarioGrid(container, market, paused) {
  const g = market.scenario_grid, options = market["options-margin"];
  const why = options.status !== "fresh" ? "shocks: " + options.status
    : paused ? "oracle paused" : "shocks outside the engine's sanity ranges";
  const box = chartBox(container, market.symbol + ": " +
    (g.static ? "static grid (" + why + ")" : "proved grid, epoch " + options.epoch));
  box.dataset.market = market.symbol;
  box.dataset.grid = g.static ? "static" : "proved";
  const table = document.createElement("table");
  table.className = "grid";
  const head = table.createTHead().insertRow();
  headerCell(head, "vol \\ spot move");
  for (const move of g.spot_moves) headerCell(head, (move > 0 ? "+" : "") + pct(move)).className = "spot-move";
  const body = table.createTBody();
  g.vol_levels.forEach((level, i) => {
    const row = body.insertRow();
    row.dataset.level = level;
    headerCell(row, VOL_LEVEL_NAMES[level] + " ").appendChild(
      Object.assign(document.createElement("span"), {className: "vol", textContent: pct(g.vols[i])}));
    g.losses[i].forEach((loss, j) => {
      const td = cell(row, "", g.maintenance_scenarios[i][j] ? "mm" : g.initial_scenarios[i][j] ? "im" : "unused");
      td.appendChild(Object.assign(document.createElement("span"), {className: "loss", textContent: pct(loss, 3)}));
      const worst = [["IM", g.worst_initial], ["MM", g.worst_maintenance]]
        .filter(([, at]) => at[0] === i && at[1] === j).map(([name]) => name);
      if (worst.length) {
        td.appendChild(Object.assign(document.createElement("span"), {className: "worst", textContent: worst.join(" ")}));
      }
    });
  });
  box.appendChild(table);
  const summary = document.createElement("p");
  summary.append("IM ", Object.assign(document.createElement("b"), {className: "initial-margin",
    textContent: pct(g.initial_margin, 3)}), " · MM ", Object.assign(document.createElement("b"),
    {className: "maintenance-margin", textContent: pct(g.maintenance_margin, 3)}),
  " of spot (IM: worst scenario loss plus the short contingency C; MM: worst loss, at least C / 2)" +
  " · reference book: " + g.description);
  box.appendChild(summary);
}

function render(data) {
  const status = document.getElementById("status");
  const paused = !data.error && data.chain.paused;
  status.className = data.error || paused ? "error" : "";
  status.textContent = data.error ? data.error :
    (paused ? "UPDATES PAUSED by the guardian (reads continue) · " : "") +
    "chain " + data.chain.chain_id + " · block " + data.chain.block + " · oracle " + data.chain.oracle +
    " · refreshed " + new Date().toLocaleTimeString();

  // one row per market of a layout's stored values, columns in `names` order (data.layouts declares them)
  const layoutRows = (tableId, layout, names, empty) => {
    const body = fill(tableId, data.markets, names.length + 4, empty);
    for (const m of data.markets) {
      const stored = m[layout];
      const row = body.insertRow();
      row.dataset.market = m.symbol;
      cell(row, m.symbol);
      const none = stored.status === "no data";
      for (const name of names) cell(row, none ? "—" : pct(stored.values[name]), name);
      cell(row, none ? "—" : String(stored.epoch), "epoch");
      cell(row, age(stored.age_seconds), "age");
      cell(row, stored.status, "status " + stored.status.replace(" ", ""));
    }
  };
  layoutRows("markets", "lending", ["max_ltv", "cr", "lt", "vol", "var99", "es99"], "no chain");
  layoutRows("shocks", "options-margin", data.shocks, "no chain");

  const grids = document.getElementById("grids");
  grids.replaceChildren();
  for (const m of data.markets) scenarioGrid(grids, m, data.chain.paused);

  const history = document.getElementById("history");
  history.replaceChildren();
  for (const [symbol, layouts] of Object.entries(data.history)) lineChart(history, symbol, layouts.lending || []);

  const updates = fill("updates", data.updates, 8, "no updates on chain yet");
  for (const u of data.updates) {
    const row = updates.insertRow();
    cell(row, u.symbol);
    cell(row, u.layout);
    cell(row, String(u.epoch));
    const shown = u.layout === "lending" ? ["cr", "lt"] : ["spot_down", "iv_up"];
    cell(row, shown.map((name) => name + " " + pct(u.values[name])).join(" · "), "values");
    cell(row, u.verification, "fresh");
    cell(row, u.gas_used.toLocaleString("en-US"));
    cell(row, String(u.block));
    const tx = cell(row, "");
    const code = document.createElement("code");
    code.textContent = short(u.tx_hash);
    code.title = u.tx_hash;
    tx.appendChild(code);
  }

  const contributions = document.getElementById("contributions");
  contributions.replaceChildren();
  if (data.contributions) contributionChart(contributions, data.contributions);
  else contributions.textContent = "No explanation yet: risk contributions are published with the updates the service confirms (models whose card has an explanation baseline).";

  const drift = fill("drift", data.drift, 9, "no scored updates yet: an update is scored once the next day's update is confirmed");
  const number = (value, digits) => value === null ? "–" : value.toFixed(digits);
  for (const d of data.drift) {
    const row = drift.insertRow();
    cell(row, d.market);
    cell(row, d.model_version);
    cell(row, String(d.days));
    cell(row, String(d.var_hits));
    cell(row, number(d.kupiec_p, 4));
    cell(row, number(d.christoffersen_p, 4));
    cell(row, number(d.qlike_ratio, 3));
    cell(row, d.checks.length === 0 ? "too few days to judge"
      : d.checks.map((c) => c.name + " " + c.value.toFixed(4) + (c.fired ? " fired" : " ok") + " (" + c.direction + " " + c.threshold + ")").join(" · "), "text");
    cell(row, d.drifting ? "drifting" : "ok", d.drifting ? "stale" : "fresh");
  }

  const open = data.proposals.filter((p) => ["Pending", "Active", "Succeeded", "Queued"].includes(p.state));
  const proposals = fill("proposals", open, 7, "no open proposals");
  for (const p of open) {
    const row = proposals.insertRow();
    cell(row, p.proposal_id.length > 12 ? short(p.proposal_id) : p.proposal_id).title = p.proposal_id;
    cell(row, p.title, "text");
    cell(row, p.state);
    cell(row, p.proof, p.proof.startsWith("proof verified") ? "fresh" : "nodata");
    cell(row, p.votes.for.toLocaleString("en-US"));
    cell(row, p.votes.against.toLocaleString("en-US"));
    cell(row, String(p.vote_end_block));
  }
  document.body.dataset.loaded = "true";
}

async function refresh() {
  try {
    const reply = await fetch("/dashboard/data", {cache: "no-store"});
    render(await reply.json());
  } catch (error) {
    const status = document.getElementById("status");
    status.className = "error";
    status.textContent = "dashboard data unavailable: " + error;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);

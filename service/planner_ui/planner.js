// The planner dashboard: hexagons coloured by a metric, flows, totals. Talks to the service's
// own API only; no external script, font or map tile, so it works without internet.

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 900;
const HEIGHT = 640;
const RAMP = ["#e8f3ec", "#b9dcc6", "#7fbf99", "#43a06d", "#1d7a4a", "#0b4f2e"];
const state = { token: null };

function monthOf(date) {
  return date.toISOString().slice(0, 7);
}

function setup() {
  const hour = $("hour");
  for (let h = 0; h < 24; h += 1) {
    hour.append(new Option(`${String(h).padStart(2, "0")}:00`, String(h)));
  }
  const now = new Date();
  $("to").value = monthOf(now);
  $("from").value = monthOf(new Date(now.getFullYear(), now.getMonth() - 1, 15));
  for (const id of ["metric", "mode", "from", "to", "hour", "day-type", "res", "show-flows"]) {
    $(id).addEventListener("change", load);
  }
  $("signin").addEventListener("submit", signIn);
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  const kept = sessionStorage.getItem("planner-token");
  if (fromHash || kept) {
    state.token = fromHash || kept;
    sessionStorage.setItem("planner-token", state.token);
    load();
  }
}

async function signIn(event) {
  event.preventDefault();
  const answer = await fetch("/v1/oauth/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      grant_type: "client_credentials",
      client_id: $("client-id").value.trim(),
      client_secret: $("client-secret").value,
    }),
  });
  const body = await answer.json();
  if (!answer.ok) {
    $("status").textContent = body.detail || "sign-in refused";
    return;
  }
  state.token = body.access_token;
  sessionStorage.setItem("planner-token", state.token);
  $("who").textContent = "signed in";
  load();
}

function query(extra) {
  const params = new URLSearchParams(extra);
  const add = (name, id) => { if ($(id).value) params.set(name, $(id).value); };
  add("mode", "mode");
  add("from", "from");
  add("to", "to");
  add("hour", "hour");
  add("day_type", "day-type");
  return params.toString();
}

async function api(path) {
  const answer = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.detail || `${answer.status}`);
  return body;
}

async function load() {
  if (!state.token) return;
  const res = Number($("res").value);
  const metric = $("metric").value;
  $("status").textContent = "loading…";
  try {
    const flowRes = Math.min(res, 8);
    const [cells, summary, flows, fences] = await Promise.all([
      api(`/v1/aggregates/cells?${query({ res, metric })}`),
      api(`/v1/aggregates/summary?${query({})}`),
      $("show-flows").checked ? api(`/v1/aggregates/od?${query({ res: flowRes })}`) : { flows: [] },
      fetch("/v1/fences").then((r) => (r.ok ? r.json() : { features: [] })).catch(() => ({ features: [] })),
    ]);
    draw(cells.features, flows.flows, fences.features, metric);
    totals(summary);
    const shown = cells.features.filter((f) => !f.properties.suppressed).length;
    $("status").textContent =
      `${shown} cells shown, ${cells.features.length - shown} suppressed, ` +
      `${flows.flows.length} flows (resolution ${res})`;
  } catch (error) {
    $("status").textContent = `could not load: ${error.message}`;
  }
}

function projector(rings) {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const ring of rings) {
    for (const [lng, lat] of ring) {
      minX = Math.min(minX, lng); maxX = Math.max(maxX, lng);
      minY = Math.min(minY, lat); maxY = Math.max(maxY, lat);
    }
  }
  if (!Number.isFinite(minX)) return null;
  const squash = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
  const spanX = Math.max((maxX - minX) * squash, 1e-6);
  const spanY = Math.max(maxY - minY, 1e-6);
  const scale = Math.min((WIDTH - 40) / spanX, (HEIGHT - 40) / spanY);
  const offsetX = (WIDTH - spanX * scale) / 2;
  const offsetY = (HEIGHT - spanY * scale) / 2;
  return ([lng, lat]) => [offsetX + (lng - minX) * squash * scale, HEIGHT - offsetY - (lat - minY) * scale];
}

function element(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function colour(value, low, high) {
  if (value === null || value === undefined) return "#ccc";
  const t = high > low ? (value - low) / (high - low) : 1;
  return RAMP[Math.min(RAMP.length - 1, Math.floor(t * RAMP.length))];
}

function draw(features, flows, fences, metric) {
  const map = $("map");
  map.replaceChildren();
  const defs = element("defs", {});
  const hatch = element("pattern", { id: "hatch", width: 4, height: 4, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)" });
  hatch.append(element("rect", { width: 4, height: 4, fill: "#eee" }),
    element("line", { x1: 0, y1: 0, x2: 0, y2: 4, stroke: "#bbb", "stroke-width": 2 }));
  defs.append(hatch);
  map.append(defs);
  const areas = fences.filter((f) => f.properties && f.properties.zone_type === "service_area");
  const areaRings = areas.flatMap((f) => (f.geometry.type === "Polygon"
    ? [f.geometry.coordinates[0]] : f.geometry.coordinates.map((p) => p[0])));
  const project = projector([...features.map((f) => f.geometry.coordinates[0]), ...areaRings]);
  if (!project) return;
  const path = (ring) => `M${ring.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join("L")}Z`;
  for (const ring of areaRings) map.append(element("path", { class: "area", d: path(ring) }));
  const values = features.filter((f) => !f.properties.suppressed).map((f) => f.properties.value)
    .filter((v) => v !== null && v !== undefined);
  const low = Math.min(...values, 0);
  const high = Math.max(...values, 0);
  const centres = {};
  for (const feature of features) {
    const { cell, suppressed, value } = feature.properties;
    const ring = feature.geometry.coordinates[0];
    const node = element("path", { class: suppressed ? "cell suppressed" : "cell", d: path(ring),
      "data-cell": cell });
    if (!suppressed) node.setAttribute("fill", colour(value, low, high));
    const title = element("title", {});
    title.textContent = suppressed ? `${cell}: fewer than k riders` : `${cell}: ${value}`;
    node.append(title);
    map.append(node);
    const corners = ring.slice(0, -1);
    centres[cell] = [corners.reduce((s, p) => s + p[0], 0) / corners.length,
      corners.reduce((s, p) => s + p[1], 0) / corners.length];
  }
  const biggest = Math.max(1, ...flows.map((f) => f.trips));
  for (const flow of flows.slice(0, 60)) {
    const from = project([flow.origin_lng, flow.origin_lat]);
    const to = project([flow.destination_lng, flow.destination_lat]);
    const bend = [(from[0] + to[0]) / 2 - (to[1] - from[1]) * 0.15, (from[1] + to[1]) / 2 + (to[0] - from[0]) * 0.15];
    const line = element("path", { class: "flow", "stroke-width": (1 + 7 * flow.trips / biggest).toFixed(1),
      d: `M${from.join(",")}Q${bend.join(",")} ${to.join(",")}` });
    const title = element("title", {});
    title.textContent = `${flow.origin} → ${flow.destination}: ${flow.trips} trips`;
    line.append(title);
    map.append(line);
  }
  map.dataset.cells = String(features.length);
  map.dataset.flows = String(Math.min(flows.length, 60));
  legend(low, high, metric);
}

function legend(low, high, metric) {
  const ramp = `linear-gradient(90deg, ${RAMP.join(", ")})`;
  $("legend").innerHTML = "";
  const label = (text) => Object.assign(document.createElement("span"), { textContent: text });
  const bar = Object.assign(document.createElement("span"), { className: "ramp" });
  bar.style.background = ramp;
  const hatch = Object.assign(document.createElement("span"), { className: "hatch" });
  $("legend").append(label(`${metric}: ${format(low)}`), bar, label(format(high)), hatch,
    label("suppressed (fewer than k riders)"));
}

function format(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "string") return value;
  if (Math.abs(value) < 1 && value !== 0) return `${(value * 100).toFixed(1)}%`;
  return Number(value).toLocaleString("en");
}

function totals(summary) {
  const rows = [
    ["trips", summary.trips], ["CO2 reduced", `${(summary.co2_g / 1000).toFixed(1)} kg`],
    ["distance", `${(summary.distance_m / 1000).toFixed(1)} km`], ["riders (≈)", summary.riders],
    ["parking compliance", summary.parking_compliance === null ? "–"
      : `${(summary.parking_compliance * 100).toFixed(1)}%`],
  ];
  $("figures").replaceChildren(...rows.flatMap(([name, value]) => [
    Object.assign(document.createElement("dt"), { textContent: name }),
    Object.assign(document.createElement("dd"), { textContent: format(value) }),
  ]));
  $("modes").replaceChildren(...Object.entries(summary.modes).map(([mode, figures]) => {
    const row = Object.assign(document.createElement("div"), { className: "mode" });
    const bar = Object.assign(document.createElement("span"), { className: "bar" });
    bar.style.width = `${Math.round((figures.share || 0) * 100)}%`;
    const track = document.createElement("span");
    track.append(bar);
    row.append(Object.assign(document.createElement("span"), { textContent: mode }), track,
      Object.assign(document.createElement("span"), { textContent: `${Math.round((figures.share || 0) * 100)}%` }));
    return row;
  }));
}

setup();

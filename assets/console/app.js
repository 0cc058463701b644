// The host console: plain JavaScript, no libraries, no build step. It
// signs in, follows the live dashboard over server-sent events, and acts
// through the same HTTP API as everything else.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("vitrine.token"),
  role: sessionStorage.getItem("vitrine.role"),
  name: sessionStorage.getItem("vitrine.name"),
  products: [],
  dashboard: null,
  feed: null,
  modRoom: null,
};

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 3500);
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (response.status === 401) { signOut(); throw new Error("signed out"); }
  if (!response.ok) {
    const message = (data && data.message) || `HTTP ${response.status}`;
    toast(message);
    throw new Error(message);
  }
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function money(view) { return view ? view.display : "0"; }
function minorFromDecimal(text) {
  const m = /^\s*(\d+)(?:[.,](\d{1,2}))?\s*$/.exec(text || "");
  if (!m) throw new Error("write an amount such as 9.90");
  return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
}

// ---------------------------------------------------------------- sign-in

async function signIn(event) {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  const response = await fetch("/api/v1/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("username").value, password: $("password").value }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("sign-in-error").textContent = data.message || "could not sign in";
    return;
  }
  if (!["host", "co-host", "moderator"].includes(data.role)) {
    $("sign-in-error").textContent = "the console is for hosts, co-hosts and moderators";
    return;
  }
  state.token = data.token;
  state.role = data.role;
  state.name = data.display_name;
  sessionStorage.setItem("vitrine.token", data.token);
  sessionStorage.setItem("vitrine.role", data.role);
  sessionStorage.setItem("vitrine.name", data.display_name);
  start();
}

function signOut() {
  sessionStorage.clear();
  if (state.feed) state.feed.close();
  state.token = null;
  $("console").hidden = true;
  $("sign-in-view").hidden = false;
  $("whoami").hidden = true;
  $("sign-out").hidden = true;
}

// ---------------------------------------------------------------- start

async function start() {
  $("sign-in-view").hidden = true;
  $("console").hidden = false;
  $("whoami").hidden = false;
  $("sign-out").hidden = false;
  $("whoami").textContent = `${state.name} · ${state.role}`;
  const hostly = state.role !== "moderator";
  for (const id of ["show-card", "featured-card", "sale-card", "deal-card", "coupon-card"]) {
    $(id).hidden = !hostly;
  }
  const list = await api("GET", "/api/v1/products");
  state.products = list.products;
  fillProducts();
  await Promise.all([loadShows(), loadRooms(), loadQuestions(), loadFilter(), loadLog(), loadDeals()]);
  follow();
  setInterval(() => { loadQuestions(); loadChat(); loadLog(); loadDeals(); }, 2000);
}

function fillProducts() {
  const lineup = $("show-lineup");
  const sku = $("sale-sku");
  const dealSku = $("deal-sku");
  const checks = $("featured-products");
  lineup.replaceChildren();
  sku.replaceChildren();
  dealSku.replaceChildren();
  checks.replaceChildren();
  for (const p of state.products) {
    lineup.append(el("option", { value: p.id }, p.name));
    checks.append(el("label", {},
      el("input", { type: "checkbox", value: p.id, "data-product": p.id }), p.name));
    for (const v of p.variants) {
      const options = Object.values(v.options).join(", ");
      const label = `${p.name}${options ? ` (${options})` : ""} · ${v.price.display} · ${v.stock} left`;
      sku.append(el("option", { value: v.sku }, label));
      dealSku.append(el("option", { value: v.sku }, label));
    }
  }
}

// ---------------------------------------------------------------- live feed

// The feed opens with a ticket (30 s, one use) rather than the bearer
// token, which would otherwise sit in the URL. EventSource reconnects to
// the same URL by itself, which a used ticket cannot open; so a closed feed
// is followed again here, with a fresh ticket, while the console is signed
// in. The server ends the feed with a `closed` event on sign-out or when
// the account is no longer staff: then the next ticket is refused and the
// console signs out.
async function follow() {
  if (state.feed) state.feed.close();
  state.feed = null;
  if (!state.token) return;
  let ticket;
  try {
    ticket = (await api("POST", "/api/v1/console/tickets")).ticket;
  } catch (_) {
    if (state.token) {
      $("feed-state").textContent = "offline";
      if (/forbidden|only hosts/.test(String(_.message))) signOut();
      else setTimeout(follow, 3000);
    }
    return;
  }
  const feed = new EventSource(`/api/v1/console/feed?ticket=${encodeURIComponent(ticket)}`);
  state.feed = feed;
  feed.addEventListener("dashboard", (event) => render(JSON.parse(event.data)));
  feed.addEventListener("closed", () => { feed.close(); follow(); });
  feed.onopen = () => { $("feed-state").textContent = "live"; };
  feed.onerror = () => {
    $("feed-state").textContent = "reconnecting…";
    if (state.feed !== feed) return;
    feed.close();
    state.feed = null;
    setTimeout(() => { if (!state.feed) follow(); }, 1000);
  };
}

function render(d) {
  state.dashboard = d;
  const show = d.show;
  $("show-title").textContent = show ? show.title : "No show is live";
  const status = $("show-status");
  status.textContent = show ? show.status : "off air";
  status.className = `badge ${show ? show.status : ""}`;
  $("end-show").hidden = !show || state.role === "moderator";
  $("stat-viewers").textContent = d.viewers;
  $("stat-unique").textContent = d.unique_viewers;
  $("stat-peak").textContent = d.peak_viewers;
  $("stat-chat").textContent = d.chat_per_minute;
  $("stat-reactions").textContent = d.reactions_per_minute;
  $("stat-carts").textContent = d.add_to_carts;
  $("stat-orders").textContent = d.orders;
  $("stat-sales").textContent = money(d.sales);
  $("stat-conversion").textContent = `${(d.conversion_bp / 100).toFixed(1)} %`;
  $("featured-now").textContent = show && show.featured.length
    ? `Featured now: ${show.featured.join(", ")}` : "Nothing featured.";
  renderSales(d.flash_sales);
  renderPoll(d.poll);
  $("qa-count").textContent = d.open_questions ? `(${d.open_questions} open)` : "";
  $("product-rows").replaceChildren(...d.products.map((p) => el("tr", { "data-product": p.product_id },
    el("td", {}, p.name), el("td", {}, p.views), el("td", {}, p.pickups),
    el("td", {}, p.handling_ms ? `${(p.handling_ms / 1000).toFixed(1)} s` : "–"), el("td", {}, p.carts),
    el("td", {}, p.units_sold), el("td", {}, (p.sales_minor / 100).toFixed(2)))));
  $("rooms").replaceChildren(...d.rooms.map((r) => el("li", {},
    el("span", { class: "grow" }, r.name), `${r.viewers} / ${r.capacity}`)));
  if (!$("mod-room").options.length) loadRooms();
  drawChart(d.series);
}

function renderSales(sales) {
  $("sales").replaceChildren(...sales.map((s) => {
    const sold = s.quantity - s.units_left;
    const opens = s.state === "countdown"
      ? ` · opens in ${Math.max(0, Math.round((s.starts_at_ms - Date.now()) / 1000))} s` : "";
    const bar = el("span", {});
    bar.style.width = `${(100 * sold) / s.quantity}%`;
    return el("li", { id: `sale-${s.id}`, "data-state": s.state },
      el("span", { class: "grow" }, `${s.sku} at ${s.sale_price.display}`),
      el("b", { class: "left" }, s.units_left), ` of ${s.quantity} left · ${s.state}${opens}`,
      el("div", { class: "progress" }, bar));
  }));
}

function renderPoll(poll) {
  const box = $("poll-results");
  if (!poll) { box.replaceChildren(); return; }
  const total = poll.counts.reduce((a, b) => a + b, 0) || 1;
  box.replaceChildren(
    el("p", {}, `${poll.question}${poll.closed ? " (closed)" : ""}`),
    ...poll.options.map((option, i) => {
      const fill = el("span", {});
      fill.style.width = `${(100 * poll.counts[i]) / total}%`;
      return el("div", { class: "bar" }, el("span", {}, option),
        el("div", { class: "progress" }, fill), el("b", {}, poll.counts[i]));
    }));
}

function drawChart(series) {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  if (series.length < 2) return;
  const t0 = series[0].at_ms;
  const t1 = series[series.length - 1].at_ms;
  const x = (t) => 8 + ((width - 16) * (t - t0)) / Math.max(1, t1 - t0);
  const line = (key, colour) => {
    const top = Math.max(1, ...series.map((p) => p[key]));
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    series.forEach((p, i) => {
      const y = height - 8 - ((height - 16) * p[key]) / top;
      if (i === 0) g.moveTo(x(p.at_ms), y); else g.lineTo(x(p.at_ms), y);
    });
    g.stroke();
  };
  const style = getComputedStyle(document.documentElement);
  line("viewers", style.getPropertyValue("--accent").trim());
  line("sales_minor", style.getPropertyValue("--good").trim());
}

// ---------------------------------------------------------------- show

async function loadShows() {
  const list = await api("GET", "/api/v1/shows");
  $("show-list").replaceChildren(...list.shows.filter((s) => s.status === "scheduled").map((s) =>
    el("li", {}, el("span", { class: "grow" },
      `${s.title} · ${new Date(s.scheduled_at_ms).toLocaleString()}`),
    el("button", { class: "small", onclick: () => goLive(s.id) }, "Go live"))));
  $("summaries").replaceChildren(...list.shows.filter((s) => s.status !== "scheduled").map((s) =>
    el("li", {}, el("span", { class: "grow" }, `${s.title} (${s.status})`),
      el("button", { class: "small quiet", onclick: () => showSummary(s.id) }, "Summary"),
      el("button", { class: "small quiet", onclick: () => download(s.id, "orders") }, "Orders CSV"),
      el("button", { class: "small quiet", onclick: () => download(s.id, "chat") }, "Chat CSV"))));
}

async function createShow(live) {
  const title = $("show-title-input").value.trim();
  if (!title) { toast("give the show a title"); return; }
  const lineup = [...$("show-lineup").selectedOptions].map((o) => o.value);
  const body = { title, lineup };
  if (!live) {
    const when = $("show-when").value;
    if (!when) { toast("pick when it starts"); return; }
    body.scheduled_at_ms = new Date(when).getTime();
  }
  await api("POST", "/api/v1/shows", body);
  toast(live ? "You are live" : "Show scheduled");
  await loadShows();
}

async function goLive(id) {
  await api("POST", `/api/v1/shows/${id}/live`);
  toast("You are live");
  await loadShows();
}

async function endShow() {
  await api("POST", "/api/v1/shows/current/end");
  toast("Show ended");
  await loadShows();
}

async function showSummary(id) {
  const s = await api("GET", `/api/v1/shows/${id}/summary`);
  const top = s.top_products.map((p) => `  ${p.name}: ${p.units} units, ${p.sales.display}`).join("\n");
  $("summary").textContent = `${s.show.title}\n` +
    `Peak viewers ${s.peak_viewers}, ${s.unique_viewers} watched\n` +
    `${s.orders} orders from ${s.buyers} buyers, ${s.sales.display}\n` +
    `Conversion ${(s.conversion_bp / 100).toFixed(1)} %, ${s.chat_lines} chat lines\n` +
    `Top products:\n${top || "  none"}`;
}

async function download(id, what) {
  const response = await fetch(`/api/v1/shows/${id}/${what}.csv`,
    { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) { toast(`could not export the ${what}`); return; }
  const url = URL.createObjectURL(await response.blob());
  const a = el("a", { href: url, download: `show-${id}-${what}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

async function feature() {
  const products = [...document.querySelectorAll("#featured-products input:checked")]
    .map((i) => i.value);
  if (products.length > 3) { toast("feature at most 3 products"); return; }
  await api("PUT", "/api/v1/shows/current/featured", { products });
  toast(products.length ? `Featured: ${products.join(", ")}` : "Nothing featured");
}

async function startSale(event) {
  event.preventDefault();
  const variant = $("sale-sku").value;
  const product = state.products.find((p) => p.variants.some((v) => v.sku === variant));
  const body = {
    sku: variant,
    sale_price_minor: minorFromDecimal($("sale-price").value),
    currency: product ? product.price.currency : "EUR",
    quantity: Number($("sale-quantity").value),
    per_buyer_limit: Number($("sale-limit").value),
    countdown_secs: Number($("sale-countdown").value),
    duration_secs: Number($("sale-duration").value),
  };
  const sale = await api("POST", "/api/v1/flash-sales", body);
  toast(`Flash sale announced: ${sale.quantity} × ${sale.sku}`);
}

// Group deals: set one, and watch its teams fill (polled; teams change
// as shoppers join, not every second like the dashboard).
async function startDeal(event) {
  event.preventDefault();
  const variant = $("deal-sku").value;
  const product = state.products.find((p) => p.variants.some((v) => v.sku === variant));
  const body = {
    sku: variant,
    team_size: Number($("deal-size").value),
    team_price_minor: minorFromDecimal($("deal-price").value),
    currency: product ? product.price.currency : "EUR",
    stock_cap: Number($("deal-cap").value),
  };
  // Until the show ends (24 h at most; only while a show is live), or a
  // number of minutes from now.
  if ($("deal-window").value === "show") body.until_show_ends = true;
  else body.window_secs = Number($("deal-minutes").value) * 60;
  const deal = await api("POST", "/api/v1/group-deals", body);
  toast(`Group deal set: teams of ${deal.team_size} at ${deal.team_price.display}`);
  await loadDeals();
}

async function loadDeals() {
  if (state.role === "moderator") return;
  const list = await api("GET", "/api/v1/group-deals");
  $("deals").replaceChildren(...list.deals.map((d) => {
    const closes = Math.max(0, Math.round((d.ends_at_ms - Date.now()) / 60000));
    const until = d.until_show_ends ? `until the show ends (at most ${closes} min)` : `closes in ${closes} min`;
    const teams = d.teams.length
      ? d.teams.map((t) => `${t.members}/${d.team_size}${t.status === "capturing" ? " ✓" : ""}`).join(" · ")
      : "no team yet";
    return el("li", { id: `deal-${d.id}`, "data-teams": d.teams.length },
      el("span", { class: "grow" }, `${d.sku} at ${d.team_price.display} (teams of ${d.team_size})`),
      el("b", { class: "left" }, d.units_left), ` left · ${d.sold} sold · ${until}`,
      el("div", { class: "quiet-text" }, `Teams: ${teams}`));
  }));
}

async function pinCoupon(event) {
  event.preventDefault();
  const code = $("coupon-code").value.trim().toUpperCase();
  const currency = state.products.length ? state.products[0].price.currency : "EUR";
  try {
    await api("POST", "/api/v1/coupons", {
      code,
      percent_off: Number($("coupon-percent").value),
      currency,
      min_order_minor: minorFromDecimal($("coupon-min").value || "0"),
      ends_at_ms: Date.now() + Number($("coupon-minutes").value) * 60000,
    });
  } catch (e) {
    if (!/exists/.test(e.message)) return;
  }
  const pinned = await api("PUT", "/api/v1/show/pinned-coupon", { code });
  $("coupon-now").textContent = `Pinned: ${pinned.code}, ${pinned.percent_off} % off`;
}

async function openPoll(event) {
  event.preventDefault();
  const options = $("poll-options").value.split("\n").map((o) => o.trim()).filter(Boolean);
  await api("POST", "/api/v1/polls", {
    question: $("poll-question").value,
    options,
    duration_secs: Number($("poll-seconds").value),
  });
  toast("Poll open");
}

// ---------------------------------------------------------------- Q&A

async function loadQuestions() {
  if (!state.token) return;
  const list = await api("GET", "/api/v1/questions");
  $("questions").replaceChildren(...list.questions.filter((q) => !q.answered).map((q) =>
    el("li", {}, el("span", { class: "grow" }, `${q.name}: ${q.text}`), el("b", {}, `▲ ${q.votes}`),
      el("button", { class: "small", onclick: async () => {
        await api("POST", `/api/v1/questions/${q.id}/answered`);
        loadQuestions();
      } }, "Answered"))));
}

// ---------------------------------------------------------------- moderation

async function loadRooms() {
  const list = await fetch("/api/v1/rooms").then((r) => r.json());
  const select = $("mod-room");
  const current = select.value;
  select.replaceChildren(...list.rooms.map((r) => el("option", { value: r.id }, r.name)));
  if (current) select.value = current;
  state.modRoom = select.value;
  loadChat();
}

async function loadChat() {
  if (!state.token || !state.modRoom) return;
  const chat = await api("GET", `/api/v1/moderation/rooms/${state.modRoom}/chat`);
  const box = $("chat-lines");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.replaceChildren(...chat.lines.slice(-100).map((line) => el("li",
    { "data-seq": line.seq, "data-account": line.account_id },
    el("span", { class: "grow" }, el("span", { class: "who" }, line.name), `: ${line.text}`),
    el("button", { class: "small quiet delete", onclick: () => moderate("DELETE",
      `/api/v1/moderation/rooms/${state.modRoom}/chat/${line.seq}`, undefined, "Line removed") }, "Delete"),
    el("button", { class: "small quiet mute", onclick: () => moderate("PUT",
      `/api/v1/moderation/mutes/${line.account_id}`, { seconds: 300, reason: "muted from the console" },
      `${line.name} muted for 5 minutes`) }, "Mute 5 min"),
    // Voice-mute: the shopper's voice goes to no one (PUT …/voice-mutes).
    el("button", { class: "small quiet voice-mute", onclick: () => moderate("PUT",
      `/api/v1/moderation/voice-mutes/${line.account_id}`, { seconds: 300, reason: "voice-muted from the console" },
      `${line.name} voice-muted for 5 minutes`) }, "Voice off 5 min"),
    el("button", { class: "small quiet kick", onclick: () => moderate("POST",
      "/api/v1/moderation/kicks", { account_id: line.account_id, reason: "removed by a moderator" },
      `${line.name} kicked`) }, "Kick"),
    el("button", { class: "small danger ban", onclick: () => moderate("PUT",
      `/api/v1/moderation/bans/${line.account_id}`, { reason: "banned by a moderator" },
      `${line.name} banned`) }, "Ban"))));
  if (atBottom) box.scrollTop = box.scrollHeight;
}

async function moderate(method, path, body, done) {
  await api(method, path, body);
  toast(done);
  loadChat();
  loadLog();
}

async function loadFilter() {
  const filter = await api("GET", "/api/v1/moderation/filter");
  $("filter-terms").value = filter.terms.join("\n");
}

async function saveFilter() {
  const terms = $("filter-terms").value.split("\n").map((t) => t.trim()).filter(Boolean);
  const filter = await api("PUT", "/api/v1/moderation/filter", { terms });
  $("filter-state").textContent = `${filter.terms.length} blocked words`;
  loadLog();
}

async function loadLog() {
  if (!state.token) return;
  const log = await api("GET", "/api/v1/moderation/log?limit=30");
  $("mod-log").replaceChildren(...log.entries.map((e) => el("li", {},
    el("span", { class: "grow" },
      `${new Date(e.at_ms).toLocaleTimeString()} ${e.actor_name}: ${e.action}` +
      `${e.target_name ? ` ${e.target_name}` : ""}${e.details ? ` (${e.details})` : ""}`))));
}

// ---------------------------------------------------------------- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => signIn(e).catch(() => {}));
  $("sign-out").addEventListener("click", signOut);
  $("show-form").addEventListener("submit", (e) => { e.preventDefault(); createShow(true).catch(() => {}); });
  $("schedule-show").addEventListener("click", () => createShow(false).catch(() => {}));
  $("end-show").addEventListener("click", () => endShow().catch(() => {}));
  $("feature").addEventListener("click", () => feature().catch(() => {}));
  $("sale-form").addEventListener("submit", (e) => startSale(e).catch((err) => toast(err.message)));
  $("deal-form").addEventListener("submit", (e) => startDeal(e).catch((err) => toast(err.message)));
  // Minutes mean nothing for a deal that runs until the show ends.
  $("deal-window").addEventListener("change", () => {
    $("deal-minutes").disabled = $("deal-window").value === "show";
  });
  $("coupon-form").addEventListener("submit", (e) => pinCoupon(e).catch(() => {}));
  $("poll-form").addEventListener("submit", (e) => openPoll(e).catch(() => {}));
  $("mod-room").addEventListener("change", () => { state.modRoom = $("mod-room").value; loadChat(); });
  $("save-filter").addEventListener("click", () => saveFilter().catch(() => {}));
  window.addEventListener("resize", () => state.dashboard && drawChart(state.dashboard.series));
  if (state.token) start().catch(() => signOut());
});

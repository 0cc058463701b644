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

async function api(method, path, body, quiet) {
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
    // A caller that words the refusal itself asks for quiet.
    if (!quiet) toast(message);
    const error = new Error(message);
    error.code = data && data.code;
    error.status = response.status;
    throw error;
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

function money(view) { return view ? moneyText(view.minor, view.currency) : "0"; }
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
  stopPreview();
  // The next sign-in starts its own polls.
  for (const timer of ["stageTimer", "outletTimer", "streamTimer"]) clearInterval(state[timer]);
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
  for (const id of ["show-card", "featured-card", "sale-card", "deal-card", "coupon-card",
    "giveaway-card", "orders-card"]) {
    $(id).hidden = !hostly;
  }
  const list = await api("GET", "/api/v1/products");
  state.products = list.products;
  fillProducts();
  await Promise.all([loadShows(), loadRooms(), loadQuestions(), loadFilter(), loadLog(), loadDeals(),
    loadReviews()]);
  follow();
  startShowDesk();
  startStage();
  // The preview needs the relay: a server without live video hides it.
  api("GET", "/api/v1/stream", undefined, true)
    .then(() => { $("preview-box").hidden = false; })
    .catch(() => {});
  setInterval(() => { loadQuestions(); loadChat(); loadLog(); loadDeals(); }, 2000);
  // Reviews come in slowly: every 10 s is fresh enough.
  setInterval(loadReviews, 10000);
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
      const label = `${p.name}${options ? ` (${options})` : ""} · ${money(v.price)} · ${v.stock} left`;
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

// The show's title and badge: a camera live before any show is started
// says so, not "Off air".
function renderOnAir() {
  const show = state.dashboard && state.dashboard.show;
  const camera = !show && state.streamLive;
  $("show-title").textContent = show ? show.title
    : camera ? "On camera, no show started" : "No show is live";
  const status = $("show-status");
  status.textContent = show ? stateWords(show.status) : camera ? "Camera live" : "Off air";
  status.className = `badge ${show ? show.status : camera ? "live" : ""}`;
}

async function loadStream() {
  try {
    state.streamLive = (await api("GET", "/api/v1/stream", undefined, true)).live;
  } catch (e) {
    state.streamLive = false;
    // No relay on this server: nothing to ask again.
    if (e.status === 404) clearInterval(state.streamTimer);
  }
  renderOnAir();
}

function render(d) {
  state.dashboard = d;
  const show = d.show;
  renderOnAir();
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
    ? `Featured now: ${show.featured.map(productName).join(", ")}` : "Nothing featured.";
  renderSales(d.flash_sales);
  renderPoll(d.poll);
  $("qa-count").textContent = d.open_questions ? `(${d.open_questions} open)` : "";
  $("product-rows").replaceChildren(...d.products.map((p) => el("tr", { "data-product": p.product_id },
    el("td", {}, p.name), el("td", {}, p.views), el("td", {}, p.pickups),
    el("td", {}, p.handling_ms ? `${(p.handling_ms / 1000).toFixed(1)} s` : "–"), el("td", {}, p.carts),
    el("td", {}, p.units_sold), el("td", {}, moneyText(p.sales_minor, d.sales.currency)))));
  $("rooms").replaceChildren(...d.rooms.map((r) => el("li", {},
    el("span", { class: "grow" }, r.name), `${r.viewers} / ${r.capacity}`)));
  if (!$("mod-room").options.length) loadRooms();
  drawChart(d);
}

function renderSales(sales) {
  $("sales").replaceChildren(...sales.map((s) => {
    const sold = s.quantity - s.units_left;
    const opens = s.state === "countdown"
      ? ` · opens in ${Math.max(0, Math.round((s.starts_at_ms - Date.now()) / 1000))} s` : "";
    const words = stateWords(s.state);
    const bar = el("span", {});
    bar.style.width = `${(100 * sold) / s.quantity}%`;
    return el("li", { id: `sale-${s.id}`, "data-state": s.state },
      el("span", { class: "grow" }, `${variantLabel(s.sku)} at ${money(s.sale_price)}`),
      el("b", { class: "left" }, s.units_left), ` of ${s.quantity} left · `,
      el("span", { class: `state ${s.state}` }, words), opens,
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

// ---------------------------------------------------------------- show

async function loadShows() {
  const list = await api("GET", "/api/v1/shows");
  $("show-list").replaceChildren(...list.shows.filter((s) => s.status === "scheduled").map((s) =>
    el("li", {}, el("span", { class: "grow" },
      `${s.title} · ${new Date(s.scheduled_at_ms).toLocaleString()}`),
    el("button", { class: "small", onclick: () => goLive(s.id) }, "Go live"))));
  $("summaries").replaceChildren(...list.shows.filter((s) => s.status !== "scheduled").map((s) =>
    el("li", {}, el("span", { class: "grow" }, `${s.title} (${stateWords(s.status).toLowerCase()})`),
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
  const top = s.top_products.map((p) => `  ${p.name}: ${p.units} units, ${money(p.sales)}`).join("\n");
  $("summary").textContent = `${s.show.title}\n` +
    `Peak viewers ${s.peak_viewers}, ${s.unique_viewers} watched\n` +
    `${s.orders} orders from ${s.buyers} buyers, ${money(s.sales)}\n` +
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
  toast(products.length ? `Featured: ${products.map(productName).join(", ")}` : "Nothing featured");
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
  toast(`Flash sale announced: ${sale.quantity} × ${variantLabel(sale.sku)}`);
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
  toast(`Group deal set: teams of ${deal.team_size} at ${money(deal.team_price)}`);
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
      el("span", { class: "grow" }, `${variantLabel(d.sku)} at ${money(d.team_price)} (teams of ${d.team_size})`),
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

// Verified buyers' reviews, newest first; hidden ones stay listed, marked.
async function loadReviews() {
  if (!state.token) return;
  let list;
  // A failed refresh keeps the list as it was; the next one tries again.
  try { list = await api("GET", "/api/v1/console/reviews?limit=20", undefined, true); } catch (_) { return; }
  $("reviews").replaceChildren(...list.reviews.map((r) => el("li", { "data-review": r.id },
    el("span", { class: "grow" },
      el("b", {}, `${"★".repeat(r.stars)}${"☆".repeat(5 - r.stars)} `),
      `${r.author} on ${r.product_name}${r.text ? `: “${r.text}”` : " (stars only)"}`,
      el("span", { class: "quiet-text" }, ` · ${new Date(r.created_at_ms).toLocaleString()}`)),
    r.hidden
      ? el("span", { class: "quiet-text hidden-review" }, "Hidden")
      : el("button", { class: "small quiet hide-review", onclick: async () => {
        try {
          await api("POST", `/api/v1/moderation/reviews/${r.id}/hide`, { reason: "hidden from the console" });
          toast(`${r.author}'s review hidden`);
        } catch (_) {
          // Refused (hidden by another moderator a moment ago, say): the
          // toast said why; the list shows it as it is now.
        }
        loadReviews();
        loadLog();
      } }, "Hide"))));
  if (!list.reviews.length) {
    $("reviews").replaceChildren(el("li", { class: "quiet-text" }, "No reviews yet."));
  }
}

// ---------------------------------------------------------------- labels

// What a host reads: names rather than ids and slugs, states in words,
// money with its currency, times in the host's own time zone.
const STATE_WORDS = {
  // flash sales
  countdown: "Starts soon", sold_out: "Sold out",
  // shows
  scheduled: "Scheduled", live: "Live", ended: "Ended",
  // orders
  pending: "Awaiting payment", paid: "Paid", fulfilled: "Shipped", delivered: "Delivered",
  refunded: "Refunded", cancelled: "Cancelled",
  // group-deal teams
  forming: "Forming", capturing: "Filled", captured: "Filled", voided: "Voided",
};
function stateWords(value) {
  if (!value) return "";
  return STATE_WORDS[value] || value.charAt(0).toUpperCase() + value.slice(1).replace(/_/g, " ");
}

const SOURCE_WORDS = {
  flash_sale: "flash sale", cart: "cart", buy_now: "buy now",
  shared_cart: "shared cart", group_deal: "group deal",
};

// Minor units per major one follow the currency (JPY, KRW, ... have none),
// as in shared/src/money.rs, so ¥1,200 is 1200 minor units, not 12.
function moneyText(minor, currency) {
  try {
    const format = new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(minor / 10 ** digits);
  } catch (_) {
    return `${(minor / 100).toFixed(2)} ${currency || ""}`.trim();
  }
}

function productName(id) {
  const p = state.products.find((x) => x.id === id);
  return p ? p.name : id;
}

// "Stoneware mug (Sage)" for a SKU, from the catalog the console loaded.
function variantLabel(sku) {
  for (const p of state.products) {
    const v = p.variants.find((x) => x.sku === sku);
    if (v) {
      const options = Object.values(v.options).join(", ");
      return options && p.variants.length > 1 ? `${p.name} (${options})` : p.name;
    }
  }
  return sku;
}

function localTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function localDateTime(ms) {
  return new Date(ms).toLocaleString([], {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

// ---------------------------------------------------------------- chart

// Viewers (a line, left axis) and sales per minute (bars, right axis, in
// the show's currency), time along the bottom in the host's local time.
// The feed's series has a point every 10 s with the viewers then and the
// sales so far; the dashboard's own numbers are the live last point, so
// the chart moves every second. (It used to draw viewers and cumulative
// sales each scaled to its own maximum, with no axes: a steady audience
// and sales that had stopped both sat flat along the top.)
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A round step for about `count` ticks up to `top`.
function niceStep(top, count) {
  const raw = Math.max(top, 1) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return Math.max(step, 1);
}

function chartData(d) {
  const points = d.series.slice();
  const last = points[points.length - 1];
  if (!last || d.at_ms > last.at_ms) {
    points.push({ at_ms: d.at_ms, viewers: d.viewers, orders: d.orders, sales_minor: d.sales.minor });
  }
  // Sales per minute: the rise of the running total within each minute.
  const minutes = new Map();
  // The first point's total was made before the series began, not in its minute.
  let before = points.length ? points[0].sales_minor : 0;
  for (const p of points) {
    const minute = Math.floor(p.at_ms / 60000) * 60000;
    const rise = Math.max(0, p.sales_minor - before);
    minutes.set(minute, (minutes.get(minute) || 0) + rise);
    before = p.sales_minor;
  }
  return { points, minutes };
}

function drawChart(d) {
  const chart = $("chart");
  const width = Math.max(280, chart.clientWidth || 600);
  const height = 200;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.replaceChildren();
  const currency = d.sales.currency;
  const { points, minutes } = chartData(d);
  const pad = { left: 40, right: 64, top: 12, bottom: 26 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const now = d.at_ms;
  // At least the last 5 minutes, so a new show does not stretch one point.
  const t0 = Math.min(points.length ? points[0].at_ms : now, now - 5 * 60000);
  const t1 = now;
  const x = (t) => pad.left + (plotW * (t - t0)) / Math.max(1, t1 - t0);
  const peakViewers = Math.max(1, ...points.map((p) => p.viewers));
  const vStep = niceStep(peakViewers, 4);
  const vTop = Math.ceil(peakViewers / vStep) * vStep;
  const peakSales = Math.max(0, ...minutes.values());
  // With no sale yet, an axis up to a few units of the currency.
  const sStep = niceStep(peakSales || 1000, 4);
  const sTop = Math.max(sStep, Math.ceil(peakSales / sStep) * sStep);
  const yV = (v) => pad.top + plotH - (plotH * v) / vTop;
  const yS = (m) => pad.top + plotH - (plotH * m) / sTop;
  const style = getComputedStyle(document.documentElement);
  const accent = style.getPropertyValue("--accent").trim();
  const good = style.getPropertyValue("--good").trim();
  const muted = style.getPropertyValue("--muted").trim();
  const line = style.getPropertyValue("--line").trim();

  // Grid and the left axis (viewers).
  const axisV = svg("g", { class: "axis axis-viewers" });
  for (let v = 0; v <= vTop; v += vStep) {
    chart.append(svg("line", { x1: pad.left, x2: pad.left + plotW, y1: yV(v), y2: yV(v), stroke: line }));
    axisV.append(svg("text", { x: pad.left - 6, y: yV(v) + 4, "text-anchor": "end", fill: accent }, v));
  }
  // The right axis (sales per minute, in the currency).
  const axisS = svg("g", { class: "axis axis-sales" });
  for (let m = 0; m <= sTop; m += sStep) {
    axisS.append(svg("text", { x: pad.left + plotW + 6, y: yS(m) + 4, fill: good },
      moneyText(m, currency).replace(/[.,]00(?=\D*$)/, "")));
  }
  // Time along the bottom, in local time.
  const axisT = svg("g", { class: "axis axis-time" });
  const span = t1 - t0;
  const tStep = [60000, 120000, 300000, 600000, 900000, 1800000, 3600000]
    .find((s) => span / s <= Math.max(2, Math.floor(plotW / 70))) || 3600000;
  for (let t = Math.ceil(t0 / tStep) * tStep; t <= t1; t += tStep) {
    axisT.append(svg("line", { x1: x(t), x2: x(t), y1: pad.top + plotH, y2: pad.top + plotH + 4, stroke: muted }));
    axisT.append(svg("text", { x: x(t), y: height - 8, "text-anchor": "middle", fill: muted }, localTime(t)));
  }
  chart.append(svg("line", { x1: pad.left, x2: pad.left + plotW, y1: pad.top + plotH, y2: pad.top + plotH, stroke: muted }));

  // Sales per minute as bars.
  const bars = svg("g", { class: "sales-bars" });
  const barW = Math.max(2, x(t0 + 60000) - x(t0) - 2);
  for (const [minute, sales] of minutes) {
    if (minute + 60000 < t0 || sales <= 0) continue;
    const left = Math.max(pad.left, x(minute) + 1);
    const bar = svg("rect", {
      class: "sales-bar", x: left, y: yS(sales), width: Math.max(0, Math.min(barW, pad.left + plotW - left)),
      height: Math.max(1, pad.top + plotH - yS(sales)), fill: good, opacity: "0.75",
      "data-minor": sales,
    });
    bar.append(svg("title", {}, `${localTime(minute)}: ${moneyText(sales, currency)}`));
    bars.append(bar);
  }
  chart.append(bars);

  // Viewers as a line.
  if (points.length) {
    const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.at_ms).toFixed(1)},${yV(p.viewers).toFixed(1)}`);
    if (points.length === 1) path.push(`L${x(t1).toFixed(1)},${yV(points[0].viewers).toFixed(1)}`);
    chart.append(svg("path", {
      class: "viewers-line", d: path.join(" "), fill: "none", stroke: accent, "stroke-width": 2,
      "data-points": points.length,
    }));
  }
  chart.append(axisV, axisS, axisT);
  $("chart-legend-sales").textContent = `sales per minute (${currency}, right)`;
  $("chart-note").textContent = peakSales
    ? `Best minute: ${moneyText(peakSales, currency)}. Now: ${d.viewers} watching.`
    : `No sales yet. Now: ${d.viewers} watching.`;
}

// ---------------------------------------------------------------- show desk

// Giveaways and orders: each card polls its own list (they change as
// shoppers act, not on the dashboard's beat) and acts through the API.
function startShowDesk() {
  if (state.role === "moderator") return;
  loadGiveaways();
  loadDeskOrders();
  setInterval(() => { loadGiveaways(); loadDeskOrders(true); }, 2000);
}

function wireShowDesk() {
  $("giveaway-form").addEventListener("submit", (e) => createGiveaway(e).catch(() => {}));
  $("giveaway-entry").addEventListener("change", () => {
    $("giveaway-minutes-present").disabled = $("giveaway-entry").value !== "present";
  });
  $("orders-filter").addEventListener("submit", (e) => { e.preventDefault(); loadDeskOrders(); });
  for (const id of ["orders-status", "orders-product"]) {
    $(id).addEventListener("change", () => loadDeskOrders());
  }
  $("orders-clear").addEventListener("click", () => {
    $("orders-status").value = "";
    $("orders-product").value = "";
    $("orders-search").value = "";
    state.ordersBuyer = null;
    loadDeskOrders();
  });
  $("orders-more").addEventListener("click", () => loadDeskOrders(false, true));
  // "Buyer: name ✕" drops the buyer filter, keeping the others.
  $("orders-buyer").addEventListener("click", () => {
    state.ordersBuyer = null;
    loadDeskOrders();
  });
}

// ---------------------------------------------------------------- preview

// The stage as viewers get it, over WebRTC (WHEP: our offer in one POST,
// the server's answer back). Muted: the host hears themselves already.
async function startPreview() {
  await stopPreview();
  const pc = new RTCPeerConnection();
  const preview = { pc, location: null };
  state.preview = preview;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (e) => {
    stream.addTrack(e.track);
    $("preview").srcObject = stream;
  };
  pc.onconnectionstatechange = () => {
    if (state.preview !== preview) return;
    const words = {
      connecting: "Connecting…",
      connected: "Live: what viewers see now.",
      disconnected: "The preview stalled; it may come back.",
      failed: "The preview stopped (the show ended, or the link failed).",
    };
    if (words[pc.connectionState]) $("preview-state").textContent = words[pc.connectionState];
    // Over: free it on the server too.
    if (pc.connectionState === "failed") stopPreview();
  };
  $("preview-state").textContent = "Connecting…";
  showPreviewButtons(true);
  await pc.setLocalDescription(await pc.createOffer());
  // Every candidate in the one offer: wait for gathering, briefly.
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    setTimeout(done, 2000);
  });
  const response = await fetch("/api/v1/stream/preview", {
    method: "POST",
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/sdp" },
    body: pc.localDescription.sdp,
  });
  // Stopped (or restarted) while the server answered: free what it made.
  if (state.preview !== preview) {
    const made = response.ok && response.headers.get("Location");
    if (made) deletePreview(made);
    return;
  }
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    const words = {
      not_live: "The preview starts once you are live.",
      too_many_previews: "Four previews are open on other consoles; close one first.",
      no_common_codec: "This browser cannot play the stage's video (H.264).",
      no_media: "This server relays no video.",
    };
    $("preview-state").textContent = words[data.code] || data.message || `HTTP ${response.status}`;
    pc.close();
    if (state.preview === preview) state.preview = null;
    showPreviewButtons(false);
    return;
  }
  preview.location = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
}

async function stopPreview() {
  const preview = state.preview;
  state.preview = null;
  showPreviewButtons(false);
  if (!preview) return;
  preview.pc.close();
  $("preview").srcObject = null;
  if (preview.location) await deletePreview(preview.location);
}

// `keepalive`: the request outlives a page being closed.
function deletePreview(location) {
  return fetch(location, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${state.token}` },
    keepalive: true,
  }).catch(() => {});
}

function showPreviewButtons(playing) {
  $("preview-start").hidden = playing;
  $("preview-stop").hidden = !playing;
  $("preview").hidden = !playing;
}

// ---------------------------------------------------------------- stage

const LAYOUT_WORDS = {
  solo: "Solo",
  side_by_side: "Side by side",
  picture_in_picture: "Picture in picture",
  grid: "Grid",
};

// The stage card: who is in which seat and live, the layout, and (for the
// host) invitations and keys. A server without co-host seats hides it.
async function loadStage() {
  // A poll sent before a change must not paint over it when it lands late.
  const seq = state.stageSeq = (state.stageSeq || 0) + 1;
  let stage, list;
  try {
    [stage, list] = await Promise.all([
      api("GET", "/api/v1/stream/stage", undefined, true),
      api("GET", "/api/v1/stream/co-hosts", undefined, true),
    ]);
    // Where the host publishes, asked once.
    state.ingest = state.ingest || await api("GET", "/api/v1/stream/ingest", undefined, true);
  } catch (e) {
    if (e.status === 404 || e.status === 403) {
      $("stage-card").hidden = true;
      clearInterval(state.stageTimer);
    }
    return;
  }
  if (seq !== state.stageSeq) return;
  $("stage-card").hidden = false;
  const key = JSON.stringify([stage, list]);
  if (key === state.stageKey) return;
  state.stageKey = key;
  state.stage = stage;
  const lead = state.role === "host";
  for (const button of document.querySelectorAll("#stage-card [data-layout]")) {
    button.setAttribute("aria-pressed", String(button.dataset.layout === stage.layout));
  }
  const live = stage.seats.filter((s) => s.live);
  const shownBig = stage.big ?? (live[0] && live[0].seat);
  $("stage-big").replaceChildren(...(live.length
    ? live.map((s) => el("option", { value: s.seat, selected: s.seat === shownBig ? "" : null }, seatName(s)))
    : [el("option", { value: "" }, "Nobody is live yet")]));
  $("stage-big").disabled = live.length < 2;
  $("stage-shown").textContent = live.length === 0
    ? "Nobody is on camera."
    : stage.shown === stage.layout
      ? `Viewers see: ${LAYOUT_WORDS[stage.shown]}, ${live.length} on camera.`
      : `Viewers see: Solo until a second person is live (you chose ${LAYOUT_WORDS[stage.layout]}).`;
  const coHosts = new Map(list.co_hosts.map((c) => [c.seat, c]));
  const rows = stage.seats.map((s) => {
    const c = coHosts.get(s.seat);
    const status = s.live ? "live" : "not live";
    const detail = c
      ? `publishes to ${c.srt_url}${c.rtmp_url ? ` or ${c.rtmp_url}` : ""} with the key ending ${c.key_hint}`
      : `publishes to ${state.ingest.srt_url} with the show's stream key`;
    return el("li", { id: `seat-${s.seat}`, "data-live": String(s.live) },
      el("span", { class: `dot${s.live ? " live" : ""}`, title: status }),
      el("span", { class: "grow" }, el("b", {}, seatName(s)), ` · ${status}`,
        el("br"), el("small", { class: "quiet-text" }, detail)),
      c && lead ? el("button", { class: "small quiet", type: "button",
        onclick: () => revokeCoHost(c).catch(() => {}) }, "Revoke key") : "");
  });
  if (stage.refused > 0) {
    rows.push(el("li", { class: "quiet-text" },
      `${stage.refused} connection${stage.refused === 1 ? "" : "s"} refused (a wrong or revoked key, or a seat already live)`));
  }
  $("stage-seats").replaceChildren(...rows);
  const full = list.co_hosts.length >= list.max;
  $("co-host-form").hidden = !lead;
  $("invite-co-host").disabled = full;
  $("co-host-name").placeholder = list.max === 0
    ? "This server has no co-host seats"
    : full
      ? `All ${list.max} co-host seat${list.max === 1 ? " is" : "s are"} taken`
      : "Their name, as shown on screen";
}

function seatName(s) {
  return s.seat === 0 ? `${s.name} (host)` : s.name;
}

function stageRefusal(e) {
  const words = {
    not_live: "Only someone live can take the big slot",
    invalid_seat: "There is no such seat",
    co_host_limit: "Every co-host seat is taken; revoke one first",
    invalid_name: "Give the co-host a name of 1 to 32 characters",
    already_revoked: "That key was already revoked",
    co_host_not_found: "That co-host is gone",
    forbidden: "Only the host can invite or revoke co-hosts",
  };
  return words[e.code] || e.message;
}

async function setStage(layout, big) {
  // Polls already on their way predate this choice: drop them, and take
  // the choice as made until the server answers.
  state.stageSeq = (state.stageSeq || 0) + 1;
  if (state.stage) state.stage = { ...state.stage, layout };
  try {
    const body = { layout };
    if (big !== undefined && big !== "") body.big = Number(big);
    // The answer is the stage as it is now: the next change starts from it.
    state.stage = await api("PUT", "/api/v1/stream/stage", body, true);
  } catch (e) {
    toast(stageRefusal(e));
  }
  state.stageKey = null;
  await loadStage();
}

async function inviteCoHost(event) {
  event.preventDefault();
  const name = $("co-host-name").value.trim();
  let invited;
  try {
    invited = await api("POST", "/api/v1/stream/co-hosts", { name }, true);
  } catch (e) {
    toast(stageRefusal(e));
    return;
  }
  $("co-host-name").value = "";
  const c = invited.co_host;
  // The key is in this answer only: show it until the host closes it.
  $("co-host-key").replaceChildren(
    el("p", {}, el("b", {}, `${c.name} is invited to seat ${c.seat}.`),
      " Send them the server and the key; the key is shown this once."),
    el("p", {}, "Server (SRT): ", el("code", {}, c.srt_url)),
    c.rtmp_url ? el("p", {}, "Or RTMP, for OBS: ", el("code", { id: "co-host-rtmp" }, c.rtmp_url)) : "",
    el("p", {}, "Stream key: ", el("code", { id: "co-host-new-key" }, invited.stream_key)),
    el("p", { class: "quiet-text" },
      `vitrine-host --ingest ${c.srt_url} --key …, ffmpeg with streamid set to the key`
        + (c.rtmp_url ? ", or OBS with the RTMP server and the key as its stream key." : ".")),
    el("button", { class: "small quiet", type: "button",
      onclick: () => { $("co-host-key").hidden = true; $("co-host-key").replaceChildren(); } }, "Done, hide the key"));
  $("co-host-key").hidden = false;
  state.stageKey = null;
  await loadStage();
}

async function revokeCoHost(c) {
  try {
    await api("DELETE", `/api/v1/stream/co-hosts/${c.id}`, undefined, true);
    toast(`${c.name}'s key is revoked`);
  } catch (e) {
    toast(stageRefusal(e));
  }
  state.stageKey = null;
  await loadStage();
}

function wireStage() {
  for (const button of document.querySelectorAll("#stage-card [data-layout]")) {
    button.addEventListener("click", () => setStage(button.dataset.layout, $("stage-big").value));
  }
  $("stage-big").addEventListener("change", () =>
    setStage(state.stage ? state.stage.layout : "solo", $("stage-big").value));
  $("co-host-form").addEventListener("submit", (e) => inviteCoHost(e).catch(() => {}));
  $("outlet-form").addEventListener("submit", (e) => addOutlet(e).catch(() => {}));
}

function startStage() {
  loadStream();
  state.streamTimer = setInterval(loadStream, 2000);
  if (state.role === "moderator") return;
  loadStage();
  state.stageTimer = setInterval(loadStage, 2000);
  loadOutlets();
  state.outletTimer = setInterval(loadOutlets, 2000);
}

// ---------------------------------------------------------------- restream

const OUTLET_WORDS = {
  idle: () => "waiting for the show to go live",
  connecting: () => "connecting…",
  live: () => "live",
  retrying: (o) => `failed: ${o.reason || "no reason given"}`
    + (o.retry_in_s != null ? `; trying again in ${o.retry_in_s} s` : ""),
};

async function loadOutlets() {
  let list;
  try {
    list = await api("GET", "/api/v1/stream/outlets", undefined, true);
  } catch (e) {
    if (e.status === 404 || e.status === 403) {
      $("outlets-card").hidden = true;
      clearInterval(state.outletTimer);
    }
    return;
  }
  $("outlets-card").hidden = false;
  const lead = state.role === "host";
  const rows = list.outlets.map((o) =>
    el("li", { id: `outlet-${o.id}`, "data-state": o.state },
      el("span", { class: `dot${o.state === "live" ? " live" : ""}`, title: o.state }),
      el("span", { class: "grow" }, el("b", {}, o.name), ` · ${OUTLET_WORDS[o.state](o)}`,
        el("br"), el("small", { class: "quiet-text" },
          o.key_hint ? `${o.url} with the key ending ${o.key_hint}` : o.url)),
      lead ? el("button", { class: "small quiet", type: "button",
        onclick: () => removeOutlet(o).catch(() => {}) }, "Remove") : ""));
  if (rows.length === 0) rows.push(el("li", { class: "quiet-text" }, "No outlets: the show goes out here only."));
  $("outlet-list").replaceChildren(...rows);
  $("outlet-form").hidden = !lead;
  $("add-outlet").disabled = list.outlets.length >= list.max;
}

function outletRefusal(e) {
  const words = {
    invalid_outlet: "Give an rtmp:// or rtmps:// server and the platform's stream key",
    invalid_name: "Give the outlet a name of 1 to 32 characters",
    outlet_limit: "Five outlets at most; remove one first",
    outlet_not_found: "That outlet is gone",
    forbidden: "Only the host can add or remove outlets",
  };
  return words[e.code] || e.message;
}

async function addOutlet(event) {
  event.preventDefault();
  const body = {
    name: $("outlet-name").value.trim(),
    url: $("outlet-url").value.trim(),
    stream_key: $("outlet-key").value.trim(),
  };
  try {
    const o = await api("POST", "/api/v1/stream/outlets", body, true);
    toast(`${o.name} added: the show goes out to it while live`);
  } catch (e) {
    toast(outletRefusal(e));
    return;
  }
  // The key leaves the page once sent.
  for (const id of ["outlet-name", "outlet-url", "outlet-key"]) $(id).value = "";
  await loadOutlets();
}

async function removeOutlet(o) {
  try {
    await api("DELETE", `/api/v1/stream/outlets/${o.id}`, undefined, true);
    toast(`${o.name} removed`);
  } catch (e) {
    toast(outletRefusal(e));
  }
  await loadOutlets();
}

// ---------------------------------------------------------------- giveaways

const RULE_WORDS = {
  everyone: () => "Everyone watching may enter",
  present: (g) => `Viewers who watched at least ${g.present_minutes} min may enter`,
  bought_in_show: () => "Buyers in this show may enter",
};

async function createGiveaway(event) {
  event.preventDefault();
  const entry = $("giveaway-entry").value;
  const body = {
    prize: $("giveaway-prize").value.trim(),
    entry,
    closes_in_secs: Math.round(Number($("giveaway-minutes").value) * 60),
  };
  if (entry === "present") body.present_minutes = Number($("giveaway-minutes-present").value);
  let g;
  try {
    g = await api("POST", "/api/v1/giveaways", body, true);
  } catch (e) {
    toast(giveawayRefusal(e));
    throw e;
  }
  toast(`Giveaway open: ${g.prize}`);
  await loadGiveaways();
}

// The server's limits are in its terms (seconds, field names); the form asks
// for minutes, so a refusal is said in the form's words.
function giveawayRefusal(e) {
  const m = /^(closes_in_secs|present_minutes|prize): (\d+) to (\d+)/.exec(e.message || "");
  if (!m) return e.message;
  const [, field, low, high] = m;
  if (field === "closes_in_secs") {
    const minutes = (secs) => (Number(secs) / 60).toLocaleString(undefined, { maximumFractionDigits: 2 });
    return `Entries close in: between ${minutes(low)} and ${minutes(high)} minutes`;
  }
  if (field === "present_minutes") return `Watched at least: between ${low} and ${high} minutes`;
  return `Prize: ${low} to ${high} characters`;
}

async function drawGiveaway(id) {
  try {
    await api("POST", `/api/v1/giveaways/${id}/draw`, undefined, true);
    toast("Drawn");
  } catch (e) {
    const words = {
      no_entrants: "Nobody has entered yet: entries stay open",
      already_drawn: "Already drawn",
      giveaway_not_found: "That giveaway is gone",
    };
    toast(words[e.code] || e.message);
  }
  await loadGiveaways();
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function hexBytes(hex) {
  return new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
}

// Recomputes every draw from the revealed seed and the entry list, as the
// server's rule says (server/src/engagement/giveaways.rs).
async function checkDraws(g) {
  if (!window.crypto || !crypto.subtle) return null; // not a secure page
  const commitmentOk = (await sha256Hex(hexBytes(g.seed))) === g.commitment;
  const entries = g.entries.slice().sort((a, b) => a - b);
  const winners = [];
  for (const draw of g.draws) {
    const message = `${g.seed}:${entries.join(",")}:${draw.draw}`;
    const h = await sha256Hex(new TextEncoder().encode(message));
    const candidates = entries.filter((e) => !winners.includes(e));
    const pick = BigInt(`0x${h.slice(0, 16)}`) % BigInt(candidates.length);
    winners.push(candidates[Number(pick)]);
  }
  const drawsOk = g.draws.every((d, i) => winners[i] === d.account_id);
  return { commitmentOk, drawsOk };
}

async function loadGiveaways() {
  if (!state.token || state.role === "moderator") return;
  const list = await api("GET", "/api/v1/console/giveaways");
  const now = Date.now();
  // Redrawn only when something changed, so an open proof stays open and
  // the draw button is not swapped under the host's pointer every poll.
  const shown = list.giveaways.slice(0, 3);
  const key = JSON.stringify([shown, shown.map(({ giveaway: g }) => now < g.closes_at_ms)]);
  if (key === state.giveawaysKey) return;
  state.giveawaysKey = key;
  const items = [];
  for (const { giveaway: g, entrant_count: count, entrants } of shown) {
    const drawn = g.draws.length > 0;
    const open = !drawn && now < g.closes_at_ms;
    const names = entrants.slice(0, 12).map((e) => e.name).join(", ");
    const more = count > 12 ? ` and ${count - 12} more` : "";
    const status = drawn ? "Drawn" : open
      ? `Entries close at ${localTime(g.closes_at_ms)}` : count ? "Drawing…" : "Closed with no entries";
    const li = el("li", { id: `giveaway-${g.id}`, "data-entrants": count, "data-drawn": drawn },
      el("span", { class: "grow" }, el("b", {}, g.prize), ` · ${(RULE_WORDS[g.entry] || (() => g.entry))(g)}`),
      el("span", { class: "quiet-text" }, status),
      el("div", { class: "entrants" },
        el("b", { class: "entrant-count" }, count), count === 1 ? " entrant" : " entrants",
        count ? `: ${names}${more}` : ""));
    if (open) {
      li.append(el("button", { class: "small draw", disabled: count ? undefined : "",
        onclick: () => drawGiveaway(g.id) }, "Close entries and draw now"));
    }
    if (drawn) li.append(await proofOf(g));
    items.push(li);
  }
  $("giveaways").replaceChildren(...items);
}

async function proofOf(g) {
  const winner = g.draws[g.draws.length - 1];
  const check = await checkDraws(g);
  const box = el("div", { class: "proof" },
    el("p", { class: "winner" }, "Winner: ", el("b", {}, winner.name),
      winner.claimed ? " · prize claimed" : ` · to claim by ${localDateTime(winner.claim_by_ms)}`),
    el("p", {}, `When the giveaway opened, Vitrine published a fingerprint of a secret number: `,
      el("code", {}, g.commitment.slice(0, 16) + "…"),
      ". Now that entries are closed, the secret number (the seed) is revealed: ",
      el("code", {}, g.seed.slice(0, 16) + "…"),
      `. The winner is picked from the seed and the ${g.entries.length} entrants, so nobody could choose them.`));
  const verdict = check === null
    ? "Your browser cannot check it on this page (it needs https); anyone can check it from the public giveaway."
    : check.commitmentOk && check.drawsOk
      ? "Checked in your browser: the seed matches the fingerprint, and the draw gives the same winner. ✓"
      : "Checked in your browser: this draw does NOT match. Do not award the prize.";
  box.append(el("p", { class: `verdict ${check && check.commitmentOk && check.drawsOk ? "ok" : ""}` }, verdict));
  box.append(el("details", {}, el("summary", {}, "The full proof"),
    el("pre", {}, `commitment ${g.commitment}\nseed       ${g.seed}\nentries    ${g.entries.join(",")}\n` +
      g.draws.map((d) => `draw ${d.draw}     ${d.account_id} (${d.name})`).join("\n"))));
  return box;
}

// ---------------------------------------------------------------- orders

function ordersQuery() {
  const params = new URLSearchParams();
  if ($("orders-status").value) params.set("status", $("orders-status").value);
  if ($("orders-product").value) params.set("product", $("orders-product").value);
  if (state.ordersBuyer) params.set("buyer", state.ordersBuyer.id);
  const q = $("orders-search").value.trim();
  if (q) params.set("q", q);
  return params;
}

// `quietly`: a background refresh, which leaves an open refund form and
// the pages loaded alone; `more`: the next page.
async function loadDeskOrders(quietly, more) {
  if (!state.token || state.role === "moderator") return;
  if (quietly && document.querySelector("#order-rows .refund-form")) return;
  if (!$("orders-product").options.length) fillOrderProducts();
  const params = ordersQuery();
  if (more && state.ordersNext) params.set("before", state.ordersNext);
  if (!more && state.ordersShown > 25) params.set("limit", String(Math.min(100, state.ordersShown)));
  // Answers can come back out of order (a quiet refresh, then a filter):
  // only the newest request's answer is shown.
  const ticket = (state.ordersTicket = (state.ordersTicket || 0) + 1);
  let list;
  try {
    list = await api("GET", `/api/v1/console/orders?${params}`, undefined, true);
  } catch (e) {
    if (ticket !== state.ordersTicket) return;
    $("orders-note").textContent = e.code === "bad_filter" ? `That filter does not work: ${e.message}` : e.message;
    return;
  }
  if (ticket !== state.ordersTicket) return;
  state.ordersNext = list.next;
  const rows = list.orders.map(orderRow);
  if (more) $("order-rows").append(...rows);
  else $("order-rows").replaceChildren(...rows);
  state.ordersShown = $("order-rows").children.length;
  $("orders-more").hidden = !list.next;
  const of = list.show ? `during “${list.show.title}”` : "in all";
  const who = state.ordersBuyer ? ` by ${state.ordersBuyer.name}` : "";
  $("orders-note").textContent = `${list.matching} ${list.matching === 1 ? "order" : "orders"}${who} ${of}`;
  $("orders-buyer").hidden = !state.ordersBuyer;
  $("orders-buyer").textContent = state.ordersBuyer ? `Buyer: ${state.ordersBuyer.name} ✕` : "";
}

function fillOrderProducts() {
  const select = $("orders-product");
  select.replaceChildren(el("option", { value: "" }, "Any product"),
    ...state.products.map((p) => el("option", { value: p.id }, p.name)));
}

function orderItems(o) {
  return o.lines.map((l) => {
    const name = l.product_name || l.sku;
    return `${l.quantity} × ${name}${l.variant ? ` (${l.variant})` : ""}`;
  }).join(", ");
}

function orderRow(o) {
  const row = el("tr", { "data-order": o.id, "data-status": o.status });
  // The last action's result stays on its row across refreshes.
  state.orderResults = state.orderResults || {};
  const said = state.orderResults[o.id];
  const result = el("div", { class: said ? said.className : "result", role: "status" },
    said ? said.text : "");
  const say = (text, className) => {
    result.textContent = text;
    result.className = className;
    state.orderResults[o.id] = { text, className };
  };
  const actions = el("td", { class: "actions" });
  const act = async (path, body, done) => {
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try {
      await api("POST", `/api/v1/orders/${o.id}/${path}`, body, true);
      say(`${done} at ${localTime(Date.now())}`, "result ok");
      toast(`Order ${o.id}: ${done.toLowerCase()}`);
    } catch (e) {
      say(refusalWords(e, o), "result refused");
      for (const b of actions.querySelectorAll("button")) b.disabled = false;
      return;
    }
    await loadDeskOrders();
  };
  if (o.status === "paid") {
    actions.append(el("button", { class: "small fulfil", onclick: () => act("fulfil", undefined, "Marked shipped") }, "Mark shipped"));
  }
  if (o.status === "fulfilled") {
    actions.append(el("button", { class: "small deliver", onclick: () => act("deliver", undefined, "Marked delivered") }, "Mark delivered"));
  }
  if (["paid", "fulfilled", "delivered"].includes(o.status)) {
    actions.append(el("button", { class: "small quiet refund", onclick: () => {
      if (actions.querySelector(".refund-form")) return;
      const reason = el("input", { class: "refund-reason", maxlength: "500", placeholder: "Reason, e.g. arrived damaged" });
      const form = el("form", { class: "refund-form" }, reason,
        el("button", { class: "small danger refund-confirm", type: "submit" }, "Refund"),
        el("button", { class: "small quiet", type: "button", onclick: () => form.remove() }, "Cancel"));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const text = reason.value.trim();
        if (!text) { say("Say why: the buyer sees the reason", "result refused"); return; }
        act("refund", { reason: text }, "Refunded").then(() => form.remove());
      });
      actions.append(form);
      reason.focus();
    } }, "Refund…"));
  }
  actions.append(result);
  const buyer = el("button", { class: "link buyer", title: "Only this buyer's orders",
    onclick: () => { state.ordersBuyer = { id: o.buyer_id, name: o.buyer_name }; loadDeskOrders(); } }, o.buyer_name);
  const notes = [];
  if (o.coupon) notes.push(`coupon ${o.coupon} (−${money(o.discount)})`);
  if (o.return_reason) notes.push(`refunded: ${o.return_reason}`);
  if (o.failure) notes.push(o.failure.startsWith("declined") ? "card declined" : o.failure.replace(/_/g, " "));
  row.append(
    el("td", {}, el("b", {}, `#${String(o.id).slice(-6)}`), el("div", { class: "quiet-text" }, localTime(o.created_at_ms))),
    el("td", {}, buyer),
    el("td", { class: "items" }, orderItems(o),
      el("div", { class: "quiet-text" }, [`via ${SOURCE_WORDS[o.source] || o.source}`, ...notes].join(" · "))),
    el("td", {}, money(o.total)),
    el("td", {}, el("span", { class: `state ${o.status}` }, stateWords(o.status))),
    actions);
  return row;
}

// A refused step in the host's words.
function refusalWords(e, o) {
  if (e.code === "order_state") {
    const now = (/the order is (\w+)/.exec(e.message) || [])[1] || o.status;
    const words = {
      refunded: "Already refunded", delivered: "Already delivered", fulfilled: "Already shipped",
      cancelled: "Cancelled: it was never paid", pending: "Not paid yet",
      paid: "Not shipped yet",
    };
    return words[now] || `Not possible: the order is ${stateWords(now).toLowerCase()}`;
  }
  const words = {
    invalid_reason: "Give a reason of up to 500 characters",
    refund_failed: "The payment provider refused the refund; nothing changed",
    order_not_found: "This order no longer exists",
    forbidden: "Only hosts and co-hosts can do this",
    rate_limited: "Too many actions at once; try again in a moment",
  };
  return words[e.code] || e.message;
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
  window.addEventListener("resize", () => state.dashboard && drawChart(state.dashboard));
  wireShowDesk();
  wireStage();
  $("preview-start").addEventListener("click", () => startPreview().catch((e) => {
    $("preview-state").textContent = `The preview did not start: ${e.message}`;
    showPreviewButtons(false);
  }));
  $("preview-stop").addEventListener("click", () => {
    stopPreview();
    $("preview-state").textContent = "Preview stopped.";
  });
  // A closed page frees its preview on the server at once.
  window.addEventListener("pagehide", () => { stopPreview(); });
  if (state.token) start().catch(() => signOut());
});

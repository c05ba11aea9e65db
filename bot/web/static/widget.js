/* The post-biopsy triage chat widget. A hospital page embeds it with one tag:
 *
 *   <script src="https://chat.hospital.example/widget.js" defer></script>
 *
 * It finds its server from its own src, adds its stylesheet, and shows the chat
 * inside an element with a data-triage-chat attribute if the page has one,
 * otherwise behind a floating button. Every text is put in with textContent:
 * what the bot or the patient writes is never read as HTML.
 */
(() => {
  "use strict";

  // Filled in by the server; what to show when the server cannot be reached at all.
  const OFFLINE = /*OFFLINE_DEFAULTS*/null;
  const SCRIPT = document.currentScript || document.querySelector('script[src$="/widget.js"]');
  const BASE = new URL(SCRIPT.src, document.baseURI).origin;
  const STORE_KEY = "triage-chat:" + BASE;
  const MAX_HISTORY = 200;  // keeps localStorage small on very long conversations
  const BANNER_LEVELS = ["emergency", "urgent"];
  const START = { title: "Start", payload: "hi" };

  let config = null;  // /api/config: phone numbers, retention period, limits
  let busy = false;
  const state = loadState();
  const ui = {};

  // --- state kept on this device, so a reload shows the same conversation ---
  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function loadState() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORE_KEY));
      if (saved && typeof saved.sender === "string" && Array.isArray(saved.history)) return saved;
    } catch (error) { /* unreadable: start afresh */ }
    return { sender: newId(), accepted: false, open: false, history: [] };
  }

  function saveState() {
    state.history = state.history.slice(-MAX_HISTORY);
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (error) { /* storage blocked or full: the chat still works, only not across reloads */ }
  }

  // --- building blocks ---
  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key === "hidden") node.hidden = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  const srOnly = (text) => el("span", { class: "tc-sr", text });

  function numbers() {
    const source = config || OFFLINE;
    return { emergency: source.emergency_number, urgent: source.urgent_number };
  }

  function phoneLinks(phones) {
    const list = el("ul", { class: "tc-phones" });
    const seen = new Set();
    for (const phone of phones) {
      const shown = String((phone && phone.tel) || "");
      const tel = shown.replace(/[^0-9+]/g, "");  // only digits can reach the href
      if (!tel || seen.has(tel)) continue;
      seen.add(tel);
      const label = String(phone.label || "Call");
      const text = label.includes(shown) ? label : `${label}: ${shown}`;
      const link = el("a", { class: seen.size === 1 ? "tc-phone tc-phone--main" : "tc-phone", text });
      link.href = "tel:" + tel;
      list.append(el("li", {}, [link]));
    }
    return list;
  }

  function failsafeEntry() {
    return { from: "bot", text: OFFLINE.failsafe_line, custom: { failsafe: true, bot_unreachable: true } };
  }

  function isBanner(entry) {
    return Boolean(entry.custom && BANNER_LEVELS.includes(entry.custom.triage_level));
  }

  function banner(custom) {
    const { emergency, urgent } = numbers();
    const title = custom.triage_level === "emergency"
      ? `Emergency: call ${emergency} now` : "Urgent: get medical help now";
    const phones = [...(Array.isArray(custom.phones) ? custom.phones : []),
      { label: `Call ${emergency}`, tel: emergency }, { label: `Call ${urgent}`, tel: urgent }];
    if (config) phones.push({ label: `Call the ${config.department_name}`, tel: config.department_phone });
    return el("div", { class: `tc-banner tc-banner--${custom.triage_level}` }, [
      el("p", { class: "tc-banner__title", text: title }), phoneLinks(phones)]);
  }

  function renderEntry(entry) {
    const text = typeof entry.text === "string" ? entry.text : "";
    if (entry.from === "user") {
      return el("div", { class: "tc-msg tc-msg--user" }, [srOnly("You said: "), el("p", { text })]);
    }
    if (entry.from === "notice") {
      return el("div", { class: "tc-msg tc-msg--notice" }, [el("p", { text })]);
    }
    const custom = entry.custom && typeof entry.custom === "object" ? entry.custom : {};
    if (isBanner(entry)) return banner(custom);
    const { emergency, urgent } = numbers();
    const phones = custom.failsafe
      ? [{ label: `Call ${urgent}`, tel: urgent }, { label: `Call ${emergency}`, tel: emergency }]
      : (Array.isArray(custom.phones) ? custom.phones : []);
    const parts = [srOnly("The helper said: ")];
    if (text) parts.push(el("p", { text }));
    if (phones.length) parts.push(phoneLinks(phones));
    if (parts.length === 1) return null;  // e.g. self-care advice data with no phone numbers
    return el("div", { class: custom.failsafe ? "tc-msg tc-msg--failsafe" : "tc-msg tc-msg--bot" }, parts);
  }

  function intro() {
    return el("div", { class: "tc-msg tc-msg--bot" }, [
      srOnly("The helper said: "),
      el("p", { text: "Tell me in your own words what you have noticed since the biopsy, "
        + "or choose Start to answer a few questions." }),
      el("p", { text: `If you think it is an emergency, call ${numbers().emergency} now.` })]);
  }

  // --- the conversation ---
  function showReplies(buttons) {
    ui.replies.replaceChildren();
    for (const button of Array.isArray(buttons) ? buttons : []) {
      if (!button || typeof button.title !== "string") continue;
      const payload = typeof button.payload === "string" ? button.payload : button.title;
      const node = el("button", { type: "button", class: "tc-reply", text: button.title });
      node.addEventListener("click", (event) => {
        // The buttons are about to go away: keep keyboard users in the chat (detail 0 =
        // not a pointer), without popping up the on-screen keyboard after a tap.
        if (event.detail === 0) ui.input.focus();
        send(payload, button.title);
      });
      ui.replies.append(node);
    }
    ui.replies.hidden = !ui.replies.childElementCount;
  }

  function lastButtons() {
    const last = state.history[state.history.length - 1];
    if (!last) return [START];
    return last.from === "bot" ? last.buttons : [];
  }

  function renderLog() {
    ui.log.replaceChildren(intro());
    for (const entry of state.history) {
      const node = renderEntry(entry);
      if (node) ui.log.append(node);
    }
    ui.log.scrollTop = ui.log.scrollHeight;
    showReplies(lastButtons());
  }

  function addBatch(entries) {
    let first = null;
    // Emergency and urgent banners go before the advice text they belong to.
    for (const entry of [...entries].sort((a, b) => isBanner(b) - isBanner(a))) {
      const node = renderEntry(entry);
      if (node) {
        ui.log.append(node);
        first = first || node;
      }
      if (entry.from !== "notice") state.history.push(entry);
    }
    saveState();
    // Show the start of a long reply (the banner, the advice), not its end.
    if (first) ui.log.scrollTop = first.offsetTop - 8;  // the log is the offsetParent
  }

  function toEntry(message) {
    if (!message || typeof message !== "object") return null;
    const entry = { from: "bot", text: typeof message.text === "string" ? message.text : "" };
    if (Array.isArray(message.buttons)) entry.buttons = message.buttons;
    if (message.custom && typeof message.custom === "object") entry.custom = message.custom;
    return entry;
  }

  async function ask(message) {
    let response;
    let body;
    try {
      response = await fetch(BASE + "/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: state.sender, message }),
        credentials: "omit",
      });
      body = await response.json();
    } catch (error) {
      return [failsafeEntry()];  // the server cannot be reached, or answered nonsense
    }
    const entries = Array.isArray(body) ? body.map(toEntry).filter(Boolean) : [];
    if (entries.length) return entries;  // this includes the server's own fail-safe line
    // A message the server refused (too long, empty): say why, the patient can fix it.
    if ([400, 413].includes(response.status) && body && typeof body.error === "string") {
      return [{ from: "notice", text: body.error }];
    }
    return [failsafeEntry()];
  }

  function setBusy(value) {
    busy = value;
    ui.typing.hidden = !value;
    ui.log.setAttribute("aria-busy", String(value));
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    ui.send.setAttribute("aria-disabled", String(value));
  }

  async function send(message, shown = message) {
    message = message.trim();
    if (busy || !message) return;
    setBusy(true);
    showReplies([]);
    addBatch([{ from: "user", text: shown.trim() }]);
    addBatch(await ask(message));
    setBusy(false);
    showReplies(lastButtons());
  }

  function startAgain() {
    if (busy) return;
    state.history = [];
    saveState();
    renderLog();
    ui.input.focus();
    send("start again", "Start again");
  }

  // --- privacy notice, layout, start-up ---
  function showNotice() {
    const accept = el("button", { type: "button", class: "tc-button", text: "I understand, start the chat" });
    ui.accept = accept;
    accept.addEventListener("click", () => {
      state.accepted = true;
      saveState();
      begin();
      ui.input.focus();
    });
    const item = (label, text) => el("li", {}, [el("strong", { text: label + " " }), text]);
    ui.notice.replaceChildren(
      el("h3", { class: "tc-notice__title", text: "Before you start" }),
      el("ul", { class: "tc-notice__list" }, [
        item("What is stored:", "what you type here and the answers you get, with the date and time."),
        item("For how long:", `${config.retention_days} days after your last message.`),
        item("Who sees it:", `the ${config.department_name} care team at the hospital, to check and improve this service.`),
      ]),
      el("p", { text: "This device also keeps the chat so you can come back to it. "
        + "The chat gives the hospital leaflets' advice; it cannot diagnose." }),
      accept);
    ui.notice.hidden = false;
  }

  function begin() {
    ui.notice.hidden = true;
    for (const part of [ui.log, ui.form, ui.restart]) part.hidden = false;
    renderLog();
  }

  function setOpen(open) {
    ui.root.hidden = !open;
    ui.launcher.setAttribute("aria-expanded", String(open));
    state.open = open;
    saveState();
    const target = state.accepted ? ui.input : ui.accept;
    if (open && target) target.focus();
  }

  function build(mount) {
    ui.restart = el("button", { type: "button", class: "tc-button tc-button--secondary", text: "Start again", hidden: true });
    ui.restart.addEventListener("click", startAgain);
    const header = el("div", { class: "tc-header" }, [
      el("h2", { id: "tc-title", class: "tc-title", text: "Biopsy symptom check" }), ui.restart]);
    ui.log = el("div", { class: "tc-log", role: "log", "aria-live": "polite", "aria-label": "Conversation",
      tabindex: "0", hidden: true });
    ui.notice = el("div", { class: "tc-notice", hidden: true });
    ui.replies = el("div", { class: "tc-replies", role: "group", "aria-label": "Quick replies", hidden: true });
    ui.typing = el("p", { class: "tc-typing", "aria-hidden": "true", text: "The helper is typing…", hidden: true });
    ui.input = el("input", { id: "tc-input", class: "tc-input", type: "text", autocomplete: "off",
      enterkeyhint: "send", placeholder: "Type your answer or question" });
    ui.send = el("button", { type: "submit", class: "tc-button", text: "Send" });
    ui.form = el("form", { class: "tc-form", hidden: true }, [
      el("label", { for: "tc-input", class: "tc-sr", text: "Your message" }), ui.input, ui.send]);
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (busy || !ui.input.value.trim()) return;
      const text = ui.input.value;
      ui.input.value = "";
      send(text);
    });
    ui.root = el("section", { class: "tc-root", lang: "en", "aria-labelledby": "tc-title" },
      [header, ui.notice, ui.log, ui.typing, ui.replies, ui.form]);

    if (mount) {
      mount.append(ui.root);
      return;
    }
    // No place given on the page: a floating button that opens the chat.
    const close = el("button", { type: "button", class: "tc-button tc-button--secondary", text: "Close chat" });
    header.append(close);
    ui.root.id = "tc-panel";
    ui.root.classList.add("tc-root--floating");
    ui.launcher = el("button", { type: "button", class: "tc-launcher", "aria-controls": "tc-panel",
      text: "Check your biopsy symptoms" });
    ui.launcher.addEventListener("click", () => setOpen(ui.root.hidden));
    const closeAndReturn = () => { setOpen(false); ui.launcher.focus(); };
    close.addEventListener("click", closeAndReturn);
    ui.root.addEventListener("keydown", (event) => { if (event.key === "Escape") closeAndReturn(); });
    document.body.append(ui.launcher, ui.root);
    ui.root.hidden = !state.open;
    ui.launcher.setAttribute("aria-expanded", String(state.open));
  }

  function addStylesheet() {
    const href = BASE + "/widget.css";
    const links = document.querySelectorAll('link[rel="stylesheet"]');
    if (![...links].some((link) => link.href === href)) {
      document.head.append(el("link", { rel: "stylesheet", href }));
    }
  }

  async function start() {
    addStylesheet();
    build(document.querySelector("[data-triage-chat]"));
    try {
      const response = await fetch(BASE + "/api/config", { credentials: "omit" });
      if (!response.ok) throw new Error(`config: HTTP ${response.status}`);
      config = await response.json();
    } catch (error) {
      ui.log.hidden = false;  // the page cannot reach the bot: say so, with the numbers to call
      ui.log.replaceChildren(renderEntry(failsafeEntry()));
      return;
    }
    ui.input.maxLength = config.max_message_chars;
    if (state.accepted) begin();
    else showNotice();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

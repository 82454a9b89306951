"use strict";
// The Switchboard web chat widget: embedded with one script tag,
//   <script src="https://switchboard.example.com/webchat/{integration_id}/widget.js" async></script>
// it adds a chat button and panel to the page and talks to switchboard over a WebSocket, or,
// when one cannot be used (twice closed before switchboard said `ready`, e.g. a proxy in the
// way; or `?transport=sse` on the script's URL), receives over Server-Sent Events
// (`/events`) and sends each frame as a plain POST (`/frames`) with the same token.
// No framework: DOM calls only. The visitor's session token is kept in localStorage (per
// integration), so a reload or another tab continues the same conversation; messages are
// shown once each (by id), history is resumed from the latest one shown, and a message the
// visitor wrote is kept and resent (same client id) until switchboard accepted it.
// While the visitor types, a typing notice goes out at most every TYPING_EVERY_MS; an agent's
// typing shows "typing…" for as long as switchboard says; the visitor's messages show
// "Sent" once accepted and "Seen" once an agent read the conversation up to them.
const RECONNECT_MAX_MS = 15000;
const SOCKET_FAILURES_BEFORE_FALLBACK = 2;
const TYPING_EVERY_MS = 3000;
// Only known while the script first runs; the widget itself waits for the page's body.
const currentScript = document.currentScript;
if (document.body) {
    start(currentScript);
}
else {
    document.addEventListener("DOMContentLoaded", () => start(currentScript));
}
function start(script) {
    if (!script) {
        return;
    }
    const source = new URL(script.src);
    const match = /\/webchat\/([^/]+)\/widget\.js$/.exec(source.pathname);
    if (!match) {
        return;
    }
    const integration = match[1];
    const base = source.origin + "/webchat/" + integration;
    const socketUrl = base.replace(/^http/, "ws") + "/ws";
    const tokenKey = "switchboard.webchat." + integration + ".token";
    const pendingKey = "switchboard.webchat." + integration + ".pending";
    const shown = new Map();
    let latest = null;
    let socket = null;
    let ready = false;
    let attempts = 0;
    let fallback = source.searchParams.get("transport") === "sse";
    let socketFailures = 0;
    let events = null;
    let typingSentAt = 0;
    let typingShownUntil;
    let seenUpTo = "";
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = base + "/widget.css";
    document.head.appendChild(style);
    const root = element("div", "sbwc");
    const toggle = element("button", "sbwc-toggle", "Chat");
    toggle.setAttribute("aria-expanded", "false");
    const panel = element("div", "sbwc-panel");
    panel.hidden = true;
    const status = element("div", "sbwc-status", "Connecting…");
    const log = element("ol", "sbwc-log");
    log.setAttribute("aria-live", "polite");
    const typing = element("div", "sbwc-typing", "typing…");
    typing.hidden = true;
    const form = element("form", "sbwc-form");
    const input = element("input", "sbwc-input");
    input.placeholder = "Write a message";
    input.maxLength = 4000;
    input.setAttribute("aria-label", "Message");
    const send = element("button", "sbwc-send", "Send");
    send.type = "submit";
    form.append(input, send);
    panel.append(status, log, typing, form);
    root.append(panel, toggle);
    document.body.appendChild(root);
    toggle.addEventListener("click", () => {
        panel.hidden = !panel.hidden;
        toggle.setAttribute("aria-expanded", String(!panel.hidden));
        if (!panel.hidden) {
            input.focus();
            acknowledgeRead();
        }
    });
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = input.value.trim();
        if (!text) {
            return;
        }
        input.value = "";
        const pending = { client_id: newId(), text };
        savePending([...loadPending(), pending]);
        showPending(pending);
        transmit(pending);
    });
    input.addEventListener("input", () => {
        const now = Date.now();
        if (input.value.trim() && now - typingSentAt >= TYPING_EVERY_MS && ready) {
            typingSentAt = now;
            say({ type: "typing" });
        }
    });
    document.addEventListener("visibilitychange", acknowledgeRead);
    connect();
    function connect() {
        ready = false;
        if (fallback) {
            connectEvents();
            return;
        }
        const opened = new WebSocket(socketUrl);
        socket = opened;
        opened.addEventListener("open", () => {
            const hello = {
                type: "hello",
                token: localStorage.getItem(tokenKey) || "",
            };
            if (latest) {
                hello.after = latest;
            }
            opened.send(JSON.stringify(hello));
        });
        opened.addEventListener("message", (event) => {
            receive(JSON.parse(String(event.data)));
        });
        opened.addEventListener("close", () => {
            if (!ready) {
                socketFailures += 1;
                fallback = socketFailures >= SOCKET_FAILURES_BEFORE_FALLBACK;
            }
            socket = null;
            retry();
        });
    }
    function connectEvents() {
        const url = new URL(base + "/events");
        url.searchParams.set("token", localStorage.getItem(tokenKey) || "");
        if (latest) {
            url.searchParams.set("after", latest);
        }
        const stream = new EventSource(url.toString());
        events = stream;
        stream.addEventListener("message", (event) => {
            receive(JSON.parse(String(event.data)));
        });
        // The stream reconnects itself with the token it was opened with; the widget reopens it
        // with the latest token and message instead.
        stream.addEventListener("error", () => {
            stream.close();
            events = null;
            retry();
        });
    }
    function retry() {
        ready = false;
        status.textContent = "Reconnecting…";
        attempts += 1;
        const delay = Math.min(RECONNECT_MAX_MS, 500 * 2 ** Math.min(attempts, 5));
        window.setTimeout(connect, delay);
    }
    function receive(frame) {
        switch (frame.type) {
            case "ready":
                localStorage.setItem(tokenKey, frame.token);
                ready = true;
                attempts = 0;
                root.dataset.transport = events ? "sse" : "websocket";
                status.textContent = "Connected";
                root.dataset.visitor = frame.visitor;
                loadPending().forEach(transmit);
                break;
            case "message":
                if (frame.message.author === "agent") {
                    hideTyping();
                }
                show(frame.message);
                break;
            case "accepted":
                savePending(loadPending().filter((p) => p.client_id !== frame.client_id));
                settle(frame.client_id, frame.message_id);
                break;
            case "typing":
                showTyping(frame.expires_in_ms);
                break;
            case "seen":
                if (!seenUpTo || Date.parse(frame.up_to) > Date.parse(seenUpTo)) {
                    seenUpTo = frame.up_to;
                }
                markSeen();
                break;
            case "error":
                if (frame.client_id) {
                    savePending(loadPending().filter((p) => p.client_id !== frame.client_id));
                    const item = shown.get("pending:" + frame.client_id);
                    item === null || item === void 0 ? void 0 : item.classList.add("sbwc-failed");
                    item === null || item === void 0 ? void 0 : item.setAttribute("title", frame.detail);
                }
                else {
                    status.textContent = frame.detail;
                }
                break;
        }
    }
    function transmit(pending) {
        if (ready) {
            say({ type: "send", client_id: pending.client_id, text: pending.text });
        }
    }
    function say(frame) {
        if (socket && socket.readyState === WebSocket.OPEN) {
            socket.send(JSON.stringify(frame));
        }
        else if (events) {
            post(frame);
        }
    }
    // One frame as a POST: the answer is what the socket would have said, or a problem.
    function post(frame) {
        const body = JSON.stringify({ token: localStorage.getItem(tokenKey) || "", frame });
        fetch(base + "/frames", { method: "POST", headers: { "content-type": "text/plain" }, body })
            .then(async (response) => {
            if (response.status === 204) {
                return;
            }
            const answer = (await response.json());
            if (response.ok) {
                receive(answer);
            }
            else {
                const detail = answer.detail || "refused";
                receive({ type: "error", client_id: frame.client_id, problem: answer.type, detail });
            }
        })
            .catch(() => undefined);
    }
    function showTyping(forMs) {
        typing.hidden = false;
        if (typingShownUntil !== undefined) {
            window.clearTimeout(typingShownUntil);
        }
        typingShownUntil = window.setTimeout(hideTyping, forMs);
    }
    function hideTyping() {
        typing.hidden = true;
        if (typingShownUntil !== undefined) {
            window.clearTimeout(typingShownUntil);
            typingShownUntil = undefined;
        }
    }
    function markSeen() {
        log.querySelectorAll(".sbwc-visitor:not(.sbwc-pending)").forEach((item) => {
            if (seenUpTo && Date.parse(item.dataset.sentAt || "") <= Date.parse(seenUpTo)) {
                item.dataset.status = "seen";
            }
        });
    }
    function show(message) {
        if (!latest || message.sent_at > latest) {
            latest = message.sent_at;
        }
        if (shown.has(message.id)) {
            return;
        }
        const mine = message.client_id ? shown.get("pending:" + message.client_id) : undefined;
        if (mine) {
            settle(message.client_id, message.id);
            mine.dataset.sentAt = message.sent_at;
            markSeen();
            return;
        }
        const item = bubble(message.author, message.text || "");
        item.dataset.id = message.id;
        if (message.author === "visitor") {
            item.dataset.status = "sent";
        }
        shown.set(message.id, item);
        place(item, message.sent_at);
        markSeen();
        if (message.author === "agent") {
            acknowledge([message.id], "delivered");
            acknowledgeRead();
        }
    }
    function showPending(pending) {
        const item = bubble("visitor", pending.text);
        item.classList.add("sbwc-pending");
        shown.set("pending:" + pending.client_id, item);
        place(item, new Date().toISOString());
    }
    function settle(clientId, messageId) {
        const item = shown.get("pending:" + clientId);
        if (!item) {
            return;
        }
        item.classList.remove("sbwc-pending");
        item.dataset.id = messageId;
        item.dataset.status = "sent";
        shown.set(messageId, item);
    }
    function place(item, sentAt) {
        item.dataset.sentAt = sentAt;
        const later = Array.from(log.children).find((other) => (other.dataset.sentAt || "") > sentAt);
        log.insertBefore(item, later || null);
        log.scrollTop = log.scrollHeight;
    }
    function acknowledgeRead() {
        if (panel.hidden || document.visibilityState !== "visible") {
            return;
        }
        const unread = Array.from(log.querySelectorAll(".sbwc-agent:not(.sbwc-read)"));
        if (unread.length === 0) {
            return;
        }
        unread.forEach((item) => item.classList.add("sbwc-read"));
        acknowledge(unread.map((item) => item.dataset.id), "read");
    }
    function acknowledge(ids, how) {
        if (ready) {
            say({ type: "ack", message_ids: ids.slice(0, 100), status: how });
        }
    }
    function loadPending() {
        try {
            return JSON.parse(localStorage.getItem(pendingKey) || "[]");
        }
        catch {
            return [];
        }
    }
    function savePending(pending) {
        localStorage.setItem(pendingKey, JSON.stringify(pending));
    }
    function bubble(author, text) {
        return element("li", "sbwc-message sbwc-" + author, text);
    }
}
function element(tag, className, text) {
    const node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) {
        node.textContent = text;
    }
    return node;
}
function newId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

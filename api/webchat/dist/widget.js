"use strict";
// The Switchboard web chat widget: embedded with one script tag,
//   <script src="https://switchboard.example.com/webchat/{integration_id}/widget.js" async></script>
// it adds a chat button and panel to the page and talks to switchboard over a WebSocket.
// No framework: DOM calls only. The visitor's session token is kept in localStorage (per
// integration), so a reload or another tab continues the same conversation; messages are
// shown once each (by id), history is resumed from the latest one shown, and a message the
// visitor wrote is kept and resent (same client id) until switchboard accepted it.
const RECONNECT_MAX_MS = 15000;
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
    const form = element("form", "sbwc-form");
    const input = element("input", "sbwc-input");
    input.placeholder = "Write a message";
    input.maxLength = 4000;
    input.setAttribute("aria-label", "Message");
    const send = element("button", "sbwc-send", "Send");
    send.type = "submit";
    form.append(input, send);
    panel.append(status, log, form);
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
    document.addEventListener("visibilitychange", acknowledgeRead);
    connect();
    function connect() {
        ready = false;
        socket = new WebSocket(socketUrl);
        socket.addEventListener("open", () => {
            attempts = 0;
            const hello = {
                type: "hello",
                token: localStorage.getItem(tokenKey) || "",
            };
            if (latest) {
                hello.after = latest;
            }
            socket === null || socket === void 0 ? void 0 : socket.send(JSON.stringify(hello));
        });
        socket.addEventListener("message", (event) => {
            receive(JSON.parse(String(event.data)));
        });
        socket.addEventListener("close", () => {
            ready = false;
            status.textContent = "Reconnecting…";
            attempts += 1;
            const delay = Math.min(RECONNECT_MAX_MS, 500 * 2 ** Math.min(attempts, 5));
            window.setTimeout(connect, delay);
        });
    }
    function receive(frame) {
        switch (frame.type) {
            case "ready":
                localStorage.setItem(tokenKey, frame.token);
                ready = true;
                status.textContent = "Connected";
                root.dataset.visitor = frame.visitor;
                loadPending().forEach(transmit);
                break;
            case "message":
                show(frame.message);
                break;
            case "accepted":
                savePending(loadPending().filter((p) => p.client_id !== frame.client_id));
                settle(frame.client_id, frame.message_id);
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
        if (ready && socket && socket.readyState === WebSocket.OPEN) {
            socket.send(JSON.stringify({ type: "send", client_id: pending.client_id, text: pending.text }));
        }
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
            return;
        }
        const item = bubble(message.author, message.text || "");
        item.dataset.id = message.id;
        shown.set(message.id, item);
        place(item, message.sent_at);
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
        if (ready && socket && socket.readyState === WebSocket.OPEN) {
            socket.send(JSON.stringify({ type: "ack", message_ids: ids.slice(0, 100), status: how }));
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

// The web chat widget end to end in headless Chromium, against a running `switchboard serve`
// (deploy/webchat-browser.sh starts one and passes its address, a workspace key and a
// connected web chat integration whose allow-list is the service's own origin):
//   the demo page: a message typed in the widget appears in the inbox API;
//   a reply through the API appears in the page, and in a second tab;
//   a reload shows the history, each message once;
//   the reply goes sent, delivered, read in the inbox from the widget's acknowledgements;
//   an agent's typing shows "typing…", and an agent's read shows the visitor's message seen;
//   with the WebSocket blocked, the widget falls back to Server-Sent Events and POSTs:
//   a message goes in and a reply comes out;
//   a page of a foreign origin embedding the same script gets no session.
// A screenshot is saved to $SWITCHBOARD_WEBCHAT_ARTIFACTS/widget.png. Bounded in time.
import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TOTAL_TIMEOUT_MS = 150000;
const STEP_TIMEOUT_MS = 20000;
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("SWITCHBOARD_URL");
const key = env("SWITCHBOARD_KEY");
const integration = env("SWITCHBOARD_WEBCHAT_INTEGRATION");
const artifacts = env("SWITCHBOARD_WEBCHAT_ARTIFACTS");
const modules = env("SWITCHBOARD_WEBCHAT_NODE_MODULES");
const { chromium } = createRequire(join(modules, "noop.js"))("playwright-core");

const timer = setTimeout(() => {
  console.error(`webchat browser test: not done within ${TOTAL_TIMEOUT_MS} ms`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

let passed = 0;
let failed = 0;
async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}: ${error.message}`);
    throw error;
  }
}

async function api(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function until(what, probe) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const found = await probe();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${STEP_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function openWidget(page, url) {
  await page.goto(url);
  await page.click(".sbwc-toggle");
}

const texts = (page, selector) =>
  page.$$eval(selector, (items) => items.map((item) => item.textContent));

mkdirSync(artifacts, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "sbwc-chromium-"));
const foreign = createServer((_, response) => {
  response.writeHead(200, { "content-type": "text/html" });
  response.end(`<!doctype html><title>foreign</title><script src="${base}/webchat/${integration}/widget.js"></script>`);
});
await new Promise((resolve) => foreign.listen(0, "127.0.0.1", resolve));
const foreignUrl = `http://127.0.0.1:${foreign.address().port}/`;

const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const demo = `${base}/webchat/${integration}/demo`;
let exitCode = 0;
try {
  const page = await context.newPage();
  let conversation;
  await step("a message typed in the demo page appears in the inbox API", async () => {
    await openWidget(page, demo);
    await page.waitForSelector(".sbwc-status:text('Connected')");
    await page.fill(".sbwc-input", "Hello from the browser");
    await page.press(".sbwc-input", "Enter");
    await page.waitForSelector(".sbwc-visitor:not(.sbwc-pending)");
    const visitor = await page.getAttribute(".sbwc", "data-visitor");
    conversation = await until("the conversation", async () => {
      const { body } = await api("GET", "/v1/workspaces/acme/conversations");
      return body.items.find((c) => c.contact_id === visitor)?.id;
    });
    await until("the message", async () => {
      const { body } = await api("GET", `/v1/workspaces/acme/conversations/${conversation}/messages`);
      return body.items.some((m) => m.content.text === "Hello from the browser");
    });
  });
  const second = await context.newPage();
  await step("a reply through the API appears in the page and in a second tab", async () => {
    await openWidget(second, demo);
    await second.waitForSelector(".sbwc-visitor");
    const sent = await api("POST", `/v1/workspaces/acme/conversations/${conversation}/messages`, {
      text: "Hello from an agent",
    });
    if (sent.status !== 202) throw new Error(`reply answered ${sent.status}`);
    for (const tab of [page, second]) {
      await tab.waitForSelector(".sbwc-agent:text('Hello from an agent')", { timeout: STEP_TIMEOUT_MS });
    }
  });
  await step("a reload shows the history, each message once", async () => {
    await page.reload();
    await page.click(".sbwc-toggle");
    await page.waitForSelector(".sbwc-agent:text('Hello from an agent')");
    const visitor = await texts(page, ".sbwc-visitor");
    const agent = await texts(page, ".sbwc-agent");
    if (visitor.length !== 1 || agent.length !== 1) {
      throw new Error(`history shows ${JSON.stringify({ visitor, agent })}`);
    }
    await page.screenshot({ path: join(artifacts, "widget.png") });
  });
  await step("the reply is marked read from the widget's acknowledgement", async () => {
    await until("status read", async () => {
      const { body } = await api("GET", `/v1/workspaces/acme/conversations/${conversation}/messages`);
      return body.items.some((m) => m.content.text === "Hello from an agent" && m.status === "read");
    });
  });
  await step("an agent typing shows in the widget, and goes away", async () => {
    if (!(await page.isHidden(".sbwc-typing"))) throw new Error("typing shown before anyone typed");
    const typed = await api("POST", `/v1/workspaces/acme/conversations/${conversation}/typing`);
    if (typed.status !== 204) throw new Error(`typing answered ${typed.status}`);
    await page.waitForSelector(".sbwc-typing:text('typing…')", { state: "visible" });
    await page.waitForSelector(".sbwc-typing", { state: "hidden", timeout: STEP_TIMEOUT_MS });
  });
  await step("the visitor's message shows sent, then seen once an agent read it", async () => {
    await page.waitForSelector(".sbwc-visitor[data-status='sent']");
    const read = await api("POST", `/v1/workspaces/acme/conversations/${conversation}/read`, {});
    if (read.status !== 202) throw new Error(`read answered ${read.status}`);
    await page.waitForSelector(".sbwc-visitor[data-status='seen']");
  });
  await step("with the WebSocket blocked, a message goes in and a reply comes out over the fallback", async () => {
    const blocked = await context.newPage();
    await blocked.routeWebSocket(/\/ws$/, (socket) => socket.close());
    await openWidget(blocked, demo);
    await blocked.waitForSelector(".sbwc[data-transport='sse']", { timeout: STEP_TIMEOUT_MS });
    await blocked.waitForSelector(".sbwc-status:text('Connected')");
    await blocked.fill(".sbwc-input", "Hello without a socket");
    await blocked.press(".sbwc-input", "Enter");
    await blocked.waitForSelector(".sbwc-visitor[data-status='sent']:text('Hello without a socket')");
    await until("the message in the inbox", async () => {
      const { body } = await api("GET", `/v1/workspaces/acme/conversations/${conversation}/messages`);
      return body.items.some((m) => m.content.text === "Hello without a socket");
    });
    const sent = await api("POST", `/v1/workspaces/acme/conversations/${conversation}/messages`, {
      text: "Hello over the fallback",
    });
    if (sent.status !== 202) throw new Error(`reply answered ${sent.status}`);
    await blocked.waitForSelector(".sbwc-agent:text('Hello over the fallback')", { timeout: STEP_TIMEOUT_MS });
    const typed = await api("POST", `/v1/workspaces/acme/conversations/${conversation}/typing`);
    if (typed.status !== 204) throw new Error(`typing answered ${typed.status}`);
    await blocked.waitForSelector(".sbwc-typing:text('typing…')", { state: "visible" });
    await blocked.screenshot({ path: join(artifacts, "widget-fallback.png") });
    await blocked.close();
  });
  await step("a page of a foreign origin gets no session", async () => {
    const stranger = await context.newPage();
    await stranger.goto(foreignUrl);
    await stranger.waitForSelector(".sbwc-status", { state: "attached" });
    await stranger.waitForTimeout(3000);
    const visitor = await stranger.getAttribute(".sbwc", "data-visitor");
    const status = await stranger.textContent(".sbwc-status");
    if (visitor || status === "Connected") throw new Error(`the foreign page connected (${status})`);
  });
} catch {
  exitCode = 1;
} finally {
  await context.close();
  foreign.close();
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(timer);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode || (failed ? 1 : 0));

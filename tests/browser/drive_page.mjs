// Drives the demo page in Debian's Chromium with playwright-core (which never downloads a browser).
//
//   node drive_page.mjs '<json>'   with {base, prefix, token, scenario, wav, clipSeconds, screenshot,
//                                       liveScreenshot, options, timeoutMs}
//
// `prefix` (e.g. "/stt"): the page is loaded through a small reverse proxy started here that strips
// the prefix before forwarding HTTP and WebSocket upgrades to `base`, as nginx would; so the page's
// relative URLs are tested behind a path prefix. Prints one JSON object (what the page showed).
//
// Scenarios: "stream" (Start, wait until `clipSeconds` of audio went out and the last final came,
// screenshot, Stop, read the finals; with `dropAtSeconds` and `prefix`, the proxy cuts every
// connection once that much audio went out, as a network drop would, and the page must resume;
// with `killAtSeconds` and `killMarker`, the driver writes that file once that much audio went out,
// the test kills a process of the app, and the page must resume),
// "pause" (Pause sends no audio, Resume sends again, Stop ends the session), "no-token" (the page
// explains how to get one), "bad-token" (Start fails with a clear message).

import http from "node:http";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const args = JSON.parse(process.argv[2]);
const timeoutMs = args.timeoutMs ?? 60000;

function startPrefixProxy(base, prefix) {
  const target = new URL(base);
  const strip = (url) => (url.startsWith(prefix) ? url.slice(prefix.length) || "/" : null);
  const server = http.createServer((req, res) => {
    const upstreamPath = strip(req.url);
    if (upstreamPath === null) {
      res.writeHead(404).end("outside the prefix");
      return;
    }
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: upstreamPath, method: req.method, headers: req.headers },
      (up) => {
        const headers = { ...up.headers };
        // a redirect from the app names the unprefixed path: put the prefix back, as a proxy's rewrite does
        if (headers.location) {
          const loc = new URL(headers.location, base);
          headers.location = prefix + loc.pathname + loc.search;
        }
        res.writeHead(up.statusCode, headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  const live = new Set(); // each upgraded connection's close
  server.dropAll = () => {
    const closes = [...live];
    for (const close of closes) close();
    return closes.length;
  };
  server.on("upgrade", (req, socket, head) => {
    const upstreamPath = strip(req.url);
    if (upstreamPath === null) return socket.destroy();
    const up = net.connect(Number(target.port), target.hostname, () => {
      const lines = [`${req.method} ${upstreamPath} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(lines.join("\r\n") + "\r\n\r\n");
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    const close = () => {
      live.delete(close);
      up.destroy();
      socket.destroy();
    };
    live.add(close);
    up.on("error", close);
    socket.on("error", close);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function main() {
  let origin = args.base;
  let proxy = null;
  if (args.prefix) {
    proxy = await startPrefixProxy(args.base, args.prefix);
    origin = `http://127.0.0.1:${proxy.address().port}${args.prefix}`;
  }
  const pageUrl = `${origin}/` + (args.token ? `#token=${args.token}` : "");
  const chromeArgs = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
  ];
  // %noloop: play the clip once, then silence (looped, the speech would start again)
  if (args.wav) chromeArgs.push(`--use-file-for-fake-audio-capture=${args.wav}%noloop`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rtstt-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: chromeArgs,
    viewport: { width: 1100, height: 720 },
  });
  const result = { scenario: args.scenario, pageUrl: pageUrl.replace(/#token=.*/, "#token=…"), console: [], requests: [] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(timeoutMs);
    page.on("console", (msg) => {
      if (msg.type() === "error" || msg.type() === "warning") result.console.push(`${msg.type()}: ${msg.text()}`);
    });
    page.on("pageerror", (err) => result.console.push(`pageerror: ${err.message}`));
    page.on("request", (req) => result.requests.push(req.url()));
    page.on("websocket", (ws) => result.requests.push(ws.url()));

    const response = await page.goto(pageUrl);
    result.httpStatus = response.status();
    result.csp = response.headers()["content-security-policy"] ?? null;
    if (args.scenario === "no-token") {
      result.tokenPanelVisible = await page.isVisible("#token-panel");
      result.startDisabled = await page.isDisabled("#start");
      result.panelText = await page.textContent("#token-panel");
    } else if (args.scenario === "bad-token") {
      await page.click("#start");
      await page.waitForSelector('body[data-state="error"]');
      result.status = await page.textContent("#status");
    } else if (args.scenario === "pause") {
      await page.click("#start");
      await page.waitForSelector('body[data-state="streaming"]');
      await page.waitForFunction(() => Number(document.body.dataset.audioSent) >= 1.5);
      await page.click("#pause");
      await page.waitForSelector('body[data-state="paused"]');
      result.pauseLabel = await page.textContent("#pause");
      const sentAtPause = Number(await page.getAttribute("body", "data-audio-sent"));
      await page.waitForTimeout(1500);
      result.sentWhilePaused = Number(await page.getAttribute("body", "data-audio-sent")) - sentAtPause;
      await page.click("#pause");
      await page.waitForSelector('body[data-state="streaming"]');
      await page.waitForFunction((s) => Number(document.body.dataset.audioSent) >= s + 1, sentAtPause);
      result.sentAfterResume = Number(await page.getAttribute("body", "data-audio-sent")) - sentAtPause;
      await page.click("#stop");
      await page.waitForSelector('body[data-state="ended"]', { timeout: 20000 });
      result.status = await page.textContent("#status");
      result.finals = await page.$$eval(".final .text", (nodes) => nodes.map((n) => n.textContent));
    } else {
      result.addressBar = page.url();
      result.tokenInfo = await page.textContent("#token-info");
      // session options, as a person would set them: {"opt-sentiment": true, "opt-wake": "country"}
      if (args.options) await page.click("#options-panel summary");
      for (const [id, value] of Object.entries(args.options ?? {})) {
        if (typeof value === "boolean") await page.setChecked(`#${id}`, value);
        else await page.fill(`#${id}`, String(value));
      }
      await page.click("#start");
      await page.waitForSelector('body[data-state="streaming"]');
      if (args.liveScreenshot) {
        // for the README: finals above, a partial being rewritten below (skipped if the moment never comes)
        const live = () =>
          Number(document.body.dataset.finals) >= 2 && document.getElementById("partial").textContent.length > 45;
        const shown = await page.waitForFunction(live, null, { timeout: args.clipSeconds * 1000 }).catch(() => null);
        if (shown) await page.screenshot({ path: args.liveScreenshot });
      }
      if (args.dropAtSeconds) {
        // a network drop mid-speech: both sockets cut at the proxy (the browser sees 1006)
        await page.waitForFunction((s) => Number(document.body.dataset.audioSent) >= s, args.dropAtSeconds);
        result.finalsBeforeDrop = Number(await page.getAttribute("body", "data-finals"));
        result.dropped = proxy.dropAll();
        await page.waitForSelector('body[data-resumes="1"][data-state="streaming"]');
        result.statusAfterResume = await page.textContent("#status");
      }
      if (args.killAtSeconds) {
        // a crash on the server's side: the test kills the process once the marker file appears
        await page.waitForFunction((s) => Number(document.body.dataset.audioSent) >= s, args.killAtSeconds);
        result.finalsBeforeDrop = Number(await page.getAttribute("body", "data-finals"));
        fs.writeFileSync(args.killMarker, "kill");
        await page.waitForSelector('body[data-resumes="1"][data-state="streaming"]');
        result.statusAfterResume = await page.textContent("#status");
      }
      // the clip has been sent, then its last utterance has ended (its final shown, no partial pending)
      await page.waitForFunction((s) => Number(document.body.dataset.audioSent) >= s, args.clipSeconds + 1);
      await page.waitForFunction(
        () => Number(document.body.dataset.finals) >= 1 && document.getElementById("partial").textContent === "",
      );
      result.partialsBeforeStop = Number(await page.getAttribute("body", "data-partials"));
      result.latencyPartial = await page.textContent("#lat-partial");
      result.latencyFinal = await page.textContent("#lat-final");
      if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true });
      await page.click("#stop");
      await page.waitForSelector('body[data-state="ended"]', { timeout: 20000 });
      result.finals = await page.$$eval(".final .text", (nodes) => nodes.map((n) => n.textContent));
      result.seqs = await page.$$eval(".final", (nodes) => nodes.map((n) => Number(n.dataset.seq)));
      result.resumes = Number((await page.getAttribute("body", "data-resumes")) ?? 0);
      result.status = await page.textContent("#status");
    }
    result.state = await page.getAttribute("body", "data-state");
  } catch (err) {
    result.error = String(err && err.message ? err.message : err);
    const page = context.pages()[0];
    if (page) {
      // what the page showed when it failed
      result.state = await page.getAttribute("body", "data-state").catch(() => null);
      result.status = await page.textContent("#status").catch(() => null);
      result.partials = await page.getAttribute("body", "data-partials").catch(() => null);
      result.transcript = await page.textContent("#transcript").catch(() => null);
      if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true }).catch(() => null);
    }
  } finally {
    await context.close();
    if (proxy) proxy.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }) + "\n");
  process.exit(1);
});

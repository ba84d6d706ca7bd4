// The browser demo: microphone -> AudioWorklet (16 kHz PCM16, 100 ms frames) -> audio socket;
// commands and results on the control socket; partials rewritten in place, finals appended.
//
// Credentials: a short-lived JWT from the URL fragment (#token=…, what `stt token --page` prints),
// kept in sessionStorage and removed from the address bar, sent as the subprotocol "bearer.<jwt>"
// beside "stt.v1". The page never holds an API key.
//
// Every URL is relative to the page, so the page works under a path prefix.

const FRAME_MS = 100;
const KEEP_ALIVE_MS = 15000;
const BYTES_PER_SECOND = 32000; // 16 kHz PCM16 mono
const MAX_BUFFERED_BYTES = 1 << 20; // ~30 s of audio waiting in the socket: beyond it frames are dropped
const MAX_PENDING_FRAMES = 50; // audio captured while the sockets open (5 s)
// a socket that drops without the session's own close is resumed (README "Resume"), as the Python
// client does: reconnect at once, then with backoff, for up to two minutes; the audio sent after
// the last final received (up to 30 s) is kept and sent again from where the server asks
const RESUMABLE_CODES = new Set([1001, 1006, 1012]); // going away, dropped, the session's host restarted
const RESUME_TIMEOUT_MS = 120000;
const RESUME_FIRST_DELAY_MS = 200;
const RESUME_MAX_DELAY_MS = 2000;
const KEEP_BYTES = 30 * BYTES_PER_SECOND;
const MAX_RESUME_PENDING_FRAMES = 300; // audio captured while resuming (30 s)
const SPEAKER_COLOURS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
const CLOSE_HINTS = {
  4401: "the token was refused or has expired: mint a new one with `stt token --page`",
  4403: "this token may not use that session",
  4408: "the session timed out without audio",
  4409: "the session reached its longest duration",
  4429: "too many sessions or connections for this client: stop one and retry",
  4500: "the server failed; retry",
  1012: "the server restarted the session's host and it could not be resumed: start again",
};

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("start"),
  pause: $("pause"),
  stop: $("stop"),
  status: $("status"),
  level: $("level"),
  transcript: $("transcript"),
  partial: $("partial"),
  latPartial: $("lat-partial"),
  latFinal: $("lat-final"),
  tokenInfo: $("token-info"),
  tokenPanel: $("token-panel"),
  sessionInfo: $("session-info"),
};

// ---------------------------------------------------------------- token

const token = { value: null, sub: null, exp: null };

function decodeClaims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

function setToken(jwt) {
  const claims = decodeClaims(jwt);
  if (!claims || typeof claims.sub !== "string") {
    showStatus("that is not a token: mint one with `stt token --page`", "error");
    return false;
  }
  token.value = jwt;
  token.sub = claims.sub;
  token.exp = typeof claims.exp === "number" ? claims.exp : null;
  sessionStorage.setItem("stt-token", jwt);
  renderToken();
  return true;
}

function readTokenFromUrl() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const jwt = fragment.get("token") || query.get("token");
  if (jwt) {
    // keep the token out of the history, bookmarks and screenshots of the address bar
    query.delete("token");
    const search = query.toString();
    history.replaceState(null, "", location.pathname + (search ? "?" + search : ""));
    return jwt;
  }
  return sessionStorage.getItem("stt-token");
}

function tokenSecondsLeft() {
  return token.exp === null ? Infinity : token.exp - Date.now() / 1000;
}

function renderToken() {
  const left = tokenSecondsLeft();
  ui.tokenPanel.hidden = token.value !== null && left > 0;
  if (token.value === null) {
    ui.tokenInfo.textContent = "no token";
  } else if (left <= 0) {
    ui.tokenInfo.textContent = `token for ${token.sub} has expired`;
  } else {
    const when = left === Infinity ? "does not expire" : `expires in ${Math.ceil(left / 60)} min`;
    ui.tokenInfo.textContent = `client ${token.sub} · token ${when}`;
  }
  if (!session) ui.start.disabled = !(token.value && left > 0);
}

// ---------------------------------------------------------------- options

const OPTION_IDS = ["opt-partials", "opt-diarize", "opt-sentiment", "opt-topics", "opt-profanity", "opt-wake", "opt-silence"];

function sessionOptions() {
  const wake = $("opt-wake").value.split(",").map((s) => s.trim()).filter(Boolean);
  const silence = Number($("opt-silence").value);
  const options = {
    features: {
      interim_results: $("opt-partials").checked,
      speaker_diarization: $("opt-diarize").checked,
      sentiment_analysis: { enabled: $("opt-sentiment").checked },
      topic_detection: { enabled: $("opt-topics").checked },
      profanity_filter: { enabled: $("opt-profanity").checked },
      wake_words: { enabled: wake.length > 0, phrases: wake },
    },
  };
  if (silence > 0) options.vad = { post_speech_silence: silence };
  return options;
}

function restoreOptions() {
  const saved = JSON.parse(localStorage.getItem("stt-options") || "{}");
  for (const id of OPTION_IDS) {
    const el = $(id);
    if (!(id in saved)) continue;
    if (el.type === "checkbox") el.checked = saved[id];
    else el.value = saved[id];
  }
}

function saveOptions() {
  const saved = {};
  for (const id of OPTION_IDS) {
    const el = $(id);
    saved[id] = el.type === "checkbox" ? el.checked : el.value;
  }
  localStorage.setItem("stt-options", JSON.stringify(saved));
}

// ---------------------------------------------------------------- display

function showStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = "status " + kind;
}

function setState(state) {
  document.body.dataset.state = state;
  const live = state === "streaming" || state === "paused";
  ui.start.disabled = !(state === "idle" || state === "ended" || state === "error") || !token.value;
  ui.pause.disabled = !live;
  ui.pause.textContent = state === "paused" ? "Resume" : "Pause";
  ui.stop.disabled = !(live || state === "connecting");
  for (const id of OPTION_IDS) $(id).disabled = state !== "idle" && state !== "ended" && state !== "error";
}

function bump(key) {
  document.body.dataset[key] = String(Number(document.body.dataset[key] || 0) + 1);
}

function clock(seconds) {
  const m = Math.floor(seconds / 60);
  const s = (seconds - m * 60).toFixed(1).padStart(4, "0");
  return `${m}:${s}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text; // never innerHTML: results are untrusted text
  return node;
}

// ---------------------------------------------------------------- a session

// A session's states and the moves between them (any other move throws): the page shows the state
// (data-state on <body>, the buttons), and every callback asks it instead of loose flags.
const S = Object.freeze({
  CONNECTING: "connecting", // microphone, worklet, sockets; start_stream sent
  STREAMING: "streaming",
  PAUSED: "paused",
  STOPPING: "stopping", // stop_stream sent (or about to be): waiting for the last finals
  RESUMING: "resuming", // a socket dropped: reconnecting, then the kept audio sent again
  ENDED: "ended",
});
const NEXT = Object.freeze({
  [S.CONNECTING]: [S.STREAMING, S.STOPPING, S.ENDED],
  [S.STREAMING]: [S.PAUSED, S.STOPPING, S.RESUMING, S.ENDED],
  [S.PAUSED]: [S.STREAMING, S.STOPPING, S.ENDED],
  [S.STOPPING]: [S.RESUMING, S.ENDED],
  [S.RESUMING]: [S.STREAMING, S.STOPPING, S.ENDED],
  [S.ENDED]: [],
});

let session = null;

class Session {
  constructor(options) {
    this.options = options;
    this.sessionId = null;
    this.control = null;
    this.audio = null;
    this.media = null;
    this.context = null;
    this.node = null;
    this.state = S.CONNECTING;
    this.bytesSent = 0;
    this.sentLog = []; // [seconds of audio sent up to and including a frame, performance.now() at its capture]
    this.droppedFrames = 0;
    this.pending = []; // frames captured before the audio socket opened
    this.keepAlive = null;
    this.speakers = new Map();
    this.partialLatencies = [];
    this.lastSeq = 0; // the last final shown
    this.kept = []; // [{offset, pcm}]: the audio sent after the end of the last final, for a resume
    this.reconnecting = false; // a resume's tries are running (their sockets' closes are theirs)
    this.resumeToStopping = false; // stop_stream had been sent when the socket dropped
  }

  // -- lifecycle

  moveTo(next, { show = true } = {}) {
    if (!NEXT[this.state].includes(next)) throw new Error(`session state ${this.state} → ${next} is not allowed`);
    this.state = next;
    if (show && session === this) setState(next);
  }

  get closing() {
    return this.state === S.STOPPING || this.state === S.ENDED;
  }

  async start() {
    setState(S.CONNECTING);
    showStatus("asking for the microphone…");
    try {
      this.media = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: true },
      });
    } catch (err) {
      this.fail(`no microphone: ${err.message || err.name}`);
      return;
    }
    if (this.closing) return this.finish("stopped");
    this.context = new AudioContext({ latencyHint: "interactive" });
    await this.context.audioWorklet.addModule(new URL("web/worklet.js", document.baseURI));
    if (this.closing) return this.finish("stopped");
    this.node = new AudioWorkletNode(this.context, "pcm-framer", {
      processorOptions: { targetRate: 16000, frameMs: FRAME_MS },
    });
    this.node.port.onmessage = (event) => this.onFrame(event.data);
    // capture starts now, so words spoken while the sockets open are queued, not lost
    const source = this.context.createMediaStreamSource(this.media);
    const mute = this.context.createGain();
    mute.gain.value = 0;
    source.connect(this.node);
    this.node.connect(mute).connect(this.context.destination); // keeps the graph pulling the worklet
    showStatus("connecting…");
    this.control = this.openSocket("v1/stream/control");
    this.control.onopen = () => this.send({ type: "start_stream", options: this.options });
    this.control.onmessage = (event) => this.onMessage(event.data);
    this.control.onclose = (event) => this.onClose(event, "control");
  }

  openSocket(path, params = {}) {
    const url = new URL(path, document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.hash = "";
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const ws = new WebSocket(url, ["stt.v1", "bearer." + token.value]);
    ws.binaryType = "arraybuffer";
    return ws;
  }

  openAudio() {
    if (this.closing) return;
    this.audio = this.openSocket("v1/stream/audio", { session_id: this.sessionId });
    this.audio.onopen = () => {
      if (this.closing) return;
      for (const frame of this.pending.splice(0)) this.sendFrame(frame);
      this.moveTo(S.STREAMING);
      const label = this.media.getAudioTracks()[0]?.label || "microphone";
      showStatus(`listening (${label})`, "live");
    };
    this.audio.onclose = (event) => this.onClose(event, "audio");
  }

  send(message) {
    if (this.control && this.control.readyState === WebSocket.OPEN) this.control.send(JSON.stringify(message));
  }

  pause() {
    if (this.state === S.STREAMING) {
      this.send({ type: "pause_stream" });
      // nothing is sent while paused; keep the session from timing out
      this.keepAlive = setInterval(() => this.send({ type: "keep_alive" }), KEEP_ALIVE_MS);
      this.moveTo(S.PAUSED);
      showStatus("paused: the microphone is not sent", "paused");
    } else if (this.state === S.PAUSED) {
      this.send({ type: "resume_stream" });
      clearInterval(this.keepAlive);
      this.moveTo(S.STREAMING);
      showStatus("listening", "live");
    }
  }

  stop() {
    if (this.closing) return;
    this.moveTo(S.STOPPING, { show: false }); // the page shows it once stop_stream is sent
    clearInterval(this.keepAlive);
    if (!this.audio || this.audio.readyState !== WebSocket.OPEN) return this.finish("stopped before the session started");
    this.node?.port.postMessage("flush");
    // let the flushed frame arrive, then release the microphone and ask for the last finals
    setTimeout(() => {
      this.releaseMic();
      this.send({ type: "stop_stream", audio_bytes: this.bytesSent });
      setState(S.STOPPING);
      showStatus("finishing the last utterance…");
      if (!this.control || this.control.readyState !== WebSocket.OPEN) this.finish("stopped");
    }, 50);
  }

  releaseMic() {
    this.media?.getTracks().forEach((t) => t.stop());
    this.context?.close();
    this.context = null;
    ui.level.style.width = "0";
  }

  finish(text, kind = "") {
    if (this.state === S.ENDED) return;
    this.state = S.ENDED; // from any state: a failure may end it anywhere
    clearInterval(this.keepAlive);
    this.releaseMic();
    for (const ws of [this.audio, this.control]) if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    ui.partial.textContent = "";
    if (session !== this) return;
    session = null;
    setState(kind === "error" ? "error" : S.ENDED);
    showStatus(text, kind);
  }

  fail(text) {
    this.finish(text, "error");
  }

  // -- audio out

  onFrame({ pcm, level }) {
    ui.level.style.width = `${Math.min(100, Math.round(Math.sqrt(level) * 140))}%`;
    if (this.state === S.PAUSED || this.state === S.ENDED || (this.closing && this.context === null)) return;
    const frame = { pcm, capturedAt: performance.now() };
    const ws = this.audio;
    if (!ws || ws.readyState === WebSocket.CONNECTING || this.state === S.RESUMING) {
      this.pending.push(frame);
      const most = this.state === S.RESUMING ? MAX_RESUME_PENDING_FRAMES : MAX_PENDING_FRAMES;
      if (this.pending.length > most) this.pending.shift();
      return;
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.droppedFrames++;
      showStatus(`the network is too slow: ${this.droppedFrames} frames dropped`, "error");
      return;
    }
    this.sendFrame(frame);
  }

  sendFrame({ pcm, capturedAt }) {
    this.audio.send(pcm);
    this.kept.push({ offset: this.bytesSent, pcm });
    this.bytesSent += pcm.byteLength;
    let keptBytes = this.bytesSent - this.kept[0].offset;
    while (keptBytes > KEEP_BYTES) keptBytes -= this.kept.shift().pcm.byteLength;
    this.sentLog.push([this.bytesSent / BYTES_PER_SECOND, capturedAt]);
    document.body.dataset.audioSent = (this.bytesSent / BYTES_PER_SECOND).toFixed(1);
    if (this.sentLog.length > 1200) this.sentLog.splice(0, 600); // the last 1–2 minutes are enough
  }

  // how long ago the audio up to `seconds` of stream time was captured
  latencyOf(seconds) {
    const entry = this.sentLog.find(([sent]) => sent >= seconds - 1e-3);
    return entry ? performance.now() - entry[1] : null;
  }

  // -- results in

  onMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    switch (msg.type) {
      case "session_started":
        this.sessionId = msg.session_id;
        ui.sessionInfo.textContent = `session ${msg.session_id}`;
        this.openAudio();
        break;
      case "speech_started":
        ui.partial.classList.add("speaking");
        break;
      case "partial_result":
        this.onPartial(msg);
        break;
      case "utterance_end":
        ui.partial.classList.remove("speaking");
        break;
      case "final_result":
        this.onFinal(msg);
        break;
      case "session_ended":
        this.finish(`ended (${msg.reason}): ${msg.finals} finals, ${clock(msg.audio_duration)} of audio`);
        break;
      case "warning":
        showStatus(`warning: ${msg.message}`, "warn");
        break;
      case "error":
        if (msg.fatal) this.fatalError = msg;
        else if (!this.sessionId) this.fail(`the server refused to start: ${msg.message}`); // e.g. bad options
        else showStatus(`error [${msg.code}]: ${msg.message}`, "error");
        break;
      default:
        break; // a newer server's message
    }
  }

  onPartial(msg) {
    bump("partials");
    const data = msg.data;
    const stable = data.stable_text || "";
    const rest = data.text.startsWith(stable) ? data.text.slice(stable.length) : data.text;
    ui.partial.replaceChildren(
      el("span", "time", `${clock(data.audio_start)}–${clock(data.audio_current)}`),
      el("span", "stable", data.text.startsWith(stable) ? stable : ""),
      el("span", "unstable", rest),
    );
    if (data.wake_word_detected) ui.partial.append(el("span", "chip wake", "wake word"));
    const latency = this.latencyOf(data.audio_current);
    if (latency !== null) {
      this.partialLatencies.push(latency);
      if (this.partialLatencies.length > 10) this.partialLatencies.shift();
      const sorted = [...this.partialLatencies].sort((a, b) => a - b);
      ui.latPartial.textContent = `${Math.round(latency)} ms (median ${Math.round(sorted[sorted.length >> 1])} ms)`;
    }
  }

  speakerColour(id) {
    if (!this.speakers.has(id)) this.speakers.set(id, SPEAKER_COLOURS[this.speakers.size % SPEAKER_COLOURS.length]);
    return this.speakers.get(id);
  }

  onFinal(msg) {
    if (msg.seq <= this.lastSeq) return; // replayed by a resume, already shown
    this.lastSeq = msg.seq;
    bump("finals");
    const data = msg.data;
    // the audio up to the end of this final is transcribed for good: a resume need not send it again
    const done = Math.floor(data.audio.end * BYTES_PER_SECOND / 2) * 2;
    while (this.kept.length && this.kept[0].offset + this.kept[0].pcm.byteLength <= done) this.kept.shift();
    ui.partial.textContent = "";
    const line = el("div", "final");
    line.dataset.seq = String(msg.seq);
    line.append(el("span", "time", `${clock(data.audio.start)}–${clock(data.audio.end)}`));
    const spoken = new Set((data.words || []).map((w) => w.speaker).filter(Boolean));
    const details = data.speakers?.details || [];
    if (spoken.size > 1) {
      // several speakers in one final: colour each run of words by its speaker
      const text = el("span", "text");
      let run = null;
      for (const word of data.words) {
        if (!run || run.dataset.speaker !== String(word.speaker)) {
          run = el("span", "run");
          run.dataset.speaker = String(word.speaker);
          run.style.color = this.speakerColour(word.speaker);
          run.title = word.speaker;
          text.append(run);
        }
        run.append(document.createTextNode(word.word));
      }
      line.append(text);
    } else {
      const speaker = spoken.size === 1 ? [...spoken][0] : details[0]?.id;
      if (speaker) {
        const badge = el("span", "speaker", speaker);
        badge.style.background = this.speakerColour(speaker);
        line.append(badge);
      }
      line.append(el("span", "text", data.text));
    }
    const chips = el("span", "chips");
    const sentiment = data.analysis?.sentiment?.overall;
    if (sentiment) chips.append(el("span", `chip sentiment ${sentiment.label}`, `${sentiment.label} ${sentiment.score.toFixed(2)}`));
    for (const topic of data.analysis?.topics || []) chips.append(el("span", "chip topic", topic.topic));
    if (data.filters?.profanity?.detected) chips.append(el("span", "chip profanity", "filtered"));
    if (data.wake_word_detected) chips.append(el("span", "chip wake", "wake word"));
    if (chips.childElementCount) line.append(chips);
    ui.transcript.append(line);
    line.scrollIntoView({ block: "nearest" });
    const latency = this.latencyOf(data.audio.end);
    if (latency !== null) ui.latFinal.textContent = `${Math.round(latency)} ms`;
  }

  onClose(event, which) {
    if (this.state === S.ENDED || this.reconnecting) return;
    if (which === "audio" && event.code === 1000) return; // the server closes it after session_ended
    const resumable = this.state === S.STREAMING || this.state === S.STOPPING || this.state === S.RESUMING;
    if (this.sessionId && RESUMABLE_CODES.has(event.code) && resumable) {
      this.resume(event.code);
      return;
    }
    const error = this.fatalError;
    const hint = CLOSE_HINTS[event.code];
    const reason = error ? `${error.message}` : event.reason || `${which} connection closed (${event.code})`;
    this.fail(hint ? `${reason}: ${hint}` : reason);
  }

  // -- resume after a dropped socket

  async resume(code) {
    if (this.state !== S.RESUMING) {
      this.resumeToStopping = this.state === S.STOPPING;
      this.moveTo(S.RESUMING);
    }
    this.reconnecting = true;
    this.detachSockets();
    const began = performance.now();
    let delay = 0;
    for (let attempt = 1; this.state === S.RESUMING; attempt++) {
      showStatus(`connection lost (${code}): resuming the session (try ${attempt})…`, "warn");
      if (delay) await new Promise((done) => setTimeout(done, delay * (0.8 + 0.4 * Math.random())));
      if (this.state !== S.RESUMING) return; // stopped or closed meanwhile
      const outcome = await this.tryResume();
      if (outcome.offset !== undefined) {
        this.reconnecting = false;
        this.resumed(outcome.offset);
        return;
      }
      if (outcome.fail !== undefined || performance.now() - began > RESUME_TIMEOUT_MS) {
        this.reconnecting = false;
        if (this.state !== S.ENDED) {
          this.fail(outcome.fail || `the connection was lost (${code}) and the session could not be resumed in ${RESUME_TIMEOUT_MS / 1000} s`);
        }
        return;
      }
      this.detachSockets();
      delay = delay ? Math.min(RESUME_MAX_DELAY_MS, delay * 2) : RESUME_FIRST_DELAY_MS;
    }
  }

  detachSockets() {
    for (const ws of [this.audio, this.control]) {
      if (!ws) continue;
      ws.onopen = ws.onmessage = ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
    }
    this.audio = this.control = null;
    this.fatalError = null;
  }

  // one try: the control socket again with start_stream {last_seq, audio_offset_bytes}; resolves with
  // {offset} once session_started comes, {} to try again, {fail} when the session cannot be resumed
  tryResume() {
    return new Promise((settle) => {
      const ws = this.openSocket("v1/stream/control", { session_id: this.sessionId });
      this.control = ws;
      const from = this.kept.length ? this.kept[0].offset : this.bytesSent;
      ws.onopen = () => ws.send(JSON.stringify({ type: "start_stream", last_seq: this.lastSeq, audio_offset_bytes: from }));
      ws.onmessage = (event) => {
        let msg;
        try {
          msg = JSON.parse(event.data);
        } catch {
          return;
        }
        if (msg.type === "session_started") {
          ws.onmessage = (e) => this.onMessage(e.data);
          ws.onclose = (e) => this.onClose(e, "control");
          settle({ offset: msg.audio_offset_bytes });
        } else if (msg.type === "error" && msg.fatal) {
          this.fatalError = msg;
        } else {
          this.onMessage(event.data); // session_ended with the finals it missed: the session is over
        }
      };
      ws.onclose = (event) => {
        if (this.state === S.ENDED) return settle({ fail: "" });
        if (RESUMABLE_CODES.has(event.code)) return settle({});
        const hint = CLOSE_HINTS[event.code];
        const reason = this.fatalError ? this.fatalError.message : `the resume was refused (${event.code})`;
        settle({ fail: hint ? `${reason}: ${hint}` : reason });
      };
    });
  }

  // the session is back: a new audio socket, the kept audio from where the server asks, then live audio
  resumed(offset) {
    bump("resumes");
    this.audio = this.openSocket("v1/stream/audio", { session_id: this.sessionId });
    this.audio.onopen = () => {
      if (this.state !== S.RESUMING) return;
      if (offset !== null) {
        for (const { offset: at, pcm } of this.kept) {
          if (at + pcm.byteLength <= offset) continue;
          this.audio.send(at >= offset ? pcm : pcm.slice(offset - at)); // sent again: not counted twice
        }
      }
      for (const frame of this.pending.splice(0)) this.sendFrame(frame);
      if (this.resumeToStopping) {
        this.moveTo(S.STOPPING);
        this.send({ type: "stop_stream", audio_bytes: this.bytesSent });
        showStatus("resumed; finishing the last utterance…");
      } else {
        this.moveTo(S.STREAMING);
        showStatus("resumed: listening", "live");
      }
    };
    this.audio.onclose = (event) => this.onClose(event, "audio");
  }
}

// ---------------------------------------------------------------- wiring

ui.start.addEventListener("click", () => {
  if (session || !token.value) return;
  if (tokenSecondsLeft() <= 0) {
    renderToken();
    showStatus("the token has expired: mint a new one with `stt token --page`", "error");
    return;
  }
  saveOptions();
  ui.transcript.replaceChildren();
  Object.assign(document.body.dataset, { partials: "0", finals: "0", audioSent: "0", resumes: "0" });
  ui.latPartial.textContent = "–";
  ui.latFinal.textContent = "–";
  session = new Session(sessionOptions());
  session.start().catch((err) => session?.fail(`could not start: ${err.message || err}`));
});
ui.pause.addEventListener("click", () => session?.pause());
ui.stop.addEventListener("click", () => session?.stop());
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("token-input");
  if (setToken(input.value.trim())) {
    input.value = "";
    showStatus("token set");
  }
});
window.addEventListener("pagehide", () => session?.finish("page closed"));

$("page-url").textContent = new URL(".", document.baseURI).href;
restoreOptions();
const initial = readTokenFromUrl();
if (initial) setToken(initial);
renderToken();
setInterval(renderToken, 30000);
setState("idle");
if (!navigator.mediaDevices || !window.AudioWorkletNode) {
  ui.start.disabled = true;
  showStatus("this browser cannot capture audio here (the page needs https, or localhost)", "error");
}

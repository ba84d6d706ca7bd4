// Runs app/web/worklet.js outside a browser: a stand-in AudioWorkletGlobalScope, a tone in, frames out.
//
//   node worklet_check.mjs <worklet.js> <input rate> <tone Hz> <seconds>
//
// Prints {frames, frameBytes, samples, rms, crossingsPerSecond, levels}: what the page would send.

import fs from "node:fs";
import vm from "node:vm";

const [file, rateArg, toneArg, secondsArg] = process.argv.slice(2);
const rate = Number(rateArg);
const tone = Number(toneArg);
const seconds = Number(secondsArg);

const posted = [];
let Processor = null;
class AudioWorkletProcessor {
  constructor() {
    this.port = { postMessage: (message) => posted.push(message), onmessage: null };
  }
}
const scope = {
  AudioWorkletProcessor,
  sampleRate: rate,
  registerProcessor: (name, cls) => {
    Processor = cls;
  },
  Math,
  Float32Array,
  Int16Array,
};
vm.runInNewContext(fs.readFileSync(file, "utf8"), scope);

const node = new Processor({ processorOptions: { targetRate: 16000, frameMs: 100 } });
const total = Math.round(rate * seconds);
for (let start = 0; start < total; start += 128) {
  const quantum = new Float32Array(Math.min(128, total - start));
  for (let i = 0; i < quantum.length; i++) quantum[i] = 0.5 * Math.sin((2 * Math.PI * tone * (start + i)) / rate);
  node.process([[quantum, quantum]]); // stereo in: the two channels are averaged
}
node.port.onmessage({ data: "flush" });

const samples = posted.flatMap((m) => Array.from(new Int16Array(m.pcm)));
// skip the filter's start-up, then measure the tone that came through
const body = samples.slice(800);
const rms = Math.sqrt(body.reduce((acc, s) => acc + (s / 32768) ** 2, 0) / body.length);
let crossings = 0;
for (let i = 1; i < body.length; i++) if ((body[i - 1] < 0) !== (body[i] < 0)) crossings++;
process.stdout.write(
  JSON.stringify({
    frames: posted.length,
    frameBytes: posted.map((m) => m.pcm.byteLength),
    samples: samples.length,
    rms,
    crossingsPerSecond: crossings / (body.length / 16000),
    levels: posted.map((m) => m.level),
  }) + "\n",
);

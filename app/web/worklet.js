// AudioWorklet: microphone samples at the context's rate -> 16 kHz mono PCM16 little-endian frames.
//
// Runs on the audio rendering thread in 128-sample quanta. Channels are averaged, a windowed-sinc
// low-pass removes what the 16 kHz rate cannot hold (above ~7.2 kHz; without it, hiss and
// sibilants would fold back into the speech band), and output samples are read off the filtered
// signal by linear interpolation at steps of inputRate / 16000, which handles 44.1 kHz as well as
// 48 kHz. Every full frame (100 ms: 1600 samples, 3200 bytes) is transferred to the page with its
// RMS level; the message "flush" sends the partial frame that is left.

const TARGET_RATE = 16000;

function lowpass(step) {
  // cutoff at 90 % of the output Nyquist, as a fraction of the input rate
  const cutoff = 0.45 / step;
  const half = Math.ceil(step * 8);
  const taps = new Float32Array(2 * half + 1);
  let sum = 0;
  for (let i = 0; i < taps.length; i++) {
    const n = i - half;
    const sinc = n === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * n) / (Math.PI * n);
    const blackman =
      0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (taps.length - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (taps.length - 1));
    taps[i] = sinc * blackman;
    sum += taps[i];
  }
  for (let i = 0; i < taps.length; i++) taps[i] /= sum; // unity gain at DC
  return taps;
}

class PcmFramer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.outRate = opts.targetRate || TARGET_RATE;
    this.frameSamples = Math.round((this.outRate * (opts.frameMs || 100)) / 1000);
    this.step = sampleRate / this.outRate;
    this.taps = this.step > 1 ? lowpass(this.step) : null;
    this.history = this.taps ? new Float32Array(this.taps.length) : null;
    this.head = 0;
    this.prev = 0; // the filtered sample before the current one
    this.frac = 1; // where the next output sample lies, in input samples after `prev`
    this.frame = new Int16Array(this.frameSamples);
    this.fill = 0;
    this.sumSquares = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush") this.send(true);
    };
  }

  filter(x) {
    if (!this.taps) return x;
    const taps = this.taps;
    const hist = this.history;
    const n = taps.length;
    hist[this.head] = x;
    let acc = 0;
    let j = this.head;
    for (let i = 0; i < n; i++) {
      acc += taps[i] * hist[j];
      j = j === 0 ? n - 1 : j - 1;
    }
    this.head = this.head + 1 === n ? 0 : this.head + 1;
    return acc;
  }

  emit(sample) {
    const s = Math.max(-1, Math.min(1, sample));
    this.frame[this.fill++] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
    this.sumSquares += s * s;
    if (this.fill === this.frameSamples) this.send(false);
  }

  send(partial) {
    if (this.fill === 0) return;
    const samples = partial ? this.frame.slice(0, this.fill) : this.frame;
    const level = Math.sqrt(this.sumSquares / this.fill);
    this.port.postMessage({ pcm: samples.buffer, level }, [samples.buffer]);
    this.frame = new Int16Array(this.frameSamples);
    this.fill = 0;
    this.sumSquares = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const count = channels[0].length;
    const k = channels.length;
    for (let i = 0; i < count; i++) {
      let x = 0;
      for (let c = 0; c < k; c++) x += channels[c][i];
      const y = this.filter(x / k);
      while (this.frac <= 1) {
        this.emit(this.prev + (y - this.prev) * this.frac);
        this.frac += this.step;
      }
      this.frac -= 1;
      this.prev = y;
    }
    return true;
  }
}

registerProcessor("pcm-framer", PcmFramer);

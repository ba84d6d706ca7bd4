"""Audio input: decoding (raw PCM, wav, ogg, mp3), resampling to 16 kHz, and the sample ring buffer."""

from app.audio.decode import AudioDecoder, PcmDecoder, make_decoder
from app.audio.mp3 import Mp3Decoder
from app.audio.ogg import OggDecoder
from app.audio.pcm import float_to_pcm16, pcm16_to_float
from app.audio.resample import StreamResampler, resample
from app.audio.ring import RangeUnavailable, RingBuffer
from app.audio.wav import WavDecoder

__all__ = [
    "AudioDecoder",
    "Mp3Decoder",
    "OggDecoder",
    "PcmDecoder",
    "RangeUnavailable",
    "RingBuffer",
    "StreamResampler",
    "WavDecoder",
    "float_to_pcm16",
    "make_decoder",
    "pcm16_to_float",
    "resample",
]

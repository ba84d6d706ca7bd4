"""Audio a client re-sends when it resumes: where it goes in the stream (README "Resume").

A client that loses its connection keeps the audio it sent after the end of the last final it
received and resumes with ``start_stream{last_seq, audio_offset_bytes}``: ``audio_offset_bytes`` is
the byte offset in the stream where what it kept starts. The session answers, in
``session_started.audio_offset_bytes``, the offset from which it needs the audio, and the client
sends again from there:

* **its host is alive** (a socket or an ingress replica went away): the session has received
  :attr:`~app.session.inbox.AudioInbox.received_bytes`; it needs what came after (frames lost in
  flight with the old socket);
* **its host was replaced** (a crash): the new host takes the session over from the store, which has
  every final up to the end of the last one; the session starts there (its stream time and its byte
  count), so the audio after the last stored final is transcribed once, and the audio of a stored
  final the client missed (it is replayed) is not asked for;
* if the client kept less than the session lost (it sent more than its buffer after its last final),
  the bytes between are lost: stream time counts them (a gap, like paused audio) so that later
  times stay right, and the session needs the audio from the client's offset.

A resume may send its kept audio faster than the pace limit allows (``limits.resume_burst_s`` more).
Only raw encodings (PCM16, G.711) count time in bytes.
"""

from __future__ import annotations

from app.audio.raw import bytes_at, frame_bytes
from app.config import Limits
from app.errors import InvalidMessage
from app.options import AudioOptions
from app.session.hosted import Hosted, Phase


def check(audio: AudioOptions, offset: int) -> int:
    """The size of a sample frame of the session's audio; refuses an offset that cannot be one."""
    frame = frame_bytes(audio.encoding, audio.channels)
    if frame is None:
        raise InvalidMessage(
            f"audio_offset_bytes needs a raw encoding (pcm_s16le, pcm_mulaw, pcm_alaw), not {audio.encoding}"
        )
    if offset % frame:
        raise InvalidMessage(f"audio_offset_bytes {offset} is not a whole number of {frame}-byte sample frames")
    return frame


def start_at(hosted: Hosted, seconds: float) -> None:
    """A session taken over from the store: it has the stream up to ``seconds`` (the end of its last
    stored final), in bytes as in time."""
    audio = hosted.session.options.audio
    hosted.inbox.received_bytes = bytes_at(seconds, audio.encoding, audio.sample_rate, audio.channels) or 0


def resync(hosted: Hosted, offset: int, limits: Limits) -> int:
    """Set the session up for a client that kept the audio from byte ``offset`` on; returns the offset
    from which the session needs it (the client sends again from there)."""
    frame = check(hosted.session.options.audio, offset)
    inbox = hosted.inbox
    # every byte received counts, a refused frame's too (as in ``stop_stream.audio_bytes``): the client
    # kept what it sent, so after a misaligned frame both count the same odd offsets, and rounding
    # down would have it send the last byte it sent again (one more ``misaligned_audio``)
    have = inbox.received_bytes
    if offset > have:  # sent, never received, and no longer kept by the client
        hosted.session.skip_audio((offset - have) // frame)
        have = offset
    inbox.received_bytes = have
    hosted.session.allow_burst(limits.resume_burst_s)
    return have


def on_resume(hosted: Hosted, offset: int | None, limits: Limits) -> int | None:
    """A resume of a session its host holds: the answer to ``offset`` (None: no audio is kept, or the
    session is ending and takes no more)."""
    if offset is None or hosted.phase is not Phase.LIVE:
        return None
    return resync(hosted, offset, limits)


def take_over(hosted: Hosted, offset: int | None, since_s: float, limits: Limits) -> int | None:
    """A session taken over from the store, which has it up to ``since_s``: the answer to ``offset``."""
    if offset is None:
        return None
    start_at(hosted, since_s)
    return resync(hosted, offset, limits)

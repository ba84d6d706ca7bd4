"""``stt`` without the service: arguments, session options, exit codes, output, the REST commands
against a scripted HTTP server, and the microphone source with a fake PortAudio."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from app import protocol as p
from app.client import SttClientError
from app.client.cli import build_parser, main
from app.client.commands import format_table
from app.client.exits import (
    EXIT_AUTH,
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_SERVER,
    EXIT_USAGE,
    UsageError,
    describe,
    exit_code,
)
from app.client.flags import check_stream_args, session_options
from app.client.mic import Microphone, MicUnavailable, load_sounddevice
from app.client.render import JsonRenderer, TextRenderer

pytestmark = pytest.mark.timeout(30)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def stream_args(*argv: str, env: dict[str, str] | None = None) -> Any:
    return build_parser(env or {}).parse_args(["stream", "x.wav", *argv])


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------- arguments and options


def test_defaults_and_environment() -> None:
    args = stream_args()
    assert (args.url, args.api_key, args.token, args.fast, args.speed) == (
        "http://127.0.0.1:8000",
        None,
        None,
        False,
        1.0,
    )
    args = stream_args(env={"STT_URL": "https://h/stt", "STT_API_KEY": "k", "STT_TOKEN": "t", "STT_CLIENT_ID": "c"})
    assert (args.url, args.api_key, args.token, args.client_id) == ("https://h/stt", "k", "t", "c")
    assert stream_args("--url", "http://other", env={"STT_URL": "https://h"}).url == "http://other"


@pytest.mark.parametrize(
    ("argv", "path", "value"),
    [
        (["--no-partials"], "features.interim_results", False),
        (["--diarize"], "features.speaker_diarization", True),
        (["--sentiment"], "features.sentiment_analysis.enabled", True),
        (["--topics"], "features.topic_detection.enabled", True),
        (["--topic", "sport", "--topic", "music"], "features.topic_detection.topics", ["sport", "music"]),
        (["--topic", "sport"], "features.topic_detection.enabled", True),
        (["--profanity"], "features.profanity_filter.enabled", True),
        (["--wake-word", "hey computer"], "features.wake_words.enabled", True),
        (["--wake-word", "a b", "--wake-word", "c"], "features.wake_words.phrases", ["a b", "c"]),
        (["--post-speech-silence", "1.2"], "vad.post_speech_silence", 1.2),
        (["--language", "de"], "language", "de"),
        (["--prompt", "Ray Serve"], "initial_prompt", "Ray Serve"),
        (["--language", "auto", "--translate"], "task", "translate"),
        (["--keyterm", "ComfyUI", "--keyterm", "Ray Serve"], "keyterms", ["ComfyUI", "Ray Serve"]),
        (["--numerals"], "formatting.numerals", True),
        (["--transcription-time"], "formatting.print_transcription_time", True),
    ],
)
def test_flags_become_session_options(argv: list[str], path: str, value: object) -> None:
    options: Any = session_options(stream_args(*argv)).model_dump()
    for key in path.split("."):
        options = options[key]
    assert options == value


def test_no_flags_give_the_defaults() -> None:
    assert session_options(stream_args()) == p.SessionOptions()


def test_options_json_and_file_with_flags_on_top(tmp_path: Path) -> None:
    raw = json.dumps(
        {
            "vad": {"post_speech_silence": 0.9, "pre_roll": 0.5},
            "features": {"sentiment_analysis": {"min_confidence": 0.7}},
        }
    )
    options = session_options(stream_args("--options", raw, "--post-speech-silence", "1.5", "--sentiment"))
    assert (options.vad.post_speech_silence, options.vad.pre_roll) == (1.5, 0.5)
    assert options.features.sentiment_analysis.enabled and options.features.sentiment_analysis.min_confidence == 0.7
    file = tmp_path / "o.json"
    file.write_text('{"language": "fr"}')
    assert session_options(stream_args("--options", f"@{file}")).language == "fr"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--options", "{nope"], "not valid JSON"),
        (["--options", "[1]"], "must be a JSON object"),
        (["--options", "@/nonexistent/o.json"], "--options"),
        (["--post-speech-silence", "9"], "post_speech_silence"),
        (["--options", '{"audio": {"encoding": "mp3"}}'], "PCM16"),
        (["--options", '{"bogus": 1}'], "bogus"),
    ],
)
def test_bad_options_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        session_options(stream_args(*argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stream"], "give a FILE"),
        (["stream", "a.wav", "--mic"], "give a FILE"),
        (["stream", "/nonexistent.wav"], "no such file"),
        (["stream", "--mic", "--speed", "0"], "--speed"),
        (["stream", "--mic", "--chunk-ms", "500"], "--chunk-ms"),
        (["stream", "--mic", "--resume-buffer", "-1"], "--resume-buffer"),
        (["stream", "--mic", "--resume-timeout", "0"], "--resume-timeout"),
    ],
)
def test_stream_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_stream_args(build_parser({}).parse_args(argv))
    code, _, err = run(*argv)
    assert code == EXIT_USAGE and message in err


def test_help_and_unknown_command() -> None:
    assert run("--help")[0] == EXIT_OK
    assert run("nope")[0] == EXIT_USAGE
    assert run("transcript", "s1", "--format", "docx")[0] == EXIT_USAGE


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("connection_failed", EXIT_CONNECTION),
        ("connection_lost", EXIT_CONNECTION),
        ("timeout", EXIT_CONNECTION),
        ("session_interrupted", EXIT_CONNECTION),  # a host crash with --no-resume
        ("unauthenticated", EXIT_AUTH),
        ("forbidden", EXIT_AUTH),
        ("invalid_options", EXIT_USAGE),
        ("mic_unavailable", EXIT_USAGE),
        ("too_many_sessions", EXIT_SERVER),
        ("internal_error", EXIT_SERVER),
        (None, EXIT_SERVER),
    ],
)
def test_exit_codes(code: str | None, expected: int) -> None:
    assert exit_code(SttClientError("x", code=code)) == expected


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_exits_3(tmp_path: Path) -> None:
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"")  # never read: the connection fails first
    code, _, err = run("stream", str(clip), "--url", f"http://127.0.0.1:{free_port()}", "--api-key", "k")
    assert code == EXIT_CONNECTION
    assert "connection refused" in err and "is the server running?" in err


# --------------------------------------------------------------------------- output


def partial(text: str, start: float = 0.0, current: float = 1.0) -> p.PartialResult:
    data = p.PartialData(text=text, confidence=0.9, timestamp=NOW, audio_start=start, audio_current=current)
    return p.PartialResult(session_id="s", utterance_id=1, data=data)


def final(text: str, **extra: Any) -> p.FinalResult:
    data = p.FinalData(text=text, confidence=0.9, audio=p.AudioSpan(start=0.5, end=2.25, duration=1.75), timestamp=NOW)
    return p.FinalResult(session_id="s", utterance_id=1, seq=1, data=data.model_copy(update=extra))


def enriched_final() -> p.FinalResult:
    speakers = p.Speakers(
        count=2,
        details=[
            p.SpeakerDetail(id="S2", speaking_time=1.0, segments=[p.SpeakerSegment(start=1.2, end=2.2)]),
            p.SpeakerDetail(id="S1", speaking_time=0.7, segments=[p.SpeakerSegment(start=0.5, end=1.2)]),
        ],
    )
    analysis = p.Analysis(
        sentiment=p.Sentiment(overall=p.SentimentScore(label="positive", score=0.8)),
        topics=[p.Topic(topic="politics", confidence=0.6)],
    )
    return final("Ask not.", speakers=speakers, analysis=analysis, wake_word_detected=True)


def test_text_output_piped_gives_a_line_per_result() -> None:
    out, err = io.StringIO(), io.StringIO()
    render = TextRenderer(out, err, tty=False)
    started = p.SessionStarted(
        session_id="s1",
        audio=p.AudioFormat(sample_rate=16000, encoding="pcm_s16le", channels=1),
        options=p.SessionOptions(),
    )
    detected = final("Guten Tag.", language="de", language_probability=0.987)
    for msg in (started, partial("And so"), final("And so my fellow Americans."), enriched_final(), detected):
        render(msg)
    render(p.Warning_(session_id="s", code="buffer_overflow", message="behind"))
    render(p.SessionEnded(session_id="s", reason="stopped", audio_duration=11.0, finals=2))
    render.close()
    assert out.getvalue().splitlines() == [
        "[partial   0.00-  1.00s] And so",
        "[final     0.50-  2.25s] And so my fellow Americans.",
        "[final     0.50-  2.25s] S1+S2: Ask not. [positive 0.80] [topics: politics] [wake word]",
        "[final     0.50-  2.25s] Guten Tag. [de 0.99]",
    ]
    assert err.getvalue().splitlines() == [
        "stt: session s1",
        "stt: warning [buffer_overflow]: behind",
        "stt: session ended (stopped): 2 finals, 11.0 s of audio",
    ]


def test_terminal_output_rewrites_the_partial_in_place() -> None:
    out = io.StringIO()
    render = TextRenderer(out, io.StringIO(), tty=True, colour=False, width=lambda: 40)
    render(partial("short"))
    render(partial("a partial far too long for a forty column terminal, cut from the left"))
    render(final("Done."))
    text = out.getvalue()
    lines = text.split("\r\033[K")
    assert lines[1] == "[partial   0.00-  1.00s] short"
    assert lines[2].startswith("…") and len(lines[2]) == 39 and lines[2].endswith("from the left")
    assert lines[-1] == "[final     0.50-  2.25s] Done.\n"


def test_partials_can_be_hidden_and_json_is_one_object_a_line() -> None:
    out = io.StringIO()
    TextRenderer(out, io.StringIO(), tty=False, partials=False)(partial("hidden"))
    assert out.getvalue() == ""
    render = JsonRenderer(out, partials=False)
    render(partial("hidden"))
    render(final("Shown."))
    (line,) = out.getvalue().splitlines()
    assert p.parse_server_message(line) == final("Shown.")


# --------------------------------------------------------------------------- REST commands


class Scripted(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Callable[[str], tuple[int, str, bytes]]]] = {}
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        path = self.path.split("?")[0]
        status, kind, body = self.routes.get(path, lambda q: (404, "text/plain", b"Not Found"))(self.path)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[Scripted]]]:
    handler = type("Handler", (Scripted,), {"routes": {}, "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/stt", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def as_json(status: int, body: object) -> Callable[[str], tuple[int, str, bytes]]:
    return lambda _: (status, "application/json", json.dumps(body).encode())


SESSION = {
    "session_id": "a1",
    "client_id": "client-a",
    "status": "ended",
    "end_reason": "stopped",
    "started_at": "2026-01-01T00:00:00Z",
    "audio_duration": 11.04,
    "finals": 3,
    "last_seq": 3,
}


def test_sessions_table_follows_cursors_with_all(server: tuple[str, type[Scripted]]) -> None:
    url, handler = server

    def pages(path: str) -> tuple[int, str, bytes]:
        second = "cursor=c2" in path
        body = {
            "sessions": [{**SESSION, "session_id": "b2" if second else "a1"}],
            "next_cursor": None if second else "c2",
        }
        return 200, "application/json", json.dumps(body).encode()

    handler.routes["/stt/v1/sessions"] = pages
    code, out, err = run("sessions", "--url", url, "--api-key", "k", "--limit", "1")
    assert code == EXIT_OK
    assert out.splitlines() == [
        "session_id  status  end_reason  started_at            audio_duration  finals",
        "a1          ended   stopped     2026-01-01T00:00:00Z  11.0            3",
    ]
    assert "stt sessions --cursor c2" in err
    assert handler.seen[0] == ("/stt/v1/sessions?limit=1", "Bearer k")
    code, out, _ = run("sessions", "--url", url, "--api-key", "k", "--all", "--json")
    assert [s["session_id"] for s in json.loads(out)["sessions"]] == ["a1", "b2"]


def test_transcript_to_stdout_and_file(server: tuple[str, type[Scripted]], tmp_path: Path) -> None:
    url, handler = server
    srt = b"1\n00:00:00,500 --> 00:00:02,250\nAsk not.\n"
    handler.routes["/stt/v1/sessions/a%2F1/transcript"] = lambda q: (200, "application/x-subrip", srt)
    code, out, _ = run("transcript", "a/1", "--format", "srt", "--url", url, "--token", "jwt")
    assert (code, out) == (EXIT_OK, srt.decode())
    assert handler.seen[-1] == ("/stt/v1/sessions/a%2F1/transcript?format=srt", "Bearer jwt")
    target = tmp_path / "t.srt"
    assert run("transcript", "a/1", "--format", "srt", "--url", url, "-o", str(target))[0] == EXIT_OK
    assert target.read_bytes() == srt


def test_rest_errors(server: tuple[str, type[Scripted]]) -> None:
    url, handler = server
    code, _, err = run("sessions", "--url", url)
    assert code == EXIT_SERVER and "does not serve /v1/sessions" in err  # a server without the storage routes
    handler.routes["/stt/v1/sessions/zz/transcript"] = as_json(
        404, {"error": {"code": "session_not_found", "message": "no session 'zz'"}}
    )
    code, _, err = run("transcript", "zz", "--url", url)
    assert code == EXIT_SERVER and "[session_not_found]: no session 'zz'" in err
    handler.routes["/stt/v1/sessions"] = as_json(
        401, {"error": {"code": "unauthenticated", "message": "invalid API key"}}
    )
    code, _, err = run("sessions", "--url", url, "--api-key", "bad")
    assert code == EXIT_AUTH and "authentication failed: invalid API key" in err and "--api-key" in err
    handler.routes["/stt/v1/sessions"] = as_json(503, {"error": {"code": "storage_unavailable", "message": "off"}})
    assert run("sessions", "--url", url)[0] == EXIT_SERVER


def test_token_and_page_url(server: tuple[str, type[Scripted]]) -> None:
    url, handler = server
    handler.routes["/stt/v1/auth/token"] = as_json(200, {"token": "a.b.c", "token_type": "Bearer", "expires_in": 600})
    code, out, err = run("token", "--url", url, "--api-key", "k")
    assert (code, out) == (EXIT_OK, "a.b.c\n") and "600 s" in err
    code, out, _ = run("token", "--page", "--url", url, "--api-key", "k", "--ttl", "3600")
    # the fragment never reaches a server or its logs
    assert (code, out) == (EXIT_OK, f"{url}/#token=a.b.c\n")


def test_format_table_keeps_known_columns() -> None:
    table = format_table(
        [{"session_id": "x", "finals": 1, "future_field": "?"}, {"session_id": "longer", "finals": None}]
    )
    assert table.splitlines() == ["session_id  finals", "x           1", "longer      -"]


# --------------------------------------------------------------------------- microphone


class FakeStream:
    """sounddevice.RawInputStream's shape: calls back from its own thread while open, ``count`` times;
    ``burst``: all at once on opening, before the reader can take any (a stalled event loop)."""

    def __init__(self, *, callback: Callable[..., None], blocksize: int, count: int, burst: bool, **kw: object) -> None:
        self.callback, self.blocksize, self.count, self.burst, self.kwargs = callback, blocksize, count, burst, kw
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        for i in range(self.count):
            self.callback(bytes([i % 256]) * self.blocksize * 2, self.blocksize, None, None)

    def __enter__(self) -> FakeStream:
        if self.burst:
            self._run()
        else:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.thread.join()


class FakeSoundDevice:
    PortAudioError = OSError

    def __init__(self, count: int = 3, burst: bool = False) -> None:
        self.count, self.burst = count, burst
        self.opened: list[FakeStream] = []

    def RawInputStream(self, **kwargs: Any) -> FakeStream:
        if kwargs.get("device") == "missing":
            raise ValueError("no such device")
        stream = FakeStream(count=self.count, burst=self.burst, **kwargs)
        self.opened.append(stream)
        return stream


async def test_microphone_yields_16khz_pcm_chunks_until_stopped() -> None:
    backend = FakeSoundDevice()
    mic = Microphone(chunk_ms=100, backend=backend)
    chunks = []
    async for chunk in mic:
        chunks.append(chunk)
        if len(chunks) == 3:
            mic.stop()
    assert [len(c) for c in chunks] == [3200, 3200, 3200]
    assert backend.opened[0].kwargs == {"samplerate": 16000, "channels": 1, "dtype": "int16", "device": None}


async def test_microphone_errors_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MicUnavailable, match="no such device"):
        async for _ in Microphone(device="missing", backend=FakeSoundDevice()):
            pass
    monkeypatch.setitem(__import__("sys").modules, "sounddevice", None)  # as if not installed
    with pytest.raises(MicUnavailable, match="pip install sounddevice") as err:
        load_sounddevice()
    assert exit_code(err.value) == EXIT_USAGE and describe(err.value).startswith("--mic needs")


async def test_microphone_drops_the_oldest_chunk_when_the_loop_falls_behind() -> None:
    mic = Microphone(backend=FakeSoundDevice(count=55, burst=True))
    firsts = []
    async for chunk in mic:
        firsts.append(chunk[0])
        if len(firsts) == 2:
            break
    # 55 chunks came while the loop was busy; the queue keeps the newest 50
    assert mic.dropped_chunks == 5 and firsts == [5, 6]


def testresume_notes_on_stderr() -> None:
    from app.client.commands import resume_notes
    from app.client.resume import ResumeEvent

    err = io.StringIO()
    note = resume_notes(err)
    note(ResumeEvent("lost", SttClientError("connection lost (close 1012)", code="session_interrupted")))
    note(ResumeEvent("resumed", tries=3, elapsed_s=2.14, resent_bytes=64000))
    note(ResumeEvent("failed", tries=9, elapsed_s=120.0))
    assert err.getvalue().splitlines() == [
        "",
        "stt: connection lost (close 1012); resuming",
        "stt: resumed after 2.1 s (3 tries); 64000 audio bytes sent again",
        "stt: gave up resuming after 120.0 s (9 tries)",
    ]


def test_resume_flags() -> None:
    args = build_parser({}).parse_args(["stream", "a.wav", "--no-resume", "--resume-buffer", "10"])
    assert args.no_resume and args.resume_buffer == 10.0 and args.resume_timeout == 120.0
    defaults = build_parser({}).parse_args(["stream", "a.wav"])
    assert not defaults.no_resume and defaults.resume_buffer == 30.0

"""Async Python client of the streaming service.

::

    client = SttClient("http://127.0.0.1:8000", api_key="…")
    async with client.stream({"language": "en"}) as stream:

        async def send() -> None:
            await stream.send_file("talk.wav")  # paced like a microphone
            await stream.stop()  # the server flushes every final, then session_ended

        sender = asyncio.create_task(send())
        async for msg in stream:  # typed ServerMessage, until session_ended
            if msg.type == "final_result":
                print(msg.seq, msg.data.text)
        await sender

    finals = await client.transcribe_file("talk.wav")  # the same, all at once

Modules: ``client`` (:class:`SttClient`: streams, tokens, stored sessions and transcripts), ``stream``
(:class:`SttStream`: sending, commands, results), ``link`` (its sockets, state and resuming by itself),
``resume`` (the policy, the audio kept to send again), ``sending``, ``connection`` (opening a socket),
``audio`` (framing, pacing, decoding), ``urls``, ``errors``; the ``stt`` command: ``cli`` (arguments, exit codes),
``commands`` (what each subcommand does), ``render`` (terminal and JSON output), ``mic`` (the
microphone, through the optional ``sounddevice``).
Every failure is an :class:`SttClientError` with the server's stable ``code`` and the close code.
"""

from app.client.client import SttClient, Token
from app.client.errors import SttClientError
from app.client.resume import ResumeEvent, ResumePolicy
from app.client.state import StreamState
from app.client.stream import SttStream

__all__ = ["ResumeEvent", "ResumePolicy", "StreamState", "SttClient", "SttClientError", "SttStream", "Token"]

"""Compatible APIs: Deepgram's, AssemblyAI's and OpenAI's wire protocols over this service's sessions.

Each vendor protocol is a thin adapter: it authenticates with :class:`~app.auth.Authenticator`, maps
the vendor's parameters onto :class:`~app.config.SessionOptions` (:mod:`app.compat.options`, one
table for all three), and runs a normal session, live through the session hosts
(:mod:`app.compat.live`) or pre-recorded through :mod:`app.batch`, translating every message to the
vendor's shape. A session opened this way is stored and listed like any other.

* :mod:`app.compat.deepgram`: ``GET /v1/listen`` (WebSocket), ``POST /v1/listen``, ``POST /v1/auth/grant``;
* :mod:`app.compat.assemblyai`: ``GET /v3/ws`` (WebSocket), ``GET /v3/token``;
* :mod:`app.compat.openai_api`: ``POST /v1/audio/transcriptions``, ``POST /v1/audio/translations``.
"""

"""The compatible endpoints as Starlette routes (mounted by :func:`app.service.routes.build_app`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from app.compat import deepgram_rest, openai_api
from app.compat.assemblyai import AssemblyAIStream
from app.compat.assemblyai import token as assemblyai_token
from app.compat.context import Compat
from app.compat.deepgram import DeepgramLive


def compat_routes(compat: Compat) -> list[BaseRoute]:
    async def deepgram_live(ws: WebSocket) -> None:
        await DeepgramLive(ws, compat).run()

    async def deepgram_listen(request: Request) -> Response:
        return await deepgram_rest.listen(request, compat)

    async def deepgram_grant(request: Request) -> Response:
        return await deepgram_rest.grant(request, compat)

    async def assemblyai_ws(ws: WebSocket) -> None:
        await AssemblyAIStream(ws, compat).run()

    async def assemblyai_token_route(request: Request) -> Response:
        return await assemblyai_token(request, compat)

    async def openai_transcriptions(request: Request) -> Response:
        return await openai_api.transcriptions(request, compat)

    async def openai_translations(request: Request) -> Response:
        return await openai_api.translations(request, compat)

    return [
        WebSocketRoute("/v1/listen", deepgram_live),
        Route("/v1/listen", deepgram_listen, methods=["POST"]),
        Route("/v1/auth/grant", deepgram_grant, methods=["POST"]),
        WebSocketRoute("/v3/ws", assemblyai_ws),
        Route("/v3/token", assemblyai_token_route, methods=["GET"]),
        Route("/v1/audio/transcriptions", openai_transcriptions, methods=["POST"]),
        Route("/v1/audio/translations", openai_translations, methods=["POST"]),
    ]

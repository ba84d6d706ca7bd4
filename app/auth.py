"""Who is calling: API keys and JWTs, checked before a session starts.

A request carries one credential, looked for in this order:

1. ``Authorization: Bearer <api key or jwt>``;
2. ``?token=<api key or jwt>``;
3. a ``Sec-WebSocket-Protocol`` entry ``bearer.<api key or jwt>`` (browsers cannot set headers). The client
   offers :data:`SUBPROTOCOL` beside it and the server accepts that one (:func:`select_subprotocol`): a
   browser fails the handshake when the server picks none of the offered entries, and the server must never
   echo the credential back.

A credential shaped like a JWT (three base64url parts) is verified as one (HS256 with ``jwt_secret``, RS256
with ``jwt_public_key``); anything else is an API key. ``POST /v1/auth/token`` exchanges an API key for a
short-lived JWT (:func:`mint_token`).

Pure logic: no web framework, no Ray. Failures are :class:`~app.errors.Unauthenticated` (4401) and
:class:`~app.errors.Forbidden` (4403); their messages never echo a credential.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from app.errors import ConfigError, Forbidden, Unauthenticated, quote

logger = logging.getLogger(__name__)

#: the WebSocket subprotocol the server accepts
SUBPROTOCOL = "stt.v1"
#: prefix of the subprotocol entry that carries a credential
BEARER_PREFIX = "bearer."
#: client_id of requests when auth is disabled and the request names none
ANONYMOUS = "anonymous"
#: longer credentials are refused before any parsing
MAX_CREDENTIAL_CHARS = 8192

Clock = Callable[[], float]
Via = Literal["api_key", "jwt", "anonymous"]

_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # an empty signature is alg "none"
_MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key is at least as long as the hash
_MIN_RSA_BITS = 2048
_MISSING = (
    "missing credentials: send 'Authorization: Bearer <api key or token>', '?token=', "
    f"or the subprotocols '{SUBPROTOCOL}' and '{BEARER_PREFIX}<token>'"
)
_JWT_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.InvalidSignatureError, "signature does not verify"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
)


def looks_like_jwt(credential: str) -> bool:
    return _JWT_SHAPE.fullmatch(credential) is not None


def _public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise ValueError("jwt_public_key is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_RSA_BITS:
        raise ValueError(f"jwt_public_key must be an RSA key of at least {_MIN_RSA_BITS} bits")
    return key


@functools.lru_cache(maxsize=4)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("jwt_private_key is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < _MIN_RSA_BITS:
        raise ValueError(f"jwt_private_key must be an RSA key of at least {_MIN_RSA_BITS} bits")
    return key


class AuthSettings(BaseModel):
    """How callers prove who they are. Secrets are kept out of repr, dumps and validation errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    enabled: bool = Field(True, description="false: every request is let in as its client_id, or 'anonymous'")
    api_keys: dict[SecretStr, str] = Field(default_factory=dict, description="API key -> client_id that owns it")
    jwt_secret: SecretStr | None = Field(None, description=f"HS256 secret, at least {_MIN_SECRET_BYTES} bytes")
    jwt_public_key: str | None = Field(None, description="PEM RSA public key that verifies RS256 tokens")
    jwt_private_key: SecretStr | None = Field(None, description="PEM RSA private key; minted tokens are RS256")
    jwt_issuer: str = Field("rtstt", min_length=1)
    jwt_audience: str = Field("rtstt", min_length=1)
    token_ttl_s: int = Field(600, ge=1, description="lifetime of a minted token when the caller asks for none")
    max_token_ttl_s: int = Field(3600, ge=1, description="longest lifetime a minted token may have")
    leeway_s: float = Field(5.0, ge=0.0, le=300.0, description="clock skew tolerated on exp, nbf and iat")
    allowed_origins: list[str] | None = Field(
        None,
        max_length=100,
        description="browser Origins allowed to open the sockets (e.g. https://app.example.com); none: any",
    )
    failure_limit: int = Field(
        20,
        ge=0,
        le=10000,
        description="failed authentications from one address within the window before it is "
        "refused (too_many_requests); 0: no throttling",
    )
    failure_window_s: float = Field(60.0, gt=0.0, le=86400.0)
    client_ip_header: str | None = Field(
        None, max_length=64, description="header naming the client's address behind a proxy, e.g. x-forwarded-for"
    )

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, v: dict[SecretStr, str]) -> dict[SecretStr, str]:
        for key, owner in v.items():
            secret = key.get_secret_value()
            if not owner.strip():
                raise ValueError("api_keys: every key needs a non-empty client_id")
            if not secret.strip() or len(secret) > MAX_CREDENTIAL_CHARS or looks_like_jwt(secret):
                raise ValueError(
                    f"api_keys: a key of client {owner!r} is empty, longer than {MAX_CREDENTIAL_CHARS} "
                    "characters, or shaped like a JWT (three dot-separated base64url parts)"
                )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> AuthSettings:
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value().encode()) < _MIN_SECRET_BYTES:
            raise ValueError(f"jwt_secret must be at least {_MIN_SECRET_BYTES} bytes")
        if self.jwt_public_key is not None:
            _public_key(self.jwt_public_key)
        if self.token_ttl_s > self.max_token_ttl_s:
            raise ValueError(f"token_ttl_s {self.token_ttl_s} exceeds max_token_ttl_s {self.max_token_ttl_s}")
        if self.jwt_private_key is not None:
            private = _private_key(self.jwt_private_key.get_secret_value())
            if self.jwt_public_key is None:
                raise ValueError("jwt_private_key needs jwt_public_key, so that minted tokens verify here")
            if private.public_key().public_numbers() != _public_key(self.jwt_public_key).public_numbers():
                raise ValueError("jwt_private_key does not belong to jwt_public_key")
        return self

    @classmethod
    def from_env(
        cls, data: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
    ) -> AuthSettings:
        """``data`` (e.g. the serve config's ``auth`` args) overlaid with the environment.

        ``STT_AUTH_ENABLED`` (true/false), ``STT_API_KEYS="client_a:key1,client_b:key2"`` (added to
        ``data``'s keys), ``STT_JWT_SECRET``, ``STT_JWT_PUBLIC_KEY``, ``STT_JWT_PRIVATE_KEY``; each of the
        last three may instead be read from the file named by ``<NAME>_FILE``. Errors name the setting, never
        its value.
        """
        env = os.environ if environ is None else environ
        merged = dict(data or {})
        if "STT_AUTH_ENABLED" in env:
            merged["enabled"] = env["STT_AUTH_ENABLED"]  # pydantic reads true/false/1/0/yes/no/on/off
        if env.get("STT_API_KEYS", "").strip():
            configured = dict(merged.get("api_keys") or {})
            keys = {k.get_secret_value() if isinstance(k, SecretStr) else k: v for k, v in configured.items()}
            for key, owner in parse_api_keys(env["STT_API_KEYS"]).items():
                if keys.setdefault(key, owner) != owner:
                    raise ValueError("STT_API_KEYS gives a configured key to another client")
            merged["api_keys"] = keys
        for field in ("jwt_secret", "jwt_public_key", "jwt_private_key"):
            if value := _env_or_file(env, f"STT_{field.upper()}"):
                merged[field] = value
        return cls.model_validate(merged)


def _env_or_file(env: Mapping[str, str], name: str) -> str | None:
    inline, path = env.get(name), env.get(f"{name}_FILE")
    if inline and path:
        raise ValueError(f"set {name} or {name}_FILE, not both")
    if not path:
        return inline or None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from None


def parse_api_keys(spec: str) -> dict[str, str]:
    """``"client_a:key1,client_b:key2"`` as ``{key: client_id}``; errors give the entry's number, not its text."""
    keys: dict[str, str] = {}
    for number, entry in enumerate(spec.split(","), 1):
        if not entry.strip():
            continue
        owner, sep, key = (part.strip() for part in entry.partition(":"))
        if not (sep and owner and key):
            raise ValueError(f"STT_API_KEYS entry {number} is not 'client_id:key'")
        if keys.setdefault(key, owner) != owner:
            raise ValueError(f"STT_API_KEYS entry {number} gives an earlier client's key to {owner!r}")
    return keys


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``session_id`` is set when its token is bound to one session."""

    client_id: str
    session_id: str | None = None
    via: Via = "anonymous"


def select_subprotocol(offered: Sequence[str]) -> str | None:
    """The subprotocol to accept: :data:`SUBPROTOCOL` when offered, else none (never a ``bearer.`` entry)."""
    return SUBPROTOCOL if any(p.strip() == SUBPROTOCOL for p in offered) else None


def bearer_subprotocols(credential: str) -> list[str]:
    """What a browser client offers: ``new WebSocket(url, bearer_subprotocols(token))``."""
    return [SUBPROTOCOL, BEARER_PREFIX + credential]


def _credential(authorization: str | None, query_token: str | None, subprotocols: Sequence[str]) -> str | None:
    if authorization and authorization.strip():
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("unsupported Authorization header; send 'Bearer <api key or token>'")
        return value.strip()
    if query_token and query_token.strip():
        return query_token.strip()
    for entry in subprotocols:
        entry = entry.strip()
        if entry.startswith(BEARER_PREFIX) and len(entry) > len(BEARER_PREFIX):
            return entry[len(BEARER_PREFIX) :]
    return None


def _digest(credential: str) -> bytes:
    # comparing fixed-length digests keeps key lengths out of the timing, too
    return hashlib.sha256(credential.encode()).digest()


def _is_number(value: object) -> bool:
    # json.loads accepts NaN and Infinity, and a NaN exp would never expire
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Authenticator:
    """Turns a request's credentials into a :class:`Principal`; one per deployment, safe to share."""

    def __init__(self, settings: AuthSettings, *, now: Clock = time.time) -> None:
        self.settings = settings
        self._now = now
        self._keys = [(_digest(key.get_secret_value()), owner) for key, owner in settings.api_keys.items()]
        self._hs256 = settings.jwt_secret.get_secret_value().encode() if settings.jwt_secret else None
        self._rs256 = _public_key(settings.jwt_public_key) if settings.jwt_public_key else None
        if settings.enabled and not (self._keys or self._hs256 or self._rs256):
            logger.warning("auth is enabled but no API key or JWT key is configured: every request is refused")

    def authenticate(
        self,
        *,
        authorization: str | None,
        query_token: str | None,
        subprotocols: Sequence[str],
        client_id: str | None,
    ) -> Principal:
        """Raises :class:`Unauthenticated` (no or bad credential) or :class:`Forbidden` (wrong client_id)."""
        if not self.settings.enabled:
            return Principal(client_id or ANONYMOUS, None, "anonymous")
        credential = _credential(authorization, query_token, subprotocols)
        if credential is None:
            raise Unauthenticated(_MISSING)
        if len(credential) > MAX_CREDENTIAL_CHARS:
            raise Unauthenticated(f"invalid credentials: longer than {MAX_CREDENTIAL_CHARS} characters")
        principal = self._verify_jwt(credential) if looks_like_jwt(credential) else self._lookup_key(credential)
        if client_id and client_id != principal.client_id:
            owner = "the token's subject" if principal.via == "jwt" else "the API key's owner"
            raise Forbidden(f"client_id is not {owner}")
        return principal

    def _lookup_key(self, credential: str) -> Principal:
        digest, owner = _digest(credential), None
        for key_digest, key_owner in self._keys:  # every key, whatever matches: no early exit to time
            if hmac.compare_digest(digest, key_digest):
                owner = key_owner
        if owner is None:
            raise Unauthenticated("invalid API key")
        return Principal(owner, None, "api_key")

    def _verify_jwt(self, token: str) -> Principal:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token: malformed") from None
        # the key follows the algorithm, and decode() is told that one algorithm: "none" and an HS256 token
        # signed with the public key find no key here
        key: bytes | rsa.RSAPublicKey | None = {"HS256": self._hs256, "RS256": self._rs256}.get(str(alg))
        if key is None:
            raise Unauthenticated("invalid token: signing algorithm not accepted")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(alg)],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                # times are checked below against the injectable clock
                options={"require": ["exp", "sub"], "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"invalid token: missing claim {exc.claim!r}") from None
        except jwt.PyJWTError as exc:
            reason = next((r for t, r in _JWT_REASONS if isinstance(exc, t)), "malformed claims")
            raise Unauthenticated(f"invalid token: {reason}") from None
        self._check_times(claims)
        sub, sid = claims["sub"], claims.get("sid")
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated("invalid token: sub must be a non-empty string")
        if sid is not None and (not isinstance(sid, str) or not sid):
            raise Unauthenticated("invalid token: sid must be a non-empty string")
        return Principal(sub, sid, "jwt")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now, leeway = self._now(), self.settings.leeway_s
        exp, nbf, iat = claims["exp"], claims.get("nbf"), claims.get("iat")
        if not all(_is_number(t) for t in (exp, nbf, iat) if t is not None):
            raise Unauthenticated("invalid token: exp, nbf and iat must be numbers")
        if now >= exp + leeway:
            raise Unauthenticated("token expired; get a new one from POST /v1/auth/token")
        if (nbf is not None and now + leeway < nbf) or (iat is not None and now + leeway < iat):
            raise Unauthenticated("invalid token: not valid yet")


def authorize_session(principal: Principal, session_id: str, owner_client_id: str | None) -> None:
    """Raises :class:`Forbidden` unless ``principal`` may use the session.

    ``owner_client_id`` is the client that started the session, or ``None`` for a new one. A caller whose
    token is bound to a session and who names none should be given ``principal.session_id``.
    """
    if principal.session_id is not None and principal.session_id != session_id:
        raise Forbidden("this token is bound to another session")
    if owner_client_id is not None and owner_client_id != principal.client_id:
        raise Forbidden("this session belongs to another client")


def mint_token(
    settings: AuthSettings,
    principal: Principal,
    *,
    session_id: str | None = None,
    ttl_s: int | None = None,
    now: Clock | None = None,
) -> tuple[str, int]:
    """A JWT for ``principal`` and its lifetime in seconds (RS256 when a private key is set, else HS256).

    Only an API key may mint: a token cannot extend itself. ``ttl_s`` is clamped to ``max_token_ttl_s``.
    """
    if principal.via != "api_key":
        raise Forbidden("only an API key can obtain a token")
    ttl = settings.token_ttl_s if ttl_s is None else ttl_s
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ConfigError(f"ttl_s {quote(ttl)} is not allowed; use 1 to {settings.max_token_ttl_s} seconds")
    ttl = min(ttl, settings.max_token_ttl_s)
    issued = int((now or time.time)())
    claims: dict[str, Any] = {
        "sub": principal.client_id,
        "iat": issued,
        "exp": issued + ttl,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": secrets.token_urlsafe(16),
    }
    if session_id:
        claims["sid"] = session_id
    if settings.jwt_private_key is not None:
        token = jwt.encode(claims, _private_key(settings.jwt_private_key.get_secret_value()), algorithm="RS256")
    elif settings.jwt_secret is not None:
        token = jwt.encode(claims, settings.jwt_secret.get_secret_value().encode(), algorithm="HS256")
    else:
        raise Forbidden("this server issues no tokens: no JWT signing key is configured")
    return token, ttl

"""Authentication: API keys, HS256/RS256 JWTs, credential sources, session binding, minting, settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from app.auth import (
    SUBPROTOCOL,
    Authenticator,
    AuthSettings,
    Principal,
    authorize_session,
    bearer_subprotocols,
    looks_like_jwt,
    mint_token,
    parse_api_keys,
    select_subprotocol,
)
from app.errors import ConfigError, Forbidden, Unauthenticated

SECRET = "s" * 40
KEY_A = "key-a-0123456789"
KEY_B = "key-b-9876543210"
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _pem_pair() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, str]:
    return _pem_pair()


def _settings(**kw: Any) -> AuthSettings:
    base: dict[str, Any] = {"api_keys": {KEY_A: "client_a", KEY_B: "client_b"}, "jwt_secret": SECRET}
    return AuthSettings(**{**base, **kw})


def _claims(**kw: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": "client_a", "iat": int(T0), "exp": int(T0) + 600, "iss": "rtstt", "aud": "rtstt"}
    claims.update(kw)
    return {k: v for k, v in claims.items() if v is not None}


def _hs256(secret: str = SECRET, **kw: Any) -> str:
    return jwt.encode(_claims(**kw), secret.encode(), algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token PyJWT refuses to produce: alg none, or HS256 keyed with a PEM."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _auth(
    authenticator: Authenticator,
    token: str | None = None,
    *,
    query: str | None = None,
    subprotocols: tuple[str, ...] = (),
    client_id: str | None = None,
) -> Principal:
    return authenticator.authenticate(
        authorization=None if token is None else f"Bearer {token}",
        query_token=query,
        subprotocols=subprotocols,
        client_id=client_id,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def auth(clock: FakeClock) -> Authenticator:
    return Authenticator(_settings(), now=clock)


# --------------------------------------------------------------------------- API keys


def test_api_key_authenticates_its_owner(auth: Authenticator) -> None:
    assert _auth(auth, KEY_A) == Principal("client_a", None, "api_key")
    assert _auth(auth, KEY_B) == Principal("client_b", None, "api_key")
    assert _auth(auth, KEY_B, client_id="client_b").client_id == "client_b"


def test_wrong_api_key_is_unauthenticated_and_not_echoed(auth: Authenticator) -> None:
    with pytest.raises(Unauthenticated, match="invalid API key") as err:
        _auth(auth, "not-a-key-xyz")
    assert "not-a-key-xyz" not in err.value.message
    assert err.value.close_code == 4401


def test_missing_credentials(auth: Authenticator) -> None:
    with pytest.raises(Unauthenticated, match="missing credentials"):
        _auth(auth, client_id="client_a")
    with pytest.raises(Unauthenticated, match="missing credentials"):
        _auth(auth, query="  ", subprotocols=(SUBPROTOCOL, "bearer."))


def test_api_key_of_another_client_is_forbidden(auth: Authenticator) -> None:
    with pytest.raises(Forbidden, match="API key's owner") as err:
        _auth(auth, KEY_A, client_id="client_b")
    assert err.value.close_code == 4403


def test_non_bearer_authorization_is_refused(auth: Authenticator) -> None:
    with pytest.raises(Unauthenticated, match="Bearer"):
        auth.authenticate(authorization=f"Basic {KEY_A}", query_token=None, subprotocols=(), client_id=None)


def test_overlong_credential_is_refused_before_parsing(auth: Authenticator) -> None:
    with pytest.raises(Unauthenticated, match="longer than"):
        _auth(auth, "x" * 10_000)


# --------------------------------------------------------------------------- HS256


def test_hs256_token_ok(auth: Authenticator) -> None:
    assert _auth(auth, _hs256(), client_id="client_a") == Principal("client_a", None, "jwt")


def test_expired_token_says_expired(auth: Authenticator, clock: FakeClock) -> None:
    token = _hs256()
    clock.t = T0 + 600 + 4  # inside the 5 s leeway
    assert _auth(auth, token).client_id == "client_a"
    clock.t = T0 + 600 + 5
    with pytest.raises(Unauthenticated, match="expired") as err:
        _auth(auth, token)
    assert token not in err.value.message


@pytest.mark.parametrize(
    ("token_kw", "reason"),
    [
        ({"secret": "t" * 40}, "signature does not verify"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "someone-else"}, "wrong issuer"),
        ({"exp": None}, "missing claim 'exp'"),
        ({"sub": None}, "missing claim 'sub'"),
        ({"iss": None}, "missing claim 'iss'"),
        ({"aud": None}, "missing claim 'aud'"),
        ({"exp": "tomorrow"}, "must be numbers"),
        ({"exp": float("nan")}, "must be numbers"),
        ({"nbf": int(T0) + 60}, "not valid yet"),
        ({"sub": ""}, "sub must be"),
        ({"sid": 7}, "sid must be"),
    ],
)
def test_invalid_hs256_tokens(auth: Authenticator, token_kw: dict[str, Any], reason: str) -> None:
    token = _hs256(**token_kw)
    with pytest.raises(Unauthenticated, match=reason) as err:
        _auth(auth, token)
    assert err.value.message.startswith("invalid token")
    assert token not in err.value.message


def test_alg_none_is_rejected(auth: Authenticator) -> None:
    token = _forge({"alg": "none", "typ": "JWT"}, _claims(), None)
    assert looks_like_jwt(token)
    with pytest.raises(Unauthenticated, match="algorithm not accepted"):
        _auth(auth, token)


def test_malformed_jwt_is_invalid(auth: Authenticator) -> None:
    with pytest.raises(Unauthenticated, match="invalid token: malformed"):
        _auth(auth, "abc.def.ghi")


def test_subject_must_match_client_id(auth: Authenticator) -> None:
    with pytest.raises(Forbidden, match="token's subject"):
        _auth(auth, _hs256(), client_id="client_b")


def test_session_bound_token(auth: Authenticator) -> None:
    principal = _auth(auth, _hs256(sid="sess-1"))
    assert principal.session_id == "sess-1"
    authorize_session(principal, "sess-1", "client_a")
    authorize_session(principal, "sess-1", None)
    with pytest.raises(Forbidden, match="bound to another session"):
        authorize_session(principal, "sess-2", None)


def test_session_of_another_client_is_forbidden(auth: Authenticator) -> None:
    principal = _auth(auth, KEY_A)
    authorize_session(principal, "any", None)
    authorize_session(principal, "mine", "client_a")
    with pytest.raises(Forbidden, match="another client"):
        authorize_session(principal, "theirs", "client_b")


# --------------------------------------------------------------------------- RS256


def test_rs256_token_ok(rsa_pair: tuple[str, str], clock: FakeClock) -> None:
    private_pem, public_pem = rsa_pair
    auth = Authenticator(AuthSettings(jwt_public_key=public_pem), now=clock)
    token = jwt.encode(_claims(sid="s1"), private_pem, algorithm="RS256")
    assert _auth(auth, token) == Principal("client_a", "s1", "jwt")
    other_private, _ = _pem_pair()
    with pytest.raises(Unauthenticated, match="signature does not verify"):
        _auth(auth, jwt.encode(_claims(), other_private, algorithm="RS256"))


@pytest.mark.parametrize("with_secret", [False, True])
def test_algorithm_confusion_is_rejected(rsa_pair: tuple[str, str], clock: FakeClock, with_secret: bool) -> None:
    _, public_pem = rsa_pair
    settings = AuthSettings(jwt_public_key=public_pem, jwt_secret=SECRET if with_secret else None)
    auth = Authenticator(settings, now=clock)
    token = _forge({"alg": "HS256", "typ": "JWT"}, _claims(), public_pem.encode())
    with pytest.raises(Unauthenticated, match="invalid token"):
        _auth(auth, token)


def test_rs256_token_refused_when_only_hs256_is_configured(rsa_pair: tuple[str, str], auth: Authenticator) -> None:
    token = jwt.encode(_claims(), rsa_pair[0], algorithm="RS256")
    with pytest.raises(Unauthenticated, match="algorithm not accepted"):
        _auth(auth, token)


# --------------------------------------------------------------------------- credential sources


def test_token_via_query(auth: Authenticator) -> None:
    assert _auth(auth, query=_hs256()).via == "jwt"
    assert _auth(auth, query=KEY_B).client_id == "client_b"


def test_token_via_subprotocol(auth: Authenticator) -> None:
    offered = bearer_subprotocols(_hs256(sid="s9"))
    assert offered[0] == SUBPROTOCOL
    principal = _auth(auth, subprotocols=tuple(offered))
    assert principal == Principal("client_a", "s9", "jwt")
    assert select_subprotocol(offered) == "stt.v1"
    assert select_subprotocol([f"bearer.{KEY_A}"]) is None
    assert select_subprotocol([]) is None


def test_header_wins_over_query_and_subprotocol(auth: Authenticator) -> None:
    principal = _auth(auth, KEY_A, query=KEY_B, subprotocols=(f"bearer.{KEY_B}",))
    assert principal.client_id == "client_a"
    assert _auth(auth, query=KEY_B, subprotocols=(f"bearer.{KEY_A}",)).client_id == "client_b"


# --------------------------------------------------------------------------- minting


def test_mint_hs256_round_trip(auth: Authenticator, clock: FakeClock) -> None:
    principal = _auth(auth, KEY_A)
    token, expires_in = mint_token(auth.settings, principal, session_id="s1", now=clock)
    assert expires_in == 600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600
    assert {"sub", "iat", "exp", "iss", "aud", "sid", "jti"} <= claims.keys()
    assert _auth(auth, token, client_id="client_a") == Principal("client_a", "s1", "jwt")
    clock.t += 600 + 5
    with pytest.raises(Unauthenticated, match="expired"):
        _auth(auth, token)


def test_mint_rs256_round_trip(rsa_pair: tuple[str, str], clock: FakeClock) -> None:
    private_pem, public_pem = rsa_pair
    settings = _settings(jwt_private_key=private_pem, jwt_public_key=public_pem)
    auth = Authenticator(settings, now=clock)
    token, _ = mint_token(settings, _auth(auth, KEY_B), now=clock)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert _auth(auth, token) == Principal("client_b", None, "jwt")


def test_mint_ttl_is_clamped(auth: Authenticator, clock: FakeClock) -> None:
    principal = _auth(auth, KEY_A)
    assert mint_token(auth.settings, principal, ttl_s=60, now=clock)[1] == 60
    token, expires_in = mint_token(auth.settings, principal, ttl_s=86_400, now=clock)
    assert expires_in == 3600
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == int(T0) + 3600
    with pytest.raises(ConfigError, match="ttl_s 0"):
        mint_token(auth.settings, principal, ttl_s=0, now=clock)


def test_tokens_get_distinct_ids(auth: Authenticator, clock: FakeClock) -> None:
    principal = _auth(auth, KEY_A)
    ids = {jwt.decode(mint_token(auth.settings, principal, now=clock)[0], options={"verify_signature": False})["jti"]}
    ids.add(jwt.decode(mint_token(auth.settings, principal, now=clock)[0], options={"verify_signature": False})["jti"])
    assert len(ids) == 2


def test_jwt_cannot_mint(auth: Authenticator, clock: FakeClock) -> None:
    principal = _auth(auth, _hs256())
    with pytest.raises(Forbidden, match="only an API key"):
        mint_token(auth.settings, principal, now=clock)
    with pytest.raises(Forbidden, match="only an API key"):
        mint_token(auth.settings, Principal("anonymous"), now=clock)


def test_mint_without_signing_key_is_forbidden(clock: FakeClock) -> None:
    settings = AuthSettings(api_keys={KEY_A: "client_a"})
    with pytest.raises(Forbidden, match="no JWT signing key"):
        mint_token(settings, Principal("client_a", None, "api_key"), now=clock)


# --------------------------------------------------------------------------- disabled auth


def test_disabled_auth_lets_everyone_in() -> None:
    auth = Authenticator(AuthSettings(enabled=False))
    assert _auth(auth) == Principal("anonymous", None, "anonymous")
    assert _auth(auth, client_id="me") == Principal("me", None, "anonymous")
    assert _auth(auth, "garbage", client_id="me").client_id == "me"


def test_enabled_without_credentials_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app.auth"):
        auth = Authenticator(AuthSettings())
    assert "every request is refused" in caplog.text
    with pytest.raises(Unauthenticated):
        _auth(auth, KEY_A)


# --------------------------------------------------------------------------- settings


def test_settings_never_show_secrets(rsa_pair: tuple[str, str]) -> None:
    private_pem, public_pem = rsa_pair
    settings = _settings(jwt_private_key=private_pem, jwt_public_key=public_pem)
    private_body = private_pem.splitlines()[1]
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        for secret in (KEY_A, KEY_B, SECRET, private_body):
            assert secret not in text


def test_validation_errors_hide_the_input() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes") as err:
        AuthSettings(jwt_secret="short-secret-value")
    assert "short-secret-value" not in str(err.value)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"api_keys": {"a.b.c": "client_a"}}, "shaped like a JWT"),
        ({"api_keys": {"": "client_a"}}, "empty"),
        ({"api_keys": {KEY_A: " "}}, "non-empty client_id"),
        ({"jwt_public_key": "not a pem"}, "not a PEM public key"),
        ({"token_ttl_s": 7200}, "token_ttl_s 7200 exceeds max_token_ttl_s 3600"),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_settings_validation(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        AuthSettings(**kw)


def test_private_key_must_match_public_key(rsa_pair: tuple[str, str]) -> None:
    private_pem, public_pem = rsa_pair
    other_private, _ = _pem_pair()
    with pytest.raises(ValidationError, match="does not belong"):
        AuthSettings(jwt_private_key=other_private, jwt_public_key=public_pem)
    with pytest.raises(ValidationError, match="needs jwt_public_key"):
        AuthSettings(jwt_private_key=private_pem)


def test_parse_api_keys() -> None:
    assert parse_api_keys(" client_a:key1, client_b:key:2,,") == {"key1": "client_a", "key:2": "client_b"}
    with pytest.raises(ValueError, match="entry 2 is not 'client_id:key'") as err:
        parse_api_keys("client_a:key1,secretwithoutclient")
    assert "secretwithoutclient" not in str(err.value)
    with pytest.raises(ValueError, match="entry 2 gives an earlier client's key"):
        parse_api_keys("client_a:key1,client_b:key1")


def test_env_loader(rsa_pair: tuple[str, str], tmp_path: Path, clock: FakeClock) -> None:
    private_pem, public_pem = rsa_pair
    (tmp_path / "pub.pem").write_text(public_pem)
    (tmp_path / "priv.pem").write_text(private_pem)
    environ = {
        "STT_API_KEYS": "client_a:key1,client_b:key2",
        "STT_JWT_SECRET": SECRET,
        "STT_JWT_PUBLIC_KEY_FILE": str(tmp_path / "pub.pem"),
        "STT_JWT_PRIVATE_KEY_FILE": str(tmp_path / "priv.pem"),
    }
    settings = AuthSettings.from_env({"api_keys": {"key0": "client_z"}, "token_ttl_s": 300}, environ=environ)
    assert {k.get_secret_value(): v for k, v in settings.api_keys.items()} == {
        "key0": "client_z",
        "key1": "client_a",
        "key2": "client_b",
    }
    assert settings.token_ttl_s == 300
    auth = Authenticator(settings, now=clock)
    token, _ = mint_token(settings, _auth(auth, "key2"), now=clock)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert _auth(auth, token).client_id == "client_b"
    assert _auth(auth, _hs256()).client_id == "client_a"


def test_env_loader_inline_keys_and_switch(rsa_pair: tuple[str, str]) -> None:
    settings = AuthSettings.from_env(environ={"STT_JWT_PUBLIC_KEY": rsa_pair[1], "STT_AUTH_ENABLED": "false"})
    assert settings.jwt_public_key == rsa_pair[1]
    assert settings.enabled is False
    assert AuthSettings.from_env(environ={}).enabled is True


def test_env_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        AuthSettings.from_env(environ={"STT_JWT_PUBLIC_KEY": "x", "STT_JWT_PUBLIC_KEY_FILE": "y"})
    with pytest.raises(ValueError, match="cannot read"):
        AuthSettings.from_env(environ={"STT_JWT_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem")})
    with pytest.raises(ValueError, match="another client"):
        AuthSettings.from_env({"api_keys": {"key1": "client_z"}}, environ={"STT_API_KEYS": "client_a:key1"})
    with pytest.raises(ValidationError, match="at least 32 bytes") as err:
        AuthSettings.from_env(environ={"STT_JWT_SECRET": "tooshort"})
    assert "tooshort" not in str(err.value)

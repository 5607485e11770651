"""OIDC bearer tokens against an issuer this test runs on loopback (discovery document and JWKS
over real HTTP, RSA keys and tokens it makes itself): a good token, an expired one, a wrong
audience, an unknown kid, a rotated key, and the token's groups mapped to a team and scopes,
through the gateway."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from support.gateway import CHAT, client_for, make_settings
from support.http_stub import JsonHandler, serve

from aistack.access.oidc import OidcVerifier
from aistack.errors import AuthenticationFailed
from aistack.settings.access import OidcSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class Issuer:
    """An identity provider on a free loopback port: /.well-known/openid-configuration and /jwks."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        issuer = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/.well-known/openid-configuration":
                    self.send_json({"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"})
                elif self.path == "/jwks":
                    issuer.fetches += 1
                    self.send_json({"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())),
                                              "kid": kid, "use": "sig", "alg": "RS256"}
                                             for kid, k in issuer.keys.items()]})
                else:
                    self.send_error(404)

        self.server, self.url = serve(Handler)

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, kid: str, signer: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": "aistack", "sub": "u-1", "email": "ana@example.com", "iat": now,
                "exp": now + 300, "groups": ["eng"], **claims}
        return jwt.encode(body, self.keys[signer or kid], algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    made.add_key("k1")
    yield made
    made.close()


def settings_for(issuer: Issuer, **more: Any) -> OidcSettings:
    return OidcSettings(issuer=issuer.url, audience="aistack", teams={"eng": "red"},
                        scopes={"eng": ["chat", "rag:read"], "ops": ["deploy"]}, **more)


def test_good_expired_wrong_audience_and_unknown_kid(issuer: Issuer) -> None:
    verifier = OidcVerifier(settings_for(issuer))
    who, expires = verifier.verify(issuer.token("k1", groups=["eng", "ops"]))
    assert (who.name, who.team, who.user) == ("oidc:u-1", "red", "ana@example.com")
    assert who.scopes == frozenset({"chat", "rag:read", "deploy"}) and expires > time.time()
    cases = {
        "expired": issuer.token("k1", exp=int(time.time()) - 120),
        "audience": issuer.token("k1", aud="someone-else"),
        "issuer": issuer.token("k1", iss="http://evil.example"),
    }
    for why, token in cases.items():
        with pytest.raises(AuthenticationFailed, match=why):
            verifier.verify(token)
    issuer.add_key("stranger")
    stray = issuer.token("k9", signer="stranger")  # a kid the issuer never published
    with pytest.raises(AuthenticationFailed, match="signing key"):
        verifier.verify(stray)
    forged = issuer.token("k1", signer="stranger")  # the issuer's kid, another key's signature
    with pytest.raises(AuthenticationFailed, match="not valid"):
        verifier.verify(forged)


def test_a_rotated_key_is_fetched_when_its_kid_first_appears(issuer: Issuer) -> None:
    verifier = OidcVerifier(settings_for(issuer, jwks_refetch_seconds=0.5))
    verifier.verify(issuer.token("k1"))
    fetched = issuer.fetches
    issuer.add_key("k2")  # the issuer rotates: new tokens carry kid k2
    del issuer.keys["k1"]
    with pytest.raises(AuthenticationFailed):  # within the refetch pause: not fetched again yet
        verifier.verify(issuer.token("k2"))
    time.sleep(0.6)
    who, _ = verifier.verify(issuer.token("k2"))
    assert who.team == "red" and issuer.fetches == fetched + 1
    verifier.verify(issuer.token("k2"))
    assert issuer.fetches == fetched + 1  # kept, not fetched per token


async def test_the_gateway_takes_oidc_tokens_and_refuses_bad_ones(issuer: Issuer, tmp_path: Path) -> None:
    settings = make_settings()
    settings.access.oidc = settings_for(issuer)
    http, container = await client_for(settings)
    try:
        good = {"Authorization": f"Bearer {issuer.token('k1')}"}
        me = (await http.get("/v1/me", headers=good)).json()
        chat = await http.post("/v1/chat/completions", json=CHAT, headers=good)
        expired = await http.post("/v1/chat/completions", json=CHAT,
                                  headers={"Authorization": f"Bearer {issuer.token('k1', exp=int(time.time()) - 99)}"})
        none = await http.post("/v1/chat/completions", json=CHAT)
        embed = await http.post("/v1/embeddings", json={"model": "x", "input": "hi"}, headers=good)
    finally:
        await container.close()
    assert me["team"] == "red" and me["name"] == "oidc:u-1" and me["user"] == "ana@example.com"
    assert chat.status_code == 200
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    assert none.status_code == 401  # an issuer configured: no token, no entry
    assert embed.status_code == 403  # the eng group grants chat and rag:read only

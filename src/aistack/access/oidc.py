"""OIDC / JWT bearer tokens: checked against the issuer's JWKS with PyJWT (signature, `iss`,
`aud`, `exp`, `nbf`), the signing key found by `kid` (an unknown kid fetches the JWKS again, so
a rotated key works at once), and the token's team claim mapped to a team and scopes.

Blocking (the JWKS is fetched over HTTP): the access service calls it in a worker thread."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aistack.errors import AuthenticationFailed
from aistack.principals import DEFAULT_TEAM, TEAM_NAME, Principal, check_scopes
from aistack.settings.access import OidcSettings


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


class OidcVerifier:
    def __init__(self, config: OidcSettings, timeout: float = 5.0):
        try:
            import jwt
        except ImportError:
            from aistack.registry import MissingDependency

            raise MissingDependency("OIDC tokens need PyJWT: pip install 'aistack[oidc]'") from None
        self.config, self.timeout = config, timeout
        self._jwt = jwt
        self._client: Any = None

    def _keys(self) -> Any:
        if self._client is None:
            url = self.config.jwks_url or self._discover()
            self._client = self._jwt.PyJWKClient(url, cache_keys=True, lifespan=self.config.jwks_cache_seconds,
                                                 timeout=self.timeout,
                                                 cooldown_duration=self.config.jwks_refetch_seconds)
        return self._client

    def _discover(self) -> str:
        where = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(where, timeout=self.timeout) as response:  # noqa: S310 - the configured issuer
                return json.load(response)["jwks_uri"]
        except (OSError, ValueError, KeyError) as exc:
            raise AuthenticationFailed("the identity provider cannot be reached to check this token",
                                       detail=f"{where}: {exc}") from None

    def verify(self, token: str) -> tuple[Principal, float]:
        """The token's principal and its expiry (epoch seconds); AuthenticationFailed says why not."""
        jwt = self._jwt
        try:
            key = self._keys().get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=self.config.algorithms, audience=self.config.audience,
                                issuer=self.config.issuer, leeway=self.config.leeway,
                                options={"require": ["exp", "iss", "sub"] + (["aud"] if self.config.audience else [])})
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("This token has expired.") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationFailed("This token is not for this gateway (audience).") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationFailed("This token is from another issuer.") from None
        except jwt.PyJWKClientError as exc:
            raise AuthenticationFailed("This token's signing key is not the issuer's.", detail=str(exc)) from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationFailed(f"This token is not valid ({type(exc).__name__}).") from None
        return self.principal(claims), float(claims["exp"])

    def principal(self, claims: dict[str, Any]) -> Principal:
        values = claims.get(self.config.team_claim) or []
        values = [values] if isinstance(values, str) else [str(v) for v in values]
        teams = [self.config.teams.get(v, v if not self.config.teams else "") for v in values]
        team = next((t for t in teams if t and TEAM_NAME.fullmatch(t)), DEFAULT_TEAM)
        granted = {scope for v in values for scope in self.config.scopes.get(v, [])}
        scopes = check_scopes(sorted(granted) if granted else self.config.default_scopes)
        user = str(claims.get(self.config.user_claim) or claims["sub"])
        return Principal(f"oidc:{claims['sub']}", team=team, scopes=scopes, user=user)

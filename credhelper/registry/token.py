"""Registry auth challenges and the token-server leg of a login (docker's token auth).

`parse_challenges` reads WWW-Authenticate; `fetch_token` asks the realm a
challenge names for a bearer token: Basic credentials with service and scope,
or, for an identity token, the OAuth2 refresh grant. A realm credhelper would
reach over plain HTTP off loopback is refused before anything is sent.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from credhelper import netloc, redact
from credhelper.dockernames import TOKEN_USERNAME
from credhelper.errors import UsageError
from credhelper.registry.client import Client, basic_auth, error_text
from credhelper.registry.errors import (
    CLIENT_ID,
    AuthRejected,
    NotARegistry,
    TokenServerError,
)

# A refresh token's stated lifetime above this (a century) is not believed.
MAX_REFRESH_LIFETIME = 100 * 366 * 86400


_CHALLENGE = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """WWW-Authenticate → [(scheme lower-cased, {param: value})]."""
    out: list[tuple[str, dict[str, str]]] = []
    pos = 0
    scheme_re = re.compile(r"\s*,?\s*([A-Za-z][\w-]*)(?:\s+|$)")
    while pos < len(header):
        match = scheme_re.match(header, pos)
        if not match:
            break
        scheme = match.group(1).lower()
        pos = match.end()
        params: dict[str, str] = {}
        while True:
            pm = _CHALLENGE.match(header, pos)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
            pos = pm.end()
            sep = re.match(r"\s*,\s*", header[pos:])
            if not sep:
                break
            # a comma followed by a new scheme name (no '=') ends this challenge
            nxt = re.match(r"\s*,\s*[A-Za-z][\w-]*\s*=", header[pos:])
            if not nxt:
                break
            pos += sep.end()
        out.append((scheme, params))
    return out


def endpoint_allowed(realm: str, insecure: bool) -> bool:
    """HTTPS, or plain HTTP to a parsed loopback host (or --insecure); never a malformed URL."""
    try:
        scheme, authority = netloc.parse_url(realm)
    except UsageError:
        return False
    if scheme == "https":
        return True
    return scheme == "http" and (insecure or authority.is_loopback)


def fetch_token(
    client: Client,
    challenge: dict[str, str],
    username: str,
    secret: str,
    insecure: bool,
) -> tuple[str, str | None, int | None]:
    """(bearer token, refresh token or None, the refresh token's lifetime or None)."""
    realm = challenge.get("realm", "")
    if not realm:
        raise NotARegistry(
            f"credhelper: {client.host} asks for a Bearer token but names no token server (realm)"
        )
    if not endpoint_allowed(realm, insecure):
        raise TokenServerError(
            f"credhelper: {client.host} sends logins to {redact.server_text(realm)}, which is "
            "not an HTTPS URL "
            "credhelper accepts; refusing to send the password there (use --insecure if it "
            "is plain HTTP and you trust the network)"
        )
    resp = _ask(client, realm, challenge, username, secret)
    if resp.status_code in (400, 401, 403) and (
        resp.status_code != 400 or "invalid_grant" in resp.text
    ):
        who = "the identity token" if username == TOKEN_USERNAME else f"user {username}"
        raise AuthRejected(
            f"credhelper: {client.host} refused the login of {who}: "
            f"{error_text(resp, secret, username)}"
        )
    if resp.status_code != 200:
        raise TokenServerError(
            f"credhelper: the token server of {client.host} ({redact.server_text(realm)}) failed: "
            f"{error_text(resp, secret, username)}"
        )
    return _tokens(resp, client, realm)


def _ask(
    client: Client, realm: str, challenge: dict[str, str], username: str, secret: str
) -> requests.Response:
    """The token request itself, as docker makes it for a password or an identity token."""
    service = challenge.get("service", "")
    scope = challenge.get("scope", "")
    what = "token server"
    if username == TOKEN_USERNAME:
        # An identity token is an OAuth2 refresh token (docker's fetchTokenWithOAuth).
        form = {
            "grant_type": "refresh_token",
            "refresh_token": secret,
            "service": service,
            "client_id": CLIENT_ID,
            "access_type": "offline",
        }
        if scope:
            form["scope"] = scope
        return client.post(realm, what, data=form)
    params = {"account": username, "client_id": CLIENT_ID, "offline_token": "true"}
    if service:
        params["service"] = service
    if scope:
        params["scope"] = scope
    return client.get(realm, what, params=params, auth=basic_auth(username, secret))


def _tokens(
    resp: requests.Response, client: Client, realm: str
) -> tuple[str, str | None, int | None]:
    """The tokens of a 200 answer; a TokenServerError if it holds none."""
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    token = None
    if isinstance(body, dict):
        token = body.get("token") or body.get("access_token")
    if not isinstance(token, str) or not token:
        raise TokenServerError(
            f"credhelper: the token server of {client.host} ({redact.server_text(realm)}) "
            "answered without a token"
        )
    refresh = body.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        return token, None, None
    # `expires_in` is the lifetime of the short access token (minutes), never of what
    # is stored; a refresh token's own lifetime comes as `refresh_expires_in`.
    lifetime = body.get("refresh_expires_in")
    valid = type(lifetime) is int and 0 < lifetime <= MAX_REFRESH_LIFETIME
    return token, refresh, lifetime if valid else None

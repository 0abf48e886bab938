"""A stand-in OpenID Connect provider for the gallery's authorization-code + PKCE sign-in.

What the gallery does against Cognito's managed login or an external issuer in AWS, proven in a
real browser against this: discovery, the authorization redirect (state, S256 challenge), and the
code exchange at the token endpoint, which checks the verifier against the challenge (RFC 7636)
and answers an ID token. The token is signed by the local development issuer, so the deployed
API on the local cloud accepts it. It signs in whoever ``user`` names, without a password.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from localcloud.dev_issuer import DevIssuer

CLIENT_ID = "gallery-web"


@dataclass
class Grant:
    challenge: str
    method: str
    client_id: str
    redirect_uri: str


@dataclass
class Provider:
    """What the provider saw: the authorization requests and the outcome of each code exchange."""

    issuer: DevIssuer
    user: str
    authorizations: list[dict[str, str]] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ProviderServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/.well-known/openid-configuration":
            base = self.server.url
            self._json(
                200,
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "end_session_endpoint": f"{base}/logout",
                },
            )
        elif parts.path == "/authorize":
            self._authorize({name: values[0] for name, values in parse_qs(parts.query).items()})
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/token":
            self._json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        self._exchange(form)

    def _authorize(self, query: dict[str, str]) -> None:
        provider = self.server.provider
        with provider.lock:
            provider.authorizations.append(query)
            code = secrets.token_urlsafe(16)
            provider.grants[code] = Grant(
                challenge=query.get("code_challenge", ""),
                method=query.get("code_challenge_method", ""),
                client_id=query.get("client_id", ""),
                redirect_uri=query.get("redirect_uri", ""),
            )
        answer = urlencode({"code": code, "state": query.get("state", "")})
        self.send_response(302)
        self.send_header("Location", f"{query.get('redirect_uri', '')}?{answer}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _exchange(self, form: dict[str, str]) -> None:
        provider = self.server.provider
        with provider.lock:
            grant = provider.grants.pop(form.get("code", ""), None)  # a code works once
        verifier = form.get("code_verifier", "")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        checks = {
            "grant_type": form.get("grant_type") == "authorization_code",
            "code": grant is not None,
            "S256": grant is not None and grant.method == "S256",
            "verifier": grant is not None and computed == grant.challenge,
            "client": grant is not None and form.get("client_id") == grant.client_id == CLIENT_ID,
            "redirect_uri": grant is not None and form.get("redirect_uri") == grant.redirect_uri,
        }
        failed = [name for name, passed in checks.items() if not passed]
        provider.exchanges.append("ok" if not failed else "refused: " + ", ".join(failed))
        if failed:
            self._json(400, {"error": "invalid_grant"})
            return
        token = provider.issuer.sign(provider.issuer.claims(provider.user))
        self._json(
            200, {"id_token": token, "access_token": token, "token_type": "Bearer", "expires_in": 3600}
        )

    def _json(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # Browsers call discovery and the token endpoint from the gallery's origin.
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

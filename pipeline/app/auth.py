"""Logins, sessions and CSRF protection for the review app.

* Passwords are checked by :meth:`pipeline.labels.LabelStore.authenticate`
  (argon2id hashes).
* A session is a cookie signed with itsdangerous that carries the user name,
  a CSRF token and a nonce; it expires ``session_hours`` after login and a
  logout revokes its nonce. Cookies are HttpOnly and SameSite=Lax (Secure
  when the app is served over HTTPS).
* :class:`AuthMiddleware` lets nothing but the login page, static files and
  the health check through without a session: pages redirect to the login
  page, other requests get 401. In local mode every request is the local
  user's and a session is issued on first contact.
* Every state-changing request must carry the session's CSRF token, in the
  ``csrf_token`` form field or the ``X-CSRF-Token`` header
  (:func:`require_csrf`); the login form uses a signed pre-login token.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse

__all__ = [
    "Session",
    "SessionManager",
    "AuthMiddleware",
    "require_csrf",
    "LoginThrottle",
    "SESSION_COOKIE",
    "LOGIN_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
]

SESSION_COOKIE = "wellled_session"
LOGIN_COOKIE = "wellled_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = {"/login", "/healthz", "/favicon.ico"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in user."""

    user: str
    csrf: str
    nonce: str
    issued: float


class SessionManager:
    """Issues, reads and revokes signed session cookies.

    Args:
        secret: the signing key.
        max_age: seconds a session lasts after login.
        secure: set the cookies' Secure flag.
    """

    def __init__(self, secret: str, max_age: float, *, secure: bool = False) -> None:
        self.max_age = int(max_age)
        self.secure = secure
        self._sessions = URLSafeTimedSerializer(secret, salt="wellled.session.v1")
        self._login = URLSafeTimedSerializer(secret, salt="wellled.login.v1")
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, user: str) -> tuple[Session, str]:
        """A new session for ``user`` and its cookie value."""
        session = Session(user, secrets.token_urlsafe(32), secrets.token_urlsafe(16), time.time())
        value = self._sessions.dumps({"u": session.user, "c": session.csrf, "n": session.nonce})
        return session, value

    def read(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None when missing, forged, expired or revoked."""
        if not value:
            return None
        try:
            data, signed_at = self._sessions.loads(value, max_age=self.max_age, return_timestamp=True)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("u", "c", "n")):
            return None
        with self._lock:
            if data["n"] in self._revoked:
                return None
        return Session(data["u"], data["c"], data["n"], signed_at.timestamp())

    def revoke(self, session: Session) -> None:
        """End a session before it expires (logout)."""
        now = time.time()
        with self._lock:
            self._revoked = {n: t for n, t in self._revoked.items() if t > now}
            self._revoked[session.nonce] = session.issued + self.max_age

    def login_token(self) -> tuple[str, str]:
        """A CSRF token for the login form and the signed cookie that vouches for it."""
        token = secrets.token_urlsafe(24)
        return token, self._login.dumps(token)

    def check_login_token(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        try:
            expected = self._login.loads(cookie, max_age=3600)
        except (BadSignature, SignatureExpired):
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, token)

    def cookie(self, name: str, value: str, *, max_age: int | None = None) -> str:
        """A Set-Cookie header value (HttpOnly, SameSite=Lax, Path=/)."""
        c: SimpleCookie = SimpleCookie()
        c[name] = value
        c[name]["path"] = "/"
        c[name]["httponly"] = True
        c[name]["samesite"] = "Lax"
        c[name]["max-age"] = str(self.max_age if max_age is None else max_age)
        if self.secure:
            c[name]["secure"] = True
        return c[name].OutputString()


class LoginThrottle:
    """Refuse logins for a name after too many failures in a short time."""

    def __init__(self, failures: int = 5, window: float = 300.0) -> None:
        self.failures = failures
        self.window = window
        self._seen: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: str) -> bool:
        now = time.time()
        with self._lock:
            recent = [t for t in self._seen.get(key, []) if now - t < self.window]
            self._seen[key] = recent
            return len(recent) >= self.failures

    def failed(self, key: str) -> None:
        with self._lock:
            self._seen.setdefault(key, []).append(time.time())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class AuthMiddleware:
    """ASGI middleware: a session or the login page; security headers on every response.

    Args:
        app: the ASGI app.
        sessions: the session manager.
        local_user: in local mode, the user every request acts as (no login).
    """

    def __init__(self, app: Any, sessions: SessionManager, local_user: str | None = None) -> None:
        self.app = app
        self.sessions = sessions
        self.local_user = local_user

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        extra: list[tuple[bytes, bytes]] = list(SECURITY_HEADERS)
        if session is None and self.local_user:
            session, value = self.sessions.issue(self.local_user)
            extra.append((b"set-cookie", self.sessions.cookie(SESSION_COOKIE, value).encode("latin-1")))
        scope.setdefault("state", {})["session"] = session

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k == b"set-cookie" or k not in present)
                message = {**message, "headers": headers}
            await send(message)

        if session is None and not _public(scope["path"]):
            accept = request.headers.get("accept", "")
            if request.method in SAFE_METHODS and "application/json" not in accept:
                target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"]
                                          else "")
                response: Any = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            else:
                response = JSONResponse({"detail": "log in first"}, status_code=401)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


async def require_csrf(request: Request) -> None:
    """FastAPI dependency: a state-changing request must carry the session's CSRF token.

    Also refuses requests whose ``Origin`` names another site.
    """
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise HTTPException(status_code=403, detail="cross-site request refused")
    session: Session | None = getattr(request.state, "session", None)
    token = request.headers.get(CSRF_HEADER)
    if not token:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    if session is None or not token or not hmac.compare_digest(token, session.csrf):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token: reload the page and try again")

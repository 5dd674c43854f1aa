"""Small pieces shared by the app's ASGI middlewares (no Gradio in them)."""
from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable, Iterable

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def is_post_to(scope: Scope, suffix: str) -> bool:
    return scope.get("type") == "http" and scope.get("method") == "POST" and str(scope.get("path", "")).rstrip("/").endswith(suffix)


def client_address(scope: Scope) -> str:
    return str((scope.get("client") or ("unknown",))[0])


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def logged_in_user(scope: Scope) -> str | None:
    """The user behind a request's Gradio session cookie, when the app has logins (else None).

    Gradio keeps its session tokens on the app object (`tokens`, cookie `access-token-<id>`);
    an unknown or missing token is no user.
    """
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    raw = header(scope, b"cookie")
    if not tokens or cookie_id is None or not raw:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(raw)
    except Exception:  # a malformed cookie header is no session
        return None
    for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        if name in cookies and cookies[name].value in tokens:
            return str(tokens[cookies[name].value])
    return None


async def call_for_status(app: Any, scope: Scope, receive: Receive, send: Send) -> int:
    """Run the wrapped app and return the status it answered with (500 if it never started one)."""
    status: dict[str, int] = {}

    async def capture(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status["code"] = int(message["status"])
        await send(message)

    await app(scope, receive, capture)
    return status.get("code", 500)


async def reply(send: Send, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = (), plain: bool = False) -> None:
    """A JSON `{"detail": ...}` answer, the shape FastAPI gives its own errors, or `plain` text
    (what Gradio's upload route answers, and its front end shows as it is)."""
    body = detail.encode() if plain else json.dumps({"detail": detail}).encode()
    kind = b"text/plain; charset=utf-8" if plain else b"application/json"
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind), *headers]})
    await send({"type": "http.response.body", "body": body})

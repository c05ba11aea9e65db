"""The web server's settings, from the environment or `.env` (see `.env.example`)."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.config import env, rasa_url

DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origins(value: str) -> frozenset[str]:
    """"https://a.example, https://b.example:8443/" -> {scheme://host[:port]}, written the way
    browsers send the Origin header (lower case, no default port, no path)."""
    origins = set()
    for item in value.split(","):
        parts = urlsplit(item.strip())
        if parts.scheme in DEFAULT_PORTS and parts.hostname:
            host = parts.netloc.lower().rsplit("@", 1)[-1]
            host = host.removesuffix(f":{DEFAULT_PORTS[parts.scheme]}")
            origins.add(f"{parts.scheme}://{host}")
        elif item.strip():
            raise ValueError(f"ALLOWED_ORIGINS: {item.strip()!r} is not an origin like https://host")
    return frozenset(origins)


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    rasa_url: str
    rasa_timeout: float
    allowed_origins: frozenset[str]


def web_settings() -> WebSettings:
    return WebSettings(
        host=env("WEB_HOST"),
        port=int(env("WEB_PORT")),
        rasa_url=rasa_url(),
        rasa_timeout=float(env("RASA_TIMEOUT_SECONDS")),
        allowed_origins=parse_origins(env("ALLOWED_ORIGINS")),
    )

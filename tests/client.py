"""A small client for the bot's REST channel and Rasa's HTTP API (tests, vignettes, bench)."""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

import requests


class BotClient:
    def __init__(self, rasa_url: str, token: str, timeout: float = 60) -> None:
        self.rasa_url, self.token, self.timeout = rasa_url, token, timeout
        self.http = requests.Session()

    def say(self, sender: str, text: str) -> list[dict]:
        response = self.http.post(f"{self.rasa_url}/webhooks/rest/webhook",
                                  json={"sender": sender, "message": text}, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def tracker(self, sender: str, events: str = "ALL") -> dict:
        response = self.http.get(f"{self.rasa_url}/conversations/{sender}/tracker",
                                 params={"token": self.token, "include_events": events},
                                 timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def slots(self, sender: str) -> dict:
        return self.tracker(sender, events="NONE")["slots"]


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def raw_head(url: str, request: bytes) -> bytes:
    """The status line and headers of the answer to bytes sent as they are (for requests no
    HTTP client would send)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    return received.split(b"\r\n\r\n")[0]

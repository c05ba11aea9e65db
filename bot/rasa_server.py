"""`python -m bot.rasa_server ARGS...` is `rasa ARGS... --auth-token $RASA_TOKEN`, with the token
read from the environment so that it never shows in `ps` (any user on the machine can read a
process's command line). It also bounds Sanic's request size (MAX_REQUEST_BYTES): the
channels refuse long messages politely, this refuses huge bodies before anything reads them.
It applies bot.rasa_patches before Rasa starts, which also checks the installed Rasa version.
"""
from __future__ import annotations

import os
import sys

from bot.config import env


def rasa_arguments(args: list[str], token: str) -> list[str]:
    if "--auth-token" in args:
        raise SystemExit("error: pass the Rasa token in RASA_TOKEN, not on the command line")
    return ["rasa", *args, "--auth-token", token] if "--enable-api" in args else ["rasa", *args]


def main() -> None:
    token = env("RASA_TOKEN")
    args = sys.argv[1:]
    if "--enable-api" in args and not token:
        raise SystemExit("error: RASA_TOKEN is empty; the HTTP API is never started without a token.")
    # Sanic reads SANIC_* variables into its config when Rasa creates the app.
    os.environ["SANIC_REQUEST_MAX_SIZE"] = env("MAX_REQUEST_BYTES")
    sys.argv = rasa_arguments(args, token)
    from rasa.__main__ import main as rasa_main

    from bot import rasa_patches  # here, not at the top: it imports Rasa

    rasa_patches.apply()  # before Rasa runs anything (the plug-ins apply them too)
    rasa_main()


if __name__ == "__main__":
    main()

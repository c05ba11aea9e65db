"""The patient web chat: a small aiohttp server for the widget and its proxy to Rasa.

`python -m bot.web` serves the standalone page (`/`), the embeddable widget
(`/widget.js`, `/widget.css`), `/api/config` and `/api/chat`, a same-origin
proxy to our Rasa REST channel.
"""

"""Tests that start real servers (Rasa, the action server, the console, PostgreSQL, Redis, nginx, SMTP, Chromium) and stop them."""

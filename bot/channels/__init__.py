"""Rasa input channels (loaded by Rasa from credentials.yml)."""

"""Local stand-ins for what the bot talks to, for tests and benchmarks: a real SMTP server
and webhook receiver (`mail`), a Rasa that answers at once (`rasa`)."""

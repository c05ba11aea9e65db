"""The staff console: log in, review conversations by urgency, audit trail.

`python -m bot.console` serves it (CONSOLE_PORT, default 8001); `python -m
bot.console.cli create-user --role clinician|admin NAME` makes accounts.
"""

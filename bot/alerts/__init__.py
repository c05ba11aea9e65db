"""Closing the loop with the care team.

- Alerts (`triggers`): advice at or above the channel's threshold tells the team once per
  conversation and level, by email (`mail`) and/or webhook (`webhook`: plain, Teams, Slack),
  routed by the opening hours (`routing`), through an outbox with claims, retries and a
  final state (`outbox`); acknowledged through `staff.acknowledge`.
- Patients who go quiet (`quiet`): "no reply: call the patient" and "incomplete", with one
  reminder text over SMS (`reminders`).
- The daily digest (`digest`), with the console's 30-day chart as a PNG (`png`).

`job.run_once(now)` does one pass of it all; `python -m bot.alerts` is the command line.
"""

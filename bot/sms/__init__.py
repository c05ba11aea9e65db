"""SMS follow-up after discharge.

- `discharges`: discharge records (E.164 phone, procedure, date and time, child or not), made
  by the CLI (`python -m bot.sms.cli`), the worker's JSON API and the staff console.
- `schedule`: when to text (follow-up times, quiet hours, send windows), pure functions.
- `followups`: the schedule in the database: claim due rows, start them in Rasa, record
  every outcome (sent, skipped, failed).
- `outbox`: every text we send, queued in the database and delivered exactly once through
  Twilio (`twilio_client`), with retries and back-off.
- `channel`: our Rasa input channel for Twilio's webhook (signature checked, replays
  dropped, keywords, unknown numbers), `inbound` its database side, `texts` SMS wording.
- `worker`: the process `make run` starts (`python -m bot.sms.worker`): dispatcher loop +
  the discharge API (`api`).
"""

# Sourced by the Makefile's recipes: every setting (the environment, else .env, else its
# default in bot/config.py DEFAULTS) exported, as bot.config reads them. On first use .env
# is created from .env.example with a random RASA_TOKEN.
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
if [ ! -f .env ]; then
  token=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' 2>/dev/null || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  sed "s/^RASA_TOKEN=$/RASA_TOKEN=$token/" .env.example > .env
  echo "Created .env from .env.example (with a random RASA_TOKEN)." >&2
fi
exports=$(.venv/bin/python -m bot.config) || { echo "error: could not read the settings (see above)" >&2; return 1 2>/dev/null || exit 1; }
eval "$exports"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
if [ -z "${RASA_TOKEN:-}" ]; then
  echo "error: RASA_TOKEN is empty; set it in .env (the HTTP API is never started without it)." >&2
  return 1 2>/dev/null || exit 1
fi

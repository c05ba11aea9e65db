# Sourced by the Makefile's recipes: settings from .env (created from .env.example
# with a random RASA_TOKEN on first use), then defaults for anything unset.
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
if [ ! -f .env ]; then
  token=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' 2>/dev/null || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  sed "s/^RASA_TOKEN=$/RASA_TOKEN=$token/" .env.example > .env
  echo "Created .env from .env.example (with a random RASA_TOKEN)." >&2
fi
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  key=${line%%=*}; value=${line#*=}
  [ -z "${!key+x}" ] && export "$key=$value"   # the environment wins over .env
done < .env
export RASA_PORT=${RASA_PORT:-5005} ACTION_PORT=${ACTION_PORT:-5055}
export ACTION_ENDPOINT_URL=${ACTION_ENDPOINT_URL:-http://localhost:${ACTION_PORT}/webhook}
export DATABASE_URL=${DATABASE_URL:-sqlite:///var/triage.db}
export WEB_PORT=${WEB_PORT:-8000} RASA_URL=${RASA_URL:-http://127.0.0.1:${RASA_PORT}}
# The secret Rasa sends the action server (endpoints.yml): one per run unless .env sets one.
export ACTION_SERVER_TOKEN=${ACTION_SERVER_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
if [ -z "${RASA_TOKEN:-}" ]; then
  echo "error: RASA_TOKEN is empty; set it in .env (the HTTP API is never started without a token)." >&2
  return 1 2>/dev/null || exit 1
fi
# --- Staff console: python -m bot.console, started by make run ---
export CONSOLE_PORT=${CONSOLE_PORT:-8001}
# --- SMS follow-up: python -m bot.sms.worker (discharge API), started by make run ---
export SMS_API_PORT=${SMS_API_PORT:-5006}

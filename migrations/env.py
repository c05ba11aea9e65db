"""Alembic environment: our metadata, the URL from bot.config (DATABASE_URL)."""
from logging.config import fileConfig

from alembic import context

import bot.alerts.models  # noqa: F401  (registers the alert tables on Base)
import bot.console.models  # noqa: F401  (registers the console tables on Base)
import bot.sms.models  # noqa: F401  (registers the SMS tables on Base)
from bot.storage.db import engine
from bot.storage.models import Base

if context.config.config_file_name:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

OUR_TABLES = set(Base.metadata.tables)


def include_object(obj, name, type_, reflected, compare_to):
    # Rasa's tables live in the same database; autogenerate must leave them alone.
    return not (type_ == "table" and name not in OUR_TABLES)


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or None
    with engine(url).connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          include_object=include_object, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()

"""Storage: our SQLAlchemy models and the Rasa tracker store on the same database."""

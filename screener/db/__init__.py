"""Database adapter: models, engine, migrations and repositories."""

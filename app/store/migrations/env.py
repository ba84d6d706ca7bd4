"""Alembic environment of the transcript store.

The store runs ``upgrade head`` itself when it opens (:func:`app.store.engine.migrate`), handing
this script its connection in ``config.attributes["connection"]``. To write a new revision after a
change to ``app/store/models.py``::

    from alembic import command
    from app.store.engine import alembic_config
    command.revision(alembic_config("sqlite:///scratch.db"), message="what changed", autogenerate=True)

(against a database at the current head; review the generated file before committing it).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from app.store.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    # alembic's own commands (revision --autogenerate): a sync URL in sqlalchemy.url
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


_main()

"""The ``serve_url`` fixture this suite uses lives in ``tests/conftest.py`` and the app it starts in
``tests/serve_app.py`` (API keys, JWT secret, app args): one Ray + Serve per pytest run, shared with
``tests/browser``."""

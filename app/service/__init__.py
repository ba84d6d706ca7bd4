"""The WebSocket/HTTP service around the session core: a Starlette app that reaches
session hosts through a :class:`~app.service.ports.Directory` port. It imports no
Ray: ``deployments/`` supplies a Ray-backed directory, tests an in-process one."""

"""Errors of the model adapters.

These are operator errors (a model that is missing, a backend that is not
installed, a model that fails to load): they stop a deployment from starting and
are logged, never sent to a client as is. A request-level problem a client can
fix (an unsupported language) is raised as :class:`app.errors.ConfigError`.

::

    EngineError                 a model or backend cannot be used
    ├── ModelNotFoundError      a path-like model name that does not exist
    └── BackendMissingError     the library behind an engine is not installed
"""

from __future__ import annotations


class EngineError(RuntimeError):
    """A model or its backend cannot be used."""


class ModelNotFoundError(EngineError, FileNotFoundError):
    """A model name that looks like a path, but no model folder is there."""


class BackendMissingError(EngineError, ImportError):
    """The library an engine wraps is not installed."""

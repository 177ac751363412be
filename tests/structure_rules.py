"""Import rules of the folder tree, checked on the source with `ast` (nothing is imported).

The layout (issue 15) only shows the architecture if the imports follow it:

* no import cycle among the project's modules;
* a stage package (`quilt.stages.<stage>`) imports no other stage package, only its own
  modules, `quilt.stages.common`, `quilt.core`, `quilt.adapters`, `quilt.data` and
  third-party code; `quilt.stages.common` imports no stage package; `quilt.core` imports
  nothing from quilt outside `quilt.core`;
* nothing in `quilt/`, `services/` or `training/` imports `tests`;
* stage code does not read the environment (`os.environ`, `os.getenv`, ...) nor import
  `quilt.adapters.config`; `training` does not import `quilt.cli`;
* a service, and `quilt process` (quilt.pipeline), import a stage only through its entry point:
  `from quilt.stages.<stage> import <name>`, where `<name>` is exported by the package's
  `__init__` (`quilt.stages.common` is shared helpers, not a stage, and is not held to this).

Every check returns a list of `Violation`s; an empty list means the rule holds. Only static
`import` statements are seen: `importlib.import_module("...")` with a computed name (the
histology scorer's `module:factory` plug-ins) is invisible here, on purpose.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

STAGES = ("fetch", "decode", "asr", "denoise", "histo", "align")
ROOTS = ("quilt", "services", "training")
# What a stage package may import from quilt besides its own package.
STAGE_ALLOWED = ("quilt.stages.common", "quilt.core", "quilt.adapters", "quilt.data")
ENV_FUNCTIONS = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


@dataclass(frozen=True)
class Module:
    """One source file: its dotted name, path and parsed tree."""

    name: str
    path: Path
    is_package: bool
    tree: ast.Module

    @property
    def package(self) -> str:
        """The package a relative import of this module starts from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class ImportRef:
    """One `import` or `from ... import` statement, resolved to the module it loads."""

    importer: str
    target: str  # the module loaded: `from pkg import submodule` resolves to the submodule
    names: tuple[str, ...]  # the names taken by `from X import a, b`; empty for `import X`
    from_module: str | None  # absolute X of `from X import ...`; None for `import X`
    line: int
    text: str
    type_only: bool  # under `if TYPE_CHECKING:`

    def where(self) -> str:
        return f"{self.importer}:{self.line} `{self.text}`"


@dataclass(frozen=True)
class Violation:
    """A broken rule, worded for a test failure."""

    rule: str
    module: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.module}: {self.detail}"


class Project:
    """The parsed source of the given top-level packages under one root folder."""

    def __init__(self, root: Path, roots: Iterable[str] = ROOTS) -> None:
        self.root = root
        self.modules: dict[str, Module] = {}
        for top in roots:
            for path in sorted((root / top).rglob("*.py")):
                if "__pycache__" in path.parts:
                    continue
                parts = list(path.relative_to(root).with_suffix("").parts)
                is_package = parts[-1] == "__init__"
                if is_package:
                    parts.pop()
                name = ".".join(parts)
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
                self.modules[name] = Module(name, path, is_package, tree)
        self.imports: dict[str, list[ImportRef]] = {
            name: list(_imports_of(module, self.modules)) for name, module in self.modules.items()
        }

    def under(self, prefix: str) -> list[Module]:
        """The modules in package `prefix` (itself included), by name."""
        return [m for name, m in sorted(self.modules.items()) if _within(name, prefix)]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below `node`, each with whether it sits under `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child, type_only
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_only
                yield from _walk(stmt, type_only)
            continue
        yield child, type_only
        yield from _walk(child, type_only)


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports_of(module: Module, known: dict[str, Module]) -> Iterator[ImportRef]:
    for node, type_only in _walk(module.tree):
        text = ast.unparse(node) if isinstance(node, ast.Import | ast.ImportFrom) else ""
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportRef(module.name, alias.name, (), None, node.lineno, text, type_only)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            names = tuple(alias.name for alias in node.names)
            # `from pkg import sub` loads pkg.sub when sub is a module; other names come from pkg.
            subs = [f"{source}.{n}" for n in names if f"{source}.{n}" in known]
            plain = [n for n in names if f"{source}.{n}" not in known]
            for target in subs:
                yield ImportRef(module.name, target, names, source, node.lineno, text, type_only)
            if plain or not subs:
                yield ImportRef(module.name, source, names, source, node.lineno, text, type_only)


# --- a. cycles ---------------------------------------------------------------------------


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(project: Project) -> dict[str, dict[str, ImportRef]]:
    """Module -> the project modules it loads at run time, each with the import that does it.

    Importing `a.b.c` also runs `a/__init__` and `a/b/__init__`, so an edge goes to each of
    those too, except to the importer's own ancestor packages: they are already being
    imported before the importer's first line runs, so loading one of them again
    (`from . import sibling` inside a package whose `__init__` imports this module) is not a
    new dependency and cannot fail. Importing a name from an ancestor package itself
    (`from quilt.stages.decode import decode_lecture` inside `quilt.stages.decode.dedup`) still
    is an edge: it needs that `__init__` to have run far enough.
    """
    graph: dict[str, dict[str, ImportRef]] = {name: {} for name in project.modules}
    for name, refs in project.imports.items():
        own = set(_ancestors(name))
        for ref in refs:
            if ref.type_only:
                continue
            loaded = [a for a in _ancestors(ref.target) if a not in own] + [ref.target]
            for target in loaded:
                if target in project.modules and target != name:
                    graph[name].setdefault(target, ref)
    return graph


def _components(graph: dict[str, dict[str, ImportRef]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                found.append(sorted(members))
    return found


def _shortest_cycle(graph: dict[str, dict[str, ImportRef]], members: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, as [m0, m1, ..., m0]."""
    start = min(members)
    previous: dict[str, str] = {start: start}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target in members and target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return [start]


def find_cycles(project: Project, prefix: str = "quilt") -> list[list[str]]:
    """Each import cycle among the modules of `prefix`, as a list of modules [m0, ..., m0]."""
    graph = import_graph(project)
    cycles = []
    for component in _components(graph):
        members = {m for m in component if _within(m, prefix)}
        if len(members) > 1:
            cycles.append(_shortest_cycle(graph, members))
    return cycles


def check_cycles(project: Project, prefix: str = "quilt") -> list[Violation]:
    graph = import_graph(project)
    found = []
    for cycle in find_cycles(project, prefix):
        steps = "; ".join(graph[a][b].where() for a, b in zip(cycle, cycle[1:], strict=False))
        found.append(Violation("no-cycle", cycle[0], f"cycle {' -> '.join(cycle)} ({steps})"))
    return found


# --- b. layers ---------------------------------------------------------------------------


def _stage_of(name: str) -> str | None:
    for stage in STAGES:
        if _within(name, f"quilt.stages.{stage}"):
            return stage
    return None


def check_layers(project: Project) -> list[Violation]:
    """Stage packages, `quilt.stages.common` and `quilt.core` import only what lies below them."""
    found = []
    for name, refs in sorted(project.imports.items()):
        own_stage = _stage_of(name)
        for ref in refs:
            target = ref.target
            if not _within(target, "quilt") or target == "quilt":
                continue
            if own_stage is not None:
                allowed = (f"quilt.stages.{own_stage}", *STAGE_ALLOWED)
                if not any(_within(target, a) for a in allowed):
                    found.append(Violation("stage-imports", name, f"imports {target}: {ref.where()}"))
            elif _within(name, "quilt.stages.common") and _stage_of(target) is not None:
                found.append(Violation("common-imports", name, f"imports stage {target}: {ref.where()}"))
            elif _within(name, "quilt.core") and not _within(target, "quilt.core"):
                found.append(Violation("core-imports", name, f"imports {target}: {ref.where()}"))
    return found


# --- c. tests ----------------------------------------------------------------------------


def check_no_tests_import(project: Project) -> list[Violation]:
    return [Violation("no-tests-import", name, ref.where())
            for name, refs in sorted(project.imports.items()) for ref in refs if _within(ref.target, "tests")]


# --- d. environment and configuration -----------------------------------------------------


def _env_reads(module: Module) -> Iterator[str]:
    os_names = {"os"}  # `import os as _os` binds another name to the module
    for node, _ in _walk(module.tree):
        if isinstance(node, ast.Import):
            os_names.update(a.asname or a.name for a in node.names if a.name == "os")
    for node, _ in _walk(module.tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "os":
            for alias in node.names:
                if alias.name in ENV_FUNCTIONS:
                    yield f"line {node.lineno} `{ast.unparse(node)}`"
        elif (isinstance(node, ast.Attribute) and node.attr in ENV_FUNCTIONS
              and isinstance(node.value, ast.Name) and node.value.id in os_names):
            yield f"line {node.lineno} `{ast.unparse(node)}`"


def check_stage_environment(project: Project) -> list[Violation]:
    """Stage code gets its settings from the caller: no environment, no `quilt.adapters.config`."""
    found = []
    for module in project.under("quilt.stages"):
        found += [Violation("stage-env", module.name, f"reads the environment: {r}") for r in _env_reads(module)]
        found += [Violation("stage-env", module.name, f"imports the settings: {ref.where()}")
                  for ref in project.imports[module.name] if _within(ref.target, "quilt.adapters.config")]
    return found


def check_training_cli(project: Project) -> list[Violation]:
    """Training is a library user of quilt, not of its command line."""
    return [Violation("training-cli", module.name, f"imports the CLI: {ref.where()}")
            for module in project.under("training")
            for ref in project.imports[module.name] if _within(ref.target, "quilt.cli")]


# --- e. services use entry points ---------------------------------------------------------


def exported_names(module: Module) -> set[str]:
    """`__all__` when the module lists one, else every public top-level name it binds."""
    names: set[str] = set()
    for stmt in module.tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets):
            if isinstance(stmt.value, ast.List | ast.Tuple):
                return {e.value for e in stmt.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return {n for n in names if not n.startswith("_")}


PIPELINE = "quilt.pipeline"


def check_service_entry_points(project: Project) -> list[Violation]:
    found: list[Violation] = []
    # The services and `quilt process` (quilt.pipeline) are the two callers of the stages: both go through
    # the entry points, so the one-shot path cannot compose a stage differently from its service.
    callers = [m for m in project.under("services") if m.name.count(".") == 1 or m.name == "services"]
    callers += [m for m in (project.modules.get(PIPELINE),) if m is not None]
    for module in callers:
        for ref in project.imports[module.name]:
            stage = _stage_of(ref.target)
            if stage is None:
                continue
            package = f"quilt.stages.{stage}"
            init = project.modules.get(package)
            exports = exported_names(init) if init else set()
            wrong = [n for n in ref.names if n == "*" or n not in exports or f"{package}.{n}" in project.modules]
            if ref.from_module != package or wrong:
                why = f"names not exported by {package}: {', '.join(wrong)}" if ref.from_module == package else (
                    f"reaches into {ref.target}")
                violation = Violation("service-entry-point", module.name, f"{why}: {ref.where()}")
                if violation not in found:  # `from pkg import sub, name` yields two refs
                    found.append(violation)
    return found


def check_all(project: Project) -> list[Violation]:
    """Every rule at once (used by the checker's own test)."""
    return (check_cycles(project) + check_layers(project) + check_no_tests_import(project)
            + check_stage_environment(project) + check_training_cli(project) + check_service_entry_points(project))

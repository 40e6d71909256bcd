"""Lazy registries of tasks and adapters.

Built-in entries are listed as ``"module:attribute"`` strings and imported on first use; other
packages add entries through the entry-point groups ``mmharness.tasks`` and ``mmharness.adapters``
(the entry point's name is the registry name, its value the class). Code imported with
``--include`` can also register with the ``@register_task`` / ``@register_adapter`` decorators.
Unknown names fail with a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or conflicting name in a registry."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def did_you_mean(name: str, known: list[str]) -> str:
    """`` Did you mean 'x'?`` for the closest known names, or an empty string."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if not close:
        close = [k for k in known if name.lower() in k.lower() or k.lower() in name.lower()][:3]
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


class Registry(Generic[T]):
    """Name -> class, filled lazily: decorators in the modules of ``packages`` (imported on first
    lookup) and entry points of ``group`` (listed without importing, imported on first use)."""

    def __init__(self, kind: str, group: str, packages: tuple[str, ...] = ()):
        self.kind = kind
        self.group = group
        self._refs: dict[str, str] = {}  # entry point name -> "module:attr" (not yet imported)
        self._loaded: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._packages = packages  # every public module in them registers with decorators
        self._packages_scanned = not packages
        self._entry_points_scanned = False

    def _scan_packages(self) -> None:
        """Import every public module of the built-in packages (they register by decorator).

        Built-in task and adapter modules import only light dependencies at module level (heavy
        ones, such as open_clip or transformers, inside methods), so this stays cheap.
        """
        if self._packages_scanned:
            return
        self._packages_scanned = True
        import pkgutil

        for pkg_name in self._packages:
            pkg = importlib.import_module(pkg_name)
            for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
                if info.name.startswith("_"):
                    continue
                mod = f"{pkg_name}.{info.name}"
                try:
                    importlib.import_module(mod)
                except ImportError as e:
                    raise RegistryError(f"built-in {self.kind} module {mod} could not be imported: {e}") from e

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: ``@registry.register("name")``."""

        def deco(obj: T) -> T:
            existing = self._loaded.get(name)
            if existing is not None and existing is not obj and _qualname(existing) != _qualname(obj):
                raise RegistryError(f"{self.kind} {name!r} is already registered by {_qualname(existing)}")
            obj.name = name  # type: ignore[attr-defined]
            self._loaded[name] = obj
            mod = getattr(obj, "__module__", "?")
            self._origin.setdefault(name, "builtin" if mod.startswith("mmharness.") else mod)
            return obj

        return deco

    def _scan_entry_points(self) -> None:
        if self._entry_points_scanned:
            return
        self._entry_points_scanned = True
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self._refs or ep.name in self._loaded:
                continue  # built-ins win; a plugin cannot silently replace them
            self._refs[ep.name] = ep.value
            dist = getattr(ep, "dist", None)
            self._origin[ep.name] = f"entry point ({dist.name if dist else ep.value})"

    def names(self) -> list[str]:
        self._scan_packages()
        self._scan_entry_points()
        return sorted(set(self._refs) | set(self._loaded))

    def origin(self, name: str) -> str:
        return self._origin.get(name, "?")

    def get(self, name: str) -> T:
        """The class registered under ``name``; imports it on first use."""
        if name in self._loaded:
            return self._loaded[name]
        self._scan_packages()
        if name in self._loaded:
            return self._loaded[name]
        self._scan_entry_points()
        if name not in self._refs:
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, self.names())} "
                f"Run `mmh {self.kind}s` to list them."
            )
        module, _, attr = self._refs[name].partition(":")
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise RegistryError(f"{self.kind} {name!r} could not be imported from {module}: {e}") from e
        if name in self._loaded:  # the module registered it with the decorator
            return self._loaded[name]
        obj = getattr(mod, attr) if attr else None
        if obj is None:
            raise RegistryError(f"{self.kind} {name!r}: {self._refs[name]} did not define it")
        obj.name = name
        self._loaded[name] = obj
        return obj


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


# Built-ins: every public module of mmharness.tasks / mmharness.adapters registers its classes with
# the decorators below (one module per benchmark family or model library; no central list to edit).
# Other packages add entries through the entry-point groups.
TASKS: Registry = Registry("task", "mmharness.tasks", packages=("mmharness.tasks",))
ADAPTERS: Registry = Registry("adapter", "mmharness.adapters", packages=("mmharness.adapters",))

# Task groups: a name that expands to several tasks (modules add theirs with register_group).
TASK_GROUPS: dict[str, tuple[str, ...]] = {}


def register_task(name: str):
    """Decorator registering a :class:`~mmharness.task.Task` subclass under ``name``."""
    return TASKS.register(name)


def register_adapter(name: str):
    """Decorator registering an :class:`~mmharness.adapter.Adapter` subclass under ``name``."""
    return ADAPTERS.register(name)


def register_group(name: str, tasks: tuple[str, ...]) -> None:
    """Register a task group (``--tasks name`` runs all of ``tasks``)."""
    if name in TASK_GROUPS and TASK_GROUPS[name] != tuple(tasks):
        raise RegistryError(f"task group {name!r} is already registered")
    TASK_GROUPS[name] = tuple(tasks)


def expand_task_names(spec: str | list[str]) -> list[str]:
    """``"a,b,group"`` -> task names (groups expanded, order kept, duplicates dropped); validated."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    TASKS.names()  # make sure built-in modules (and their groups) are registered
    for item in (i.strip() for i in items):
        if not item:
            continue
        names = TASK_GROUPS.get(item, (item,))
        for n in names:
            TASKS.get(n)  # raises with a suggestion when unknown
            if n not in out:
                out.append(n)
    if not out:
        raise RegistryError("no task given; run `mmh tasks` to list them")
    return out


def include(target: str) -> None:
    """Import a module (dotted name) or a Python file so that its decorators register things."""
    path = Path(target)
    if target.endswith(".py") or path.exists():
        if not path.is_file():
            raise RegistryError(f"--include {target}: no such Python file")
        import hashlib

        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        mod_name = f"mmh_include_{path.stem}_{digest}"  # stable across processes (keys caches)
        if mod_name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        importlib.import_module(target)

"""``mmh adapter new``: write a working adapter package from the templates in ``templates/adapter/``.

The templates are plain text with three placeholders, filled by ``str.replace``:
``{{name}}`` (the registry name, e.g. ``my-clip``), ``{{module}}`` (the import package,
``mmh_adapter_my_clip``) and ``{{class_name}}`` (``MyClipAdapter``).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

# [a-z][a-z0-9_-]*, except that a trailing '-' or '_' is refused: the distribution name
# mmh-adapter-<name> must end in a letter or digit to be installable (PEP 508).
NAME_PATTERN = re.compile(r"[a-z](?:[a-z0-9_-]*[a-z0-9])?")

# template file (in mmharness/templates/adapter/) -> path in the generated package
_FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/{{module}}/__init__.py",
    "adapter.py.tmpl": "src/{{module}}/adapter.py",
    "test_adapter.py.tmpl": "tests/test_adapter.py",
}


class ScaffoldError(ValueError):
    """The adapter package cannot be created as asked (bad name, occupied destination)."""


def adapter_names(name: str) -> dict[str, str]:
    """The placeholder values for adapter ``name``: ``{"name", "module", "class_name"}``.

    Promises: ``module`` is a valid Python package name (``mmh_adapter_`` + ``name`` with ``-``
    turned into ``_``) and ``class_name`` a valid class name (``name``'s ``-``/``_`` separated
    parts capitalised, plus ``Adapter``). Raises :class:`ScaffoldError` saying what is allowed
    when ``name`` does not match ``[a-z][a-z0-9_-]*`` (or ends in ``-``/``_``, which would make the
    distribution name uninstallable) or is the name of a built-in adapter.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid adapter name {name!r}: use a lowercase letter followed by lowercase letters, "
            "digits, '_' or '-', ending in a letter or digit (for example 'my-clip' or 'siglip_b16')"
        )
    from .registry import ADAPTERS

    if ADAPTERS.origin(name) == "builtin":
        raise ScaffoldError(f"adapter name {name!r} is taken by a built-in adapter; choose another name")
    parts = re.split(r"[-_]+", name)  # never empty: the name starts and ends alphanumeric
    return {
        "name": name,
        "module": "mmh_adapter_" + name.replace("-", "_"),
        "class_name": "".join(p[:1].upper() + p[1:] for p in parts) + "Adapter",
    }


def render(text: str, values: dict[str, str]) -> str:
    """``text`` with every ``{{key}}`` of ``values`` replaced; raises if a ``{{...}}`` is left over."""
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    left = re.search(r"\{\{\s*\w+\s*\}\}", text)
    if left:
        raise ScaffoldError(f"template placeholder {left.group(0)} has no value (known: {', '.join(values)})")
    return text


def scaffold_adapter(name: str, dest: Path | None = None) -> Path:
    """Create a working adapter package for ``name`` in ``dest`` and return its absolute path.

    ``dest`` defaults to ``./mmh-adapter-<name>``; it may be missing or an empty directory (an
    existing file or non-empty directory is refused, nothing is overwritten). The package holds
    ``pyproject.toml`` (setuptools, depends on mmharness, entry point
    ``mmharness.adapters: <name> = <module>.adapter:<ClassName>``), ``README.md``,
    ``src/<module>/__init__.py``, ``src/<module>/adapter.py`` (a small deterministic dual encoder
    that passes ``mmh adapter check``, also registering itself when imported by path with
    ``--include``) and ``tests/test_adapter.py``. All templates are rendered before anything is
    written. Raises :class:`ScaffoldError` for a bad name or an occupied destination.
    """
    values = adapter_names(name)
    root = Path(dest) if dest is not None else Path.cwd() / f"mmh-adapter-{name}"
    root = root.expanduser().absolute()
    if root.exists():
        if not root.is_dir():
            raise ScaffoldError(f"{root} exists and is not a directory; choose another --dir")
        if any(root.iterdir()):
            raise ScaffoldError(f"{root} already exists and is not empty; refusing to overwrite it. "
                                "Choose another --dir or remove it first.")
    templates = resources.files("mmharness") / "templates" / "adapter"
    files = {render(target, values): render((templates / src).read_text(encoding="utf-8"), values)
             for src, target in _FILES.items()}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root

"""Every public name of ganbook has its own docstring, and every public module is in the API
reference (book/api.md), which Sphinx autodoc builds from those docstrings."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import ganbook

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "book" / "api.md"
# Modules that are public but documented elsewhere: the command line explains itself through
# `python -m ganbook --help` and the README.
NOT_IN_API_PAGE = {"ganbook.cli", "ganbook.cli_runs"}  # the command line, documented by --help

PUBLIC_MODULES = sorted(
    f"ganbook.{info.name}" for info in pkgutil.iter_modules(ganbook.__path__)
    if not info.name.startswith("_")
)


def _own_doc(obj: object) -> str:
    """The docstring written for `obj` itself (not inherited, not generated)."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    doc = (doc or "").strip()
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc.startswith(
            f"{obj.__name__}("):
        return ""  # the signature @dataclass writes when the class has no docstring
    return doc


def _public_methods(cls: type) -> dict[str, object]:
    """Methods, properties, class and static methods that `cls` itself defines."""
    found = {}
    for name, attr in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            found[name] = attr.__func__
        elif isinstance(attr, property):
            found[name] = attr.fget
        elif inspect.isfunction(attr):
            found[name] = attr
    return found


def _undocumented(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    missing = [] if _own_doc(module) else [f"{module_name} (module docstring)"]
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue  # private, or imported from elsewhere (documented where it is defined)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if not _own_doc(obj):
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj):
            for method_name, method in _public_methods(obj).items():
                if not _own_doc(method):
                    missing.append(f"{module_name}.{name}.{method_name}")
    return missing


def test_modules_are_found():
    assert {"ganbook.losses", "ganbook.models", "ganbook.train"} <= set(PUBLIC_MODULES)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_names_have_docstrings(module_name):
    missing = _undocumented(module_name)
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(missing)


def _api_page_modules() -> list[str]:
    return re.findall(r"^\.\. automodule::\s+(\S+)", API_PAGE.read_text(encoding="utf-8"),
                      flags=re.MULTILINE)


def test_every_public_module_is_in_the_api_reference():
    listed = set(_api_page_modules())
    missing = [name for name in PUBLIC_MODULES if name not in listed | NOT_IN_API_PAGE]
    assert not missing, f"add `.. automodule:: <name>` to {API_PAGE.name} for: {missing}"


def test_the_api_reference_lists_real_modules_once():
    listed = _api_page_modules()
    assert listed, f"{API_PAGE.name} has no automodule directive"
    assert len(listed) == len(set(listed)), f"a module is listed twice in {API_PAGE.name}"
    unknown = sorted(set(listed) - set(PUBLIC_MODULES))
    assert not unknown, f"{API_PAGE.name} documents modules that do not exist: {unknown}"
    assert not set(listed) & NOT_IN_API_PAGE


def test_the_check_sees_a_missing_docstring():
    class Documented:
        """A class."""

        def method(self):
            pass

        @property
        def value(self):
            """A property."""
            return 1

    @dataclasses.dataclass
    class Bare:
        x: int

    assert not _own_doc(Bare)
    assert _own_doc(Documented) == "A class."
    methods = _public_methods(Documented)
    assert set(methods) == {"method", "value"}
    assert not _own_doc(methods["method"]) and _own_doc(methods["value"])


def test_hand_written_signatures_on_the_api_page_name_every_field():
    """The API page spells out the signatures of dataclasses with factory defaults (autodoc would
    show `<factory>`); they must name the dataclass's fields, in order, or they have drifted."""
    import dataclasses
    import importlib
    import re

    found = re.findall(r"^\.\. autoclass:: (ganbook\.[\w.]+)\.(\w+)\((.*)\)$",
                       API_PAGE.read_text(encoding="utf-8"), flags=re.M)
    assert found, "no hand-written autoclass signatures found on the API page"
    for module, name, arguments in found:
        cls = getattr(importlib.import_module(module), name)
        if not arguments:
            continue  # an empty signature on purpose (History: built by fit, not by hand)
        top_level = re.sub(r"\([^()]*\)", "", arguments)  # drop nested calls' arguments
        written = re.findall(r"(?:^|, )(\w+)=", top_level)
        fields = [f.name for f in dataclasses.fields(cls)]
        assert written == fields, f"{module}.{name}: the API page has {written}, the class {fields}"


def _module_level_imports(path: Path) -> set[str]:
    """Top-level package names that a module imports when it is imported (not inside a function
    and not under `if TYPE_CHECKING:`)."""
    import ast
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_the_light_book_build_can_import_every_module():
    # `make book` installs book/requirements.txt only and autodoc mocks the heavy packages
    # (_ext/light_autodoc.py): a module-level import of anything else would break the API page
    # there, though CI's full environment would still build it.
    import sys
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        from light_autodoc import HEAVY_IMPORTS
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    requirements = {re.split(r"[<>=!~ ;\[]", line.strip())[0].lower().replace("-", "_")
                    for line in (ROOT / "book" / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")}
    assert "torch" not in requirements
    available = requirements | set(HEAVY_IMPORTS) | set(sys.stdlib_module_names) | {"ganbook"}
    for path in sorted((ROOT / "ganbook").glob("*.py")):
        missing = _module_level_imports(path) - available
        assert not missing, f"{path.name} imports {sorted(missing)} at module level: add them " \
                            "to book/requirements.txt, mock them, or import them where used"


def test_the_module_level_import_finder_sees_real_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os.path\nfrom torch import nn\nfrom . import x\n"
                      "def f():\n    import scipy\n")
    assert _module_level_imports(module) == {"os", "torch"}

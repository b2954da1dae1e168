"""Build the API page without PyTorch, so `make book` needs no CUDA libraries.

The book renders committed notebooks and only autodoc imports `ganbook`. This extension makes
autodoc mock torch, torchvision and torchmetrics (`autodoc_mock_imports`) in every build, and
keeps the real packages out of the build even where they are installed (autodoc itself would
otherwise import them while it reads the source of a mocked base class). So the light build
(`make book`, no torch) and CI's full environment render the same pages.

Sphinx 7 would show every `nn.Module` subclass with the mock's pass-through signature
`(*args, **kwargs)`: a class that subclasses a mock gets the mock's `__new__`. Listing that
`__new__` beside `typing.Generic.__new__`, which autodoc already skips for the same reason,
makes autodoc read the class's own `__init__` again.
"""

import sys

from sphinx.ext import autodoc

HEAVY_IMPORTS = ("torch", "torchvision", "torchmetrics")
MOCK_NEW = "sphinx.ext.autodoc.mock._MockObject.__new__"


class _BlockHeavyImports:
    """A finder that refuses the real heavy packages; autodoc's mock finder goes before it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in HEAVY_IMPORTS:
            raise ModuleNotFoundError(f"{fullname} is mocked while the book builds", name=fullname)
        return None


def _mock_heavy_imports(app, config):
    config.autodoc_mock_imports = sorted(set(config.autodoc_mock_imports) | set(HEAVY_IMPORTS))
    if not any(isinstance(finder, _BlockHeavyImports) for finder in sys.meta_path):
        sys.meta_path.insert(0, _BlockHeavyImports())


def setup(app):
    if MOCK_NEW not in autodoc._CLASS_NEW_BLACKLIST:
        autodoc._CLASS_NEW_BLACKLIST.append(MOCK_NEW)
    app.connect("config-inited", _mock_heavy_imports)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

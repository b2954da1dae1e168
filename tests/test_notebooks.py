"""The chapters as a reader meets them: each notebook opens in Colab with a GPU on offer, installs
ganbook there, imports explicitly, seeds, picks a device, and carries the outputs of one clean
top-to-bottom run; the table of contents and the chapters agree; and every Colab launch button
of the built book opens a notebook that exists. (nbval re-runs the notebooks; this checks what
is committed.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
HTML = ROOT / "_build" / "html"
REPOSITORY = "https://github.com/ganbook/ganbook"
BRANCH = "main"
COLAB_HOST = "colab.research.google.com"
COLAB_URL = re.compile(
    rf"https://{re.escape(COLAB_HOST)}/github/ganbook/ganbook/blob/{BRANCH}/(?P<path>[^?#]+\.ipynb)")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

CHAPTERS = sorted(BOOK.glob("*.ipynb"))


def _read(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


def _code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _toc_files() -> list[str]:
    """Every `root:` and `file:` entry of _toc.yml, in order, without extension."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    found = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in toc.items() if key != "root"})
    return found


def _chapter_id(path: Path) -> str:
    return path.name


@pytest.fixture(params=CHAPTERS, ids=_chapter_id)
def chapter(request) -> tuple[Path, nbformat.NotebookNode]:
    return request.param, _read(request.param)


def test_first_code_cell_installs_in_colab_imports_seeds_and_picks_a_device(chapter):
    path, notebook = chapter
    cells = _code_cells(notebook)
    assert cells, f"{path.name} has no code cell"
    first = cells[0].source
    guard = re.search(r'^if\s+["\']google\.colab["\']\s+in\s+sys\.modules\s*:', first, re.M)
    assert guard, f"{path.name}: first code cell lacks `if \"google.colab\" in sys.modules:`"
    assert re.search(r"^import sys$", first[: guard.start()], re.M), "import sys before the guard"
    install = re.search(r"^(\s+)%pip install .*ganbook\s*@\s*git\+(\S+?)[\"'\s]", first, re.M)
    assert install and install.start() > guard.start(), (
        f"{path.name}: the guard must run `%pip install \"ganbook @ git+{REPOSITORY}\"`, indented")
    assert install.group(2).removesuffix(".git") == REPOSITORY, install.group(2)
    for call in ("seed_everything(", "get_device("):
        assert call in first, f"{path.name}: first code cell does not call {call}...)"


def test_imports_are_explicit_and_sys_path_is_untouched(chapter):
    path, notebook = chapter
    for number, cell in enumerate(_code_cells(notebook), start=1):
        assert not re.search(r"^\s*from\s+\S+\s+import\s+\*", cell.source, re.M), (
            f"{path.name}, code cell {number}: `import *`")
        assert "sys.path" not in cell.source, f"{path.name}, code cell {number}: edits sys.path"


def test_colab_offers_a_gpu(chapter):
    path, notebook = chapter
    assert notebook.metadata.get("accelerator") == "GPU", f"{path.name}: metadata.accelerator"
    assert "colab" in notebook.metadata, f"{path.name}: no Colab metadata"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


def test_outputs_are_one_clean_run(chapter):
    path, notebook = chapter
    counts = []
    for number, cell in enumerate(_code_cells(notebook), start=1):
        if not cell.source.strip():
            continue  # Jupyter does not execute an empty cell
        assert cell.execution_count is not None, f"{path.name}, code cell {number}: not executed"
        counts.append(cell.execution_count)
        errors = [out for out in cell.outputs if out.output_type == "error"]
        assert not errors, f"{path.name}, code cell {number}: {errors[0].get('ename')}"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not one top-to-bottom run; "
        "re-run `make notebooks`")


def test_figures_and_animations_were_saved(chapter):
    """A figure cell without a stored image (e.g. run under MPLBACKEND=Agg) shows nothing online.

    Only a top-level `plt.show()` must have drawn: one inside a function or a branch (the Colab-only
    MNIST run of chapter 5, say) may not run at the defaults.
    """
    path, notebook = chapter
    for number, cell in enumerate(_code_cells(notebook), start=1):
        data = [out.get("data", {}) for out in cell.outputs]
        top_level_show = re.search(r"^plt\.show\(\)", cell.source, flags=re.MULTILINE)
        if top_level_show and not any(WIDGET_VIEW in d for d in data):
            assert any("image/png" in d or "image/svg+xml" in d for d in data), (
                f"{path.name}, code cell {number}: plt.show() stored no image")
        if "to_jshtml(" in cell.source:
            assert any("Animation(" in "".join(d.get("text/html", "")) for d in data), (
                f"{path.name}, code cell {number}: to_jshtml() stored no animation")


def test_widget_state_is_saved(chapter):
    """Widgets render on the static page only from the state saved in the notebook."""
    path, notebook = chapter
    views = [out["data"][WIDGET_VIEW]["model_id"] for cell in _code_cells(notebook)
             for out in cell.outputs if WIDGET_VIEW in out.get("data", {})]
    if not views:
        return
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    missing = [model for model in views if model not in state]
    assert not missing, f"{path.name}: widget state not saved for {missing} (store_widget_state)"


def test_code_solutions_are_executed_cells(chapter):
    """A solution with code is an executed, collapsed code cell that asserts its answer (tag
    `hide-input`), not a code block in a dropdown that CI never runs."""
    path, notebook = chapter
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "markdown" and re.search(r"\{admonition\}\s*Solution", cell.source):
            assert "```python" not in cell.source, (
                f"{path.name}, cell {number}: a solution's code belongs in a code cell tagged "
                "hide-input that asserts the answer")


def test_widget_cells_leave_no_empty_output_on_the_page(chapter):
    """An ipywidgets view renders nothing on the static page: its cell is tagged
    `remove-output` and a static twin (a figure or animation) stands beside it."""
    path, notebook = chapter
    for number, cell in enumerate(_code_cells(notebook), start=1):
        if re.search(r"\binteract\(", cell.source):
            assert "remove-output" in cell.metadata.get("tags", []), (
                f"{path.name}, code cell {number}: tag the widget cell remove-output and show "
                "a static twin beside it")


def test_table_of_contents_and_chapters_agree():
    entries = _toc_files()
    assert len(entries) == len(set(entries)), f"_toc.yml lists a page twice: {entries}"
    for entry in entries:
        candidates = [ROOT / f"{entry}{suffix}" for suffix in (".ipynb", ".md")]
        assert any(p.is_file() for p in candidates), f"_toc.yml: {entry} has no .ipynb or .md"
    listed = {(ROOT / entry).with_suffix(".ipynb") for entry in entries}
    unlisted = [p.name for p in CHAPTERS if p not in listed]
    assert not unlisted, f"notebooks missing from _toc.yml: {unlisted}"


def test_config_points_colab_at_this_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"].rstrip("/") == REPOSITORY
    assert config["repository"].get("branch", BRANCH) == BRANCH
    assert "path_to_book" not in config["repository"], "Colab URLs must be repository paths"
    assert config["launch_buttons"]["colab_url"].rstrip("/") == f"https://{COLAB_HOST}"


class _ColabLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "a" and COLAB_HOST in href:
            self.hrefs.append(href)


def _colab_links() -> dict[str, list[str]]:
    if not (HTML / "index.html").is_file():
        pytest.skip("no built book in _build/html: run `make book` to check the launch buttons")
    links = {}
    for page in sorted(HTML.rglob("*.html")):
        parser = _ColabLinks()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        links[page.relative_to(HTML).as_posix()] = parser.hrefs
    return links


def test_built_colab_buttons_open_notebooks_that_exist():
    bad = []
    for page, hrefs in _colab_links().items():
        for href in hrefs:
            match = COLAB_URL.fullmatch(href)
            if not match:
                bad.append(f"{page}: {href} is not {COLAB_URL.pattern}")
            elif not (ROOT / match["path"]).is_file():
                bad.append(f"{page}: {href} opens {match['path']}, which is not in the repository")
    assert not bad, "\n".join(bad)


def test_every_built_chapter_has_its_colab_button():
    links = _colab_links()
    for entry in _toc_files():
        notebook = ROOT / f"{entry}.ipynb"
        if not notebook.is_file():
            continue  # a Markdown page has no notebook to open
        page = f"{entry}.html"
        assert page in links, f"{page} is not in the built book"
        expected = f"https://{COLAB_HOST}/github/ganbook/ganbook/blob/{BRANCH}/{entry}.ipynb"
        assert expected in links[page], f"{page}: no Colab button to {expected}"

"""The Python examples of the documentation run.

Every ```python block of each page below is executed, in order, in one namespace per page, so an
example that stops working fails the test suite. Blocks fenced with another language (```bash,
```text) are not run. Tracebacks point at the page and line of the failing example.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [
    "docs/index.md",
    "docs/guide.md",
    "README.md",
    "docs/joint-conditional.md",
    "docs/mi.md",
    "docs/scaling.md",
    "docs/bottleneck.md",
    "docs/beyond-one-pair.md",
]
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(page: str) -> list[tuple[int, str]]:
    """``(first line, code)`` of each ```python block of ``<page>``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in PYTHON_BLOCK.finditer(text)]


def test_pages_have_examples():
    for page in PAGES:
        assert python_blocks(page), f"{page} has no ```python blocks"


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything an example writes stays out of the repository
    namespace = {"__name__": "__docs__"}
    for line, code in python_blocks(page):
        # Pad with blank lines so that tracebacks give the line number in the page.
        compiled = compile("\n" * (line - 1) + code, str(ROOT / page), "exec")
        exec(compiled, namespace)

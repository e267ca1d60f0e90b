"""The encrypted store (credhelper.store) against a dict model, as a state machine.

Hypothesis drives put/get/delete/list/reopen in any order on a real store
directory; after every step the store must agree with a plain dict. Also: the
file is the documented v1 document with no secret in it, and reopening a
store (a new process, in effect) changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from credhelper.errors import NotFound
from credhelper.store import Store

servers = st.one_of(
    st.sampled_from(
        ["https://index.docker.io/v1/", "reg.example:5000", "docker.io", "r\u00e9g", "a b"]
    ),
    st.text(min_size=1, max_size=20),
)
texts = st.text(max_size=30)


@contextmanager
def store_home(path: str) -> Iterator[None]:
    """Point the key provider at `path` (it reads CREDHELPER_HOME when asked)."""
    saved = {k: os.environ.get(k) for k in ("CREDHELPER_HOME", "CREDHELPER_KEY_PROVIDER")}
    os.environ["CREDHELPER_HOME"] = path
    os.environ.pop("CREDHELPER_KEY_PROVIDER", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class StoreMachine(RuleBasedStateMachine):
    known = Bundle("known")

    @initialize()
    def setup(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="credhelper-store-model-")
        self.home = os.path.join(self.dir, "home")
        self._env = store_home(self.home)
        self._env.__enter__()
        self.store = Store(self.home)
        self.model: dict[str, tuple[str, str]] = {}
        self.secrets: set[str] = set()

    def teardown(self) -> None:
        if hasattr(self, "_env"):
            self._env.__exit__(None, None, None)
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(target=known, server=servers, username=texts, secret=texts)
    def put(self, server: str, username: str, secret: str) -> str:
        self.store.put(server, username, secret)
        self.model[server] = (username, secret)
        self.secrets.add(secret)
        return server

    @rule(server=st.one_of(known, servers))
    def get(self, server: str) -> None:
        if server in self.model:
            got = self.store.get(server)
            assert (got.server, got.username, got.secret) == (server, *self.model[server])
        else:
            try:
                self.store.get(server)
            except NotFound as err:
                assert err.message == "credentials not found in native keychain"
            else:
                raise AssertionError(f"{server!r} should be absent")

    @rule(server=st.one_of(known, servers))
    def delete(self, server: str) -> None:
        assert self.store.delete(server) == (server in self.model)
        self.model.pop(server, None)

    @rule()
    def reopen(self) -> None:
        self.store = Store(self.home)

    @invariant()
    def listing_matches(self) -> None:
        if not hasattr(self, "store"):
            return
        found, problems = self.store.snapshot().usernames()
        assert problems == []
        assert found == {server: user for server, (user, _) in self.model.items()}

    @invariant()
    def file_is_v2_without_secrets(self) -> None:
        if not hasattr(self, "store") or not os.path.exists(self.store.path):
            return
        raw = open(self.store.path, "rb").read()  # noqa: SIM115
        doc = json.loads(raw)
        assert doc["version"] == 2 and set(doc["auths"]) == set(self.model)
        # The header names its key's provider (plaintext, bound into its AAD).
        assert set(doc["header"]) == {"sealed", "keyId", "provider"}
        for entry in doc["auths"].values():
            assert set(entry) == {"sealed", "keyId", "updated", "v"}
            assert entry["keyId"] == doc["header"]["keyId"]
        for secret in self.secrets:
            # Long, varied secrets only: a short one could occur in base64 by chance.
            if len(secret) >= 8 and len(set(secret)) >= 5:
                assert json.dumps(secret)[1:-1].encode() not in raw
        assert os.stat(self.store.path).st_mode & 0o777 == 0o600


StoreMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
TestStoreModel = StoreMachine.TestCase

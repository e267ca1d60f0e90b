"""One contract every key provider passes (file, env, keyring, vault, and any added later).

In the manner of keyring's backend test suite: `ProviderContract` holds the
tests, and one subclass per provider says how to make a provider over empty
storage (`fresh`), how to open the same storage again as another process would
(`reopen`), and how to make one whose storage is unusable (`broken`). Real
backends throughout: a key file in a temp dir, real environment variables, the
real gnome-keyring Secret Service (tests/keyring_session.py) and a real OpenBao
server (tests/openbao_server.py).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from credhelper import keys
from credhelper.errors import KeyProblem
from credhelper.keys.base import KeyProvider, Rotatable, install_key
from credhelper.keys.env import EnvKeyProvider
from credhelper.keys.file import FileKeyProvider
from credhelper.keys.keyring_provider import KeyringKeyProvider
from credhelper.keys.vault import VaultKeyProvider
from tests.conftest import CLI, HELPER, Env
from tests.keyring_session import secret_service
from tests.openbao_server import OpenBao, openbao  # noqa: F401 -- the fixture

Reopen = Callable[[KeyProvider], KeyProvider]


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text.startswith("credhelper: ") and "\n" not in text and len(text) < 600, text
    return text


def key_texts(key: bytes) -> list[str]:
    return [base64.b64encode(key).decode(), key.hex()]


def members(protocol: type) -> set[str]:
    """The operations a Protocol class declares (its public names)."""
    names = {name for name in vars(protocol) if not name.startswith("_")}
    return names | set(getattr(protocol, "__annotations__", {}))


def test_the_core_interface_is_narrow() -> None:
    # The core is what get/list and every writer need; rotation is the optional part.
    assert members(KeyProvider) == {"name", "describe", "load", "load_or_create", "rotation"}
    assert members(Rotatable) == {
        "load_pending",
        "write_pending",
        "promote_pending",
        "discard_pending",
        "remove_key",
    }


class ProviderContract:
    """The behaviour `credhelper.store`, `credhelper.rotate` and `keys.setup` rely on."""

    # It holds its own key (a Rotatable side); env does not: its secret system owns the key.
    rotatable = True

    @pytest.fixture
    def fresh(self) -> KeyProvider:  # pragma: no cover -- each subclass defines it
        raise NotImplementedError

    def reopen(self, provider: KeyProvider) -> KeyProvider:
        """The same storage as seen by a new process."""
        raise NotImplementedError

    @pytest.fixture
    def broken(self) -> KeyProvider:  # pragma: no cover
        raise NotImplementedError

    def slots(self, provider: KeyProvider) -> Rotatable:
        """The provider's Rotatable side, which a rotatable provider must have."""
        slots = provider.rotation()
        assert slots is not None, provider.describe()
        return slots

    # ------------------------------------------------------------ every provider

    def test_name_is_registered(self, fresh: KeyProvider) -> None:
        assert fresh.name in keys.PROVIDERS
        assert keys.by_name(fresh.name).name == fresh.name

    def test_it_has_the_whole_interface(self, fresh: KeyProvider) -> None:
        for name in members(KeyProvider):
            assert hasattr(fresh, name), name
        slots = fresh.rotation()
        assert (slots is not None) == self.rotatable
        for name in members(Rotatable) if slots is not None else ():
            assert callable(getattr(slots, name, None)), name

    def test_describe_is_one_line(self, fresh: KeyProvider) -> None:
        text = fresh.describe()
        assert text and "\n" not in text and len(text) < 300

    def test_empty_storage_loads_nothing(self, fresh: KeyProvider) -> None:
        assert fresh.load() is None
        slots = fresh.rotation()
        assert slots is None or slots.load_pending() is None
        assert self.reopen(fresh).load() is None  # and loading created nothing

    def test_unusable_storage_is_one_key_problem_line(self, broken: KeyProvider) -> None:
        with pytest.raises(KeyProblem) as err:
            broken.load()
        one_line(err.value)

    def test_load_or_create_makes_one_stable_key(self, fresh: KeyProvider) -> None:
        if not self.rotatable:
            with pytest.raises(KeyProblem) as err:
                fresh.load_or_create()
            one_line(err.value)
            return
        key = fresh.load_or_create()
        assert isinstance(key, bytes) and len(key) == 32
        assert fresh.load_or_create() == key
        assert fresh.load() == key
        assert self.reopen(fresh).load() == key
        for text in key_texts(key):
            assert text not in fresh.describe()

    def test_install_key_replaces_the_key(self, fresh: KeyProvider) -> None:
        key = os.urandom(32)
        if not self.rotatable:
            with pytest.raises(KeyProblem) as err:
                install_key(fresh, key)
            assert key_texts(key)[0] not in one_line(err.value)
            assert fresh.load() != key
            return
        fresh.load_or_create()
        install_key(fresh, key)
        assert fresh.load() == key and self.slots(fresh).load_pending() is None
        assert self.reopen(fresh).load() == key

    def test_a_key_moves_in_from_another_provider(self, fresh: KeyProvider, tmp_path: Path) -> None:
        # What `credhelper install --key-provider` does: give the new provider the
        # old one's key, then drop the old copy; the same operations as a rotation.
        source = FileKeyProvider(str(tmp_path / "old-store" / "aeskey"))
        key = source.load_or_create()
        if not self.rotatable:
            with pytest.raises(KeyProblem):
                install_key(fresh, key)
            assert source.load() == key  # nothing moved, so nothing is dropped
            return
        install_key(fresh, key)
        self.slots(source).remove_key()
        assert self.reopen(fresh).load() == key
        assert source.load() is None

    # ------------------------------------------------------------ rotatable providers

    def test_removing_nothing_is_quiet(self, fresh: KeyProvider) -> None:
        if not self.rotatable:
            return
        slots = self.slots(fresh)
        slots.discard_pending()
        slots.remove_key()
        assert fresh.load() is None and slots.load_pending() is None

    def test_pending_key_lifecycle(self, fresh: KeyProvider) -> None:
        if not self.rotatable:
            return
        current = fresh.load_or_create()
        pending = os.urandom(32)
        slots = self.slots(fresh)
        slots.write_pending(pending)
        other = self.reopen(fresh)  # a reader mid-rotation sees both keys
        assert other.load() == current and self.slots(other).load_pending() == pending
        slots.promote_pending()
        assert fresh.load() == pending and slots.load_pending() is None
        assert self.reopen(fresh).load() == pending

    def test_a_later_pending_key_replaces_an_earlier_one(self, fresh: KeyProvider) -> None:
        if not self.rotatable:
            return
        fresh.load_or_create()
        slots = self.slots(fresh)
        slots.write_pending(os.urandom(32))
        second = os.urandom(32)
        slots.write_pending(second)
        assert self.slots(self.reopen(fresh)).load_pending() == second
        slots.promote_pending()
        assert self.reopen(fresh).load() == second

    def test_discarded_pending_key_is_gone(self, fresh: KeyProvider) -> None:
        if not self.rotatable:
            return
        current = fresh.load_or_create()
        slots = self.slots(fresh)
        slots.write_pending(os.urandom(32))
        slots.discard_pending()
        assert slots.load_pending() is None and fresh.load() == current
        assert self.slots(self.reopen(fresh)).load_pending() is None

    def test_remove_key_removes_the_key_and_a_pending_one(self, fresh: KeyProvider) -> None:
        if not self.rotatable:
            return
        fresh.load_or_create()
        slots = self.slots(fresh)
        slots.write_pending(os.urandom(32))
        slots.remove_key()
        assert fresh.load() is None and slots.load_pending() is None
        other = self.reopen(fresh)
        assert other.load() is None and self.slots(other).load_pending() is None
        slots.remove_key()


# ---------------------------------------------------------------- file


class TestFileProvider(ProviderContract):
    @pytest.fixture
    def fresh(self, tmp_path: Path) -> KeyProvider:
        return FileKeyProvider(str(tmp_path / "store" / "aeskey"))

    def reopen(self, provider: KeyProvider) -> KeyProvider:
        assert isinstance(provider, FileKeyProvider)
        return FileKeyProvider(provider.path)

    @pytest.fixture
    def broken(self, tmp_path: Path) -> KeyProvider:
        path = tmp_path / "aeskey"
        path.write_bytes(os.urandom(32))
        path.chmod(0o644)  # readable by others: refused, ssh-style
        return FileKeyProvider(str(path))

    def test_a_planted_pending_symlink_is_refused_and_never_written_through(
        self, fresh: KeyProvider, tmp_path: Path
    ) -> None:
        assert isinstance(fresh, FileKeyProvider)
        current = fresh.load_or_create()
        victim = tmp_path / "victim"
        victim.write_bytes(b"someone else's file")
        os.symlink(victim, fresh.pending_path)
        with pytest.raises(KeyProblem) as err:
            fresh.load_pending()
        assert "symbolic link" in one_line(err.value)
        # Moving a key in replaces the link itself (rename), never the file it names.
        key = os.urandom(32)
        install_key(fresh, key)
        assert victim.read_bytes() == b"someone else's file"
        assert fresh.load() == key != current
        assert not os.path.lexists(fresh.pending_path)
        assert (Path(fresh.path).stat().st_mode & 0o777) == 0o600

    def test_moving_the_key_out_leaves_no_copy(self, fresh: KeyProvider) -> None:
        # A killed move or rotation can leave aeskey.pending; remove_key takes it too.
        assert isinstance(fresh, FileKeyProvider)
        fresh.load_or_create()
        fresh.write_pending(os.urandom(32))
        fresh.remove_key()
        assert os.listdir(os.path.dirname(fresh.path)) == []


# ---------------------------------------------------------------- env


class TestEnvProvider(ProviderContract):
    rotatable = False

    @pytest.fixture
    def fresh(self, monkeypatch: pytest.MonkeyPatch) -> KeyProvider:
        for name in ("CREDHELPER_AESKEY", "CREDHELPER_AESKEY_FILE"):
            monkeypatch.delenv(name, raising=False)
        return EnvKeyProvider()

    def reopen(self, provider: KeyProvider) -> KeyProvider:
        return EnvKeyProvider()

    @pytest.fixture
    def broken(self, monkeypatch: pytest.MonkeyPatch) -> KeyProvider:
        monkeypatch.setenv("CREDHELPER_AESKEY", "not base64!")
        return EnvKeyProvider()

    def test_the_environment_key_is_the_key(
        self, fresh: KeyProvider, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key = os.urandom(32)
        monkeypatch.setenv("CREDHELPER_AESKEY", base64.b64encode(key).decode())
        assert fresh.load() == key and fresh.load_or_create() == key


# ---------------------------------------------------------------- keyring


@pytest.fixture(scope="module")
def secret_service_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with secret_service(tmp_path_factory.mktemp("contract-keyring")) as env:
        yield env


SECRET_SERVICE = "keyring.backends.SecretService.Keyring"


class TestKeyringProvider(ProviderContract):
    @pytest.fixture
    def fresh(
        self,
        tmp_path: Path,
        secret_service_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[KeyProvider]:
        for name, value in secret_service_env.items():
            monkeypatch.setenv(name, value)
        provider = KeyringKeyProvider(str(tmp_path / "store"), SECRET_SERVICE)
        yield provider
        provider.remove_key()

    def reopen(self, provider: KeyProvider) -> KeyProvider:
        assert isinstance(provider, KeyringKeyProvider)
        return KeyringKeyProvider(provider.store_dir, SECRET_SERVICE)

    @pytest.fixture
    def broken(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KeyProvider:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
        return KeyringKeyProvider(str(tmp_path / "store"), SECRET_SERVICE)


# ---------------------------------------------------------------- vault


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestVaultProvider(ProviderContract):
    @pytest.fixture
    def fresh(
        self,
        tmp_path: Path,
        openbao: OpenBao,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch,
    ) -> KeyProvider:
        key = openbao.new_key("contract")
        # The runner policy plus encrypt: storing a given key (switching providers,
        # a rotation's pending key) wraps it with transit/encrypt.
        policy = "".join(
            f'path "transit/{op}/{key}" {{ capabilities = ["update"] }}\n'
            for op in ("decrypt", "datakey/plaintext", "encrypt")
        )
        for name in list(os.environ):
            if name.startswith(("VAULT_", "BAO_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv("VAULT_ADDR", openbao.addr)
        monkeypatch.setenv("VAULT_TOKEN", openbao.token(policy))
        return VaultKeyProvider.for_key("transit", key, str(tmp_path))

    def reopen(self, provider: KeyProvider) -> KeyProvider:
        # The record travels through the store file as JSON.
        assert isinstance(provider, VaultKeyProvider)
        record: dict[str, Any] = json.loads(json.dumps(provider.record))
        return VaultKeyProvider(record, provider.directory)

    @pytest.fixture
    def broken(self, fresh: KeyProvider, monkeypatch: pytest.MonkeyPatch) -> KeyProvider:
        fresh.load_or_create()
        monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{_closed_port()}")
        return self.reopen(fresh)

    def test_only_the_wrapped_form_is_in_the_record(self, fresh: KeyProvider) -> None:
        assert isinstance(fresh, VaultKeyProvider)
        key = fresh.load_or_create()
        text = json.dumps(fresh.record)
        assert fresh.record["wrapped"].startswith("vault:v1:")
        for shown in key_texts(key):
            assert shown not in text


# ---------------------------------------------------------------- env, through the executables


def _run(
    argv: list[str], env: dict[str, str], data: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=data, env=env, capture_output=True, timeout=120, check=False)


def test_a_malformed_env_key_is_never_echoed_even_with_debug(ch: Env) -> None:
    """31 or 40 bytes, or bad base64: refused without printing any of it, traceback or not."""
    ch.store_creds("a.example", "u", "pw-a-secret")
    for value in (
        base64.b64encode(os.urandom(31)).decode(),
        base64.b64encode(os.urandom(32)).decode()[:-2] + "!!",
        base64.b64encode(os.urandom(40)).decode(),
    ):
        env = dict(ch.env, CREDHELPER_AESKEY=value, CREDHELPER_DEBUG="1")
        for argv, data in (
            ([HELPER, "get"], b"a.example"),
            ([HELPER, "list"], b""),
            ([CLI, "list"], b""),
            ([CLI, "rotate", "--key-from-env", "--yes"], b""),
            ([CLI, "doctor"], b""),
        ):
            out = _run(argv, env, data)
            shown = out.stdout + out.stderr
            assert value.encode() not in shown and value[:16].encode() not in shown, argv


def test_a_wrong_env_key_on_a_file_store_is_refused_and_changes_nothing(ch: Env) -> None:
    ch.store_creds("a.example", "u", "pw-a-secret")
    before = ch.store.read_bytes()
    env = dict(ch.env, CREDHELPER_AESKEY=base64.b64encode(os.urandom(32)).decode())
    body = b'{"ServerURL":"b.example","Username":"u","Secret":"pw-b-secret"}'
    stored = _run([HELPER, "store"], env, body)
    assert stored.returncode == 1 and len(stored.stdout.splitlines()) == 1
    assert b"CREDHELPER_AESKEY" in stored.stdout
    for argv in ([CLI, "rotate", "--yes"], [CLI, "rotate", "--key-from-env", "--yes"]):
        assert _run(argv, env).returncode == 1
    assert ch.store.read_bytes() == before


def test_an_env_key_file_that_is_a_fifo_or_a_directory_is_refused(ch: Env, tmp_path: Path) -> None:
    fifo = tmp_path / "keyfifo"
    os.mkfifo(fifo, 0o600)
    for target in (fifo, tmp_path):
        env = dict(ch.env, CREDHELPER_AESKEY_FILE=str(target))
        got = _run([HELPER, "get"], env, b"a.example")  # a hang would time out
        assert got.returncode == 1 and len(got.stdout.splitlines()) == 1, got.stdout

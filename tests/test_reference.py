"""Docker's naming rules: server keys for login/logout and the registry of an image."""

from __future__ import annotations

import pytest

from credhelper import reference
from credhelper.errors import UsageError

HUB = "https://index.docker.io/v1/"


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        (None, HUB),
        ("", HUB),
        ("docker.io", HUB),
        ("index.docker.io", HUB),
        ("https://index.docker.io/v1/", HUB),
        ("registry-1.docker.io", HUB),
        ("registry.example.com", "registry.example.com"),
        ("registry.example.com:5000", "registry.example.com:5000"),
        ("https://registry.example.com:5000/v2/", "registry.example.com:5000"),
        ("http://registry.example.com/some/path", "registry.example.com"),
        ("registry.example.com/team/app", "registry.example.com"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("localhost:5000", "localhost:5000"),
        ("https://[::1]:5000/", "[::1]:5000"),
    ],
)
def test_server_key_as_docker_login_stores_it(typed: str | None, key: str) -> None:
    assert reference.server_key(typed) == key


def test_logout_keys_are_docker_logout_variants() -> None:
    assert reference.logout_keys("https://reg.example:5000/v2/") == [
        "https://reg.example:5000/v2/",
        "reg.example:5000",
        "http://reg.example:5000",
        "https://reg.example:5000",
    ]
    assert reference.logout_keys("reg.example") == [
        "reg.example",
        "http://reg.example",
        "https://reg.example",
    ]
    hub = reference.logout_keys(None)
    assert hub[0] == HUB and "docker.io" in hub


@pytest.mark.parametrize(
    ("image", "domain", "path", "tag", "key"),
    [
        ("alpine", "docker.io", "library/alpine", None, HUB),
        ("alpine:3.20", "docker.io", "library/alpine", "3.20", HUB),
        ("team/app", "docker.io", "team/app", None, HUB),
        ("docker.io/team/app:1", "docker.io", "team/app", "1", HUB),
        ("index.docker.io/library/alpine", "docker.io", "library/alpine", None, HUB),
        ("localhost/app", "localhost", "app", None, "localhost"),
        ("localhost:5000/app:v1", "localhost:5000", "app", "v1", "localhost:5000"),
        ("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1", "127.0.0.1:5000"),
        ("registry.example.com/team/app", "registry.example.com", "team/app", None, None),
        ("Registry/app", "Registry", "app", None, "Registry"),  # upper case: a host
        ("localhost:5000", "docker.io", "library/localhost", "5000", HUB),
    ],
)
def test_registry_of_image(
    image: str, domain: str, path: str, tag: str | None, key: str | None
) -> None:
    ref = reference.parse_reference(image)
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert ref.credential_key == (key or domain)


def test_digest_reference() -> None:
    digest = "sha256:" + "a" * 64
    ref = reference.parse_reference(f"reg.example:5000/app@{digest}")
    assert ref.digest == digest and ref.tag is None and ref.domain == "reg.example:5000"


@pytest.mark.parametrize(
    "image", ["", "Team/App", "reg.example/App", "reg.example/app:", "app@sha256:xyz", " app"]
)
def test_invalid_references(image: str) -> None:
    with pytest.raises(UsageError, match="invalid reference format"):
        reference.parse_reference(image)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("10.0.0.1:5000", False),
        ("registry.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_needs_no_dns(host: str, loopback: bool) -> None:
    assert reference.is_loopback(host) is loopback

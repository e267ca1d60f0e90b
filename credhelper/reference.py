"""Docker's naming rules: the registry of an image, and the keys docker stores logins under.

Mirrors docker/cli (`credentials.ConvertToHostname`, `docker login`/`logout`) and
distribution/reference (`splitDockerDomain`), so a login made here is found by
`docker push`, and `logout` erases every spelling docker may have used.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

from credhelper.errors import UsageError

# The key docker (CLI, docker-py) stores Docker Hub logins under.
DOCKER_HUB = "https://index.docker.io/v1/"
# Hub's v2 API endpoint, which `docker login` pings.
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_DOMAIN = "docker.io"
# Names that mean Docker Hub. docker itself maps only "docker.io"; the others
# would otherwise become keys that `docker push` never looks up.
_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?\Z"
)


def convert_to_hostname(maybe_url: str) -> str:
    """docker/cli's ConvertToHostname: drop a scheme and any path, keep host[:port]."""
    stripped = maybe_url
    if "://" in stripped:
        try:
            parsed = urllib.parse.urlsplit(stripped)
            hostname = parsed.hostname
            port = parsed.port
        except ValueError:
            hostname, port = None, None
        if hostname:
            if ":" in hostname:  # IPv6 literal: Go's net.JoinHostPort brackets it
                return f"[{hostname}]:{port}" if port is not None else hostname
            return f"{hostname}:{port}" if port is not None else hostname
        stripped = stripped.split("://", 1)[1]
    return stripped.split("/", 1)[0]


def is_hub(server: str) -> bool:
    if server in ("", DOCKER_HUB):
        return True
    return convert_to_hostname(server).lower() in _HUB_NAMES


def server_key(server: str | None) -> str:
    """The key `docker login SERVER` stores credentials under."""
    if server is None or not server.strip():
        return DOCKER_HUB
    server = server.strip()
    if is_hub(server):
        return DOCKER_HUB
    host = convert_to_hostname(server)
    if not host:
        raise UsageError(f"credhelper: {server!r} is not a registry name (expected host[:port])")
    return host


def logout_keys(server: str | None) -> list[str]:
    """Every key a login for SERVER may be stored under, as `docker logout` erases them.

    docker tries X, host, http://host and https://host. For Docker Hub it also keeps
    the OAuth `access-token`/`refresh-token` keys, and skopeo/podman key Hub as
    `docker.io`; all of those go too.
    """
    if server is None or not server.strip() or is_hub(server):
        return [DOCKER_HUB, DOCKER_HUB + "access-token", DOCKER_HUB + "refresh-token", "docker.io"]
    typed = server.strip()
    host = convert_to_hostname(typed)
    keys: list[str] = []
    for key in (typed, host, f"http://{host}", f"https://{host}"):
        if key not in keys:
            keys.append(key)
    return keys


def host_part(host: str) -> str:
    """The host name of `host[:port]` (without brackets for IPv6)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost names: where docker allows plain HTTP.

    Only literal addresses and `localhost` count; a name is never resolved here, so
    deciding whether plain HTTP is allowed makes no network traffic at all.
    """
    name = host_part(host).lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def api_host(key: str) -> str:
    """host[:port] to contact for the registry stored under `key`."""
    return DOCKER_HUB_API if key == DOCKER_HUB else convert_to_hostname(key)


@dataclass(frozen=True)
class Reference:
    """A parsed image reference: `domain/path[:tag][@digest]`."""

    domain: str  # "docker.io" for Hub
    path: str  # "library/alpine" for "alpine"
    tag: str | None
    digest: str | None

    @property
    def credential_key(self) -> str:
        """The key docker looks credentials up under for this image."""
        return DOCKER_HUB if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(image: str) -> Reference:
    """Split IMAGE by docker's rules: the first component is a registry if it is
    `localhost`, contains a `.` or `:`, or has upper-case letters; otherwise Docker Hub."""
    if not image or image != image.strip():
        raise UsageError(f"credhelper: invalid reference format: {image!r}")
    rest, digest = image, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise UsageError(f"credhelper: invalid reference format: bad digest in {image!r}")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise UsageError(f"credhelper: invalid reference format: bad tag in {image!r}")
    first, sep, remainder = rest.partition("/")
    if not sep or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, rest
    else:
        domain = first
        if not _DOMAIN.match(domain):
            raise UsageError(f"credhelper: invalid reference format: bad registry in {image!r}")
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"library/{remainder}"
    for component in remainder.split("/"):
        if not _COMPONENT.match(component):
            if component.lower() != component:
                raise UsageError(
                    f"credhelper: invalid reference format: repository name must be "
                    f"lowercase: {image!r}"
                )
            raise UsageError(f"credhelper: invalid reference format: {image!r}")
    return Reference(domain=domain, path=remainder, tag=tag, digest=digest)

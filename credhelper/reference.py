"""Docker's naming rules: the registry of an image, and the keys docker stores logins under.

Mirrors docker/cli (`credentials.ConvertToHostname`, `docker login`/`logout`) and
distribution/reference (`splitDockerDomain`), so a login made here is found by
`docker push`, and `logout` erases every spelling docker may have used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from credhelper import netloc
from credhelper.dockernames import DOCKER_HUB
from credhelper.errors import UsageError

# Hub's v2 API endpoint, which `docker login` pings.
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_DOMAIN = "docker.io"
# Names that mean Docker Hub. docker itself maps only "docker.io"; the others
# would otherwise become keys that `docker push` never looks up.
HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?\Z"
)


def convert_to_hostname(maybe_url: str) -> str:
    """docker/cli's ConvertToHostname: drop a scheme and any path, keep host[:port].

    The name is parsed by credhelper.netloc first; one it refuses (user info,
    odd IPv4 spellings, stray characters...) raises UsageError.
    """
    scheme, authority, _rest = netloc.split_url(maybe_url)
    parsed = netloc.parse_authority(authority, maybe_url)
    if scheme is None:
        return authority
    # With a scheme the host is a URL host (Go's url.Parse; case-folded as before).
    return netloc.Authority(parsed.host.lower(), parsed.port, parsed.ipv6).netloc


def is_hub(server: str) -> bool:
    if server in ("", DOCKER_HUB):
        return True
    try:
        return convert_to_hostname(server).lower() in HUB_NAMES
    except UsageError:
        return False  # not a registry name at all, so not Hub's


def server_key(server: str | None) -> str:
    """The key `docker login SERVER` stores credentials under."""
    if server is None or not server.strip():
        return DOCKER_HUB
    server = server.strip()
    if is_hub(server):
        return DOCKER_HUB
    return convert_to_hostname(server)


def logout_keys(server: str | None) -> list[str]:
    """Every key a login for SERVER may be stored under, as `docker logout` erases them.

    docker tries X, host, http://host and https://host. For Docker Hub it also keeps
    the OAuth `access-token`/`refresh-token` keys, and skopeo/podman key Hub as
    `docker.io`; all of those go too.
    """
    if server is None or not server.strip() or is_hub(server):
        return [DOCKER_HUB, DOCKER_HUB + "access-token", DOCKER_HUB + "refresh-token", "docker.io"]
    typed = server.strip()
    try:
        host = convert_to_hostname(typed)
    except UsageError:
        return [typed]  # a malformed key stored earlier can still be erased as typed
    keys: list[str] = []
    for key in (typed, host, f"http://{host}", f"https://{host}"):
        if key not in keys:
            keys.append(key)
    return keys


def host_part(host: str) -> str:
    """The host name of `host[:port]` (without brackets for IPv6); UsageError if malformed."""
    return netloc.parse_server(host).host


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the name `localhost`: where docker allows plain HTTP.

    Decided on the host credhelper.netloc parses (a malformed name is never
    loopback); a name is never resolved, so no network traffic is made.
    """
    return netloc.is_loopback(host)


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
        try:
            netloc.parse_server(domain)  # e.g. 0x7f.1:5000, which a resolver reads as loopback
        except UsageError as err:
            raise UsageError(
                f"credhelper: invalid reference format: {err.message.removeprefix('credhelper: ')}"
            ) from None
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

"""Docker's fixed names that several layers compare against: their one definition.

Standard library only, nothing imported: the `get` hot path reaches it through
the store, and the CLI, doctor, push and the registry client use the same values.
"""

from __future__ import annotations

# The key docker (CLI, docker-py) stores Docker Hub logins under.
DOCKER_HUB = "https://index.docker.io/v1/"
# The username docker stores with an identity (refresh) token instead of a password.
TOKEN_USERNAME = "<token>"  # noqa: S105 - a marker, not a secret

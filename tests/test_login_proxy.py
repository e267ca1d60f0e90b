"""HTTP(S)_PROXY never sees a loopback login: plain HTTP would hand it the password in clear.

Go's ProxyFromEnvironment (docker) never proxies loopback hosts; requests would.
The "proxy" here is a loopback tarpit that counts connections: a login to a real
plain-HTTP registry on 127.0.0.1 must succeed without the proxy being contacted.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import CLI, Env
from tests.netfixtures import tarpit
from tests.registry_server import RegistryServer

pytest_plugins = ["tests.registry_server"]
pytestmark = pytest.mark.e2e


def test_loopback_login_bypasses_the_proxy(ch: Env, registry_http: RegistryServer) -> None:
    reg = registry_http
    with tarpit() as proxy:
        env = {k: v for k, v in ch.env.items() if k.lower() not in ("no_proxy",)}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
            env[name] = f"http://127.0.0.1:{proxy.port}"
        proc = subprocess.run(
            [CLI, "login", reg.host, "-u", "alice", "--password-stdin"],
            input=reg.users["alice"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proxy.accepted == 0

"""TLS for the vault provider's client: Vault's CA and client-certificate variables.

Imported only when VAULT_ADDR is https://, so a loopback http:// `get` never
loads ssl. Verification is always on (there is no VAULT_SKIP_VERIFY here: a
runner that skips it would hand its token to whoever answers).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

from credhelper.keys.vault import settings
from credhelper.keys.vault.wire import VaultError, oneline


def context() -> ssl.SSLContext:
    opts = settings.tls_options()
    try:
        ctx = ssl.create_default_context(cafile=opts["cafile"], capath=opts["capath"])
        if opts["certfile"]:
            ctx.load_cert_chain(opts["certfile"], opts["keyfile"])
    except (OSError, ssl.SSLError) as err:
        raise VaultError(
            "credhelper: cannot load the TLS files named by VAULT_CACERT/VAULT_CAPATH/"
            f"VAULT_CLIENT_CERT ({oneline(getattr(err, 'strerror', None) or str(err))}); "
            "check those paths"
        ) from None
    return ctx


def wrap(
    sock: socket.socket, endpoint: settings.Endpoint, remaining: Callable[[], float]
) -> ssl.SSLSocket:
    name = settings.tls_options()["server_name"] or endpoint.host
    try:
        sock.settimeout(remaining())
        return context().wrap_socket(sock, server_hostname=name)
    except ssl.SSLCertVerificationError as err:
        raise VaultError(
            f"credhelper: the TLS certificate of {endpoint.url} is not trusted "
            f"({oneline(err.verify_message or str(err))}); set VAULT_CACERT to the CA "
            "file that signed it"
        ) from None
    except ssl.SSLError as err:
        raise VaultError(
            f"credhelper: TLS with {endpoint.url} failed ({oneline(err.reason or str(err))}); "
            "check that VAULT_ADDR is the server's https:// address"
        ) from None

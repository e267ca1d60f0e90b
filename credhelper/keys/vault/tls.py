"""TLS for the vault provider's client: Vault's CA and client-certificate variables.

Imported only when VAULT_ADDR is https://, so a loopback http:// `get` never
loads ssl. Verification is always on (there is no VAULT_SKIP_VERIFY here: a
runner that skips it would hand its token to whoever answers).

VAULT_CAPATH is read the way Vault and OpenBao read it: every PEM file in the
directory is a trusted CA (OpenSSL's own capath would only look up c_rehash
names such as 1a2b3c4d.0, and a plain ca.pem would not be trusted). The same
context serves the admin client (admin.py), so both sides trust the same CAs.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable

from credhelper.keys.vault import settings
from credhelper.keys.vault.wire import VaultError, oneline

_CAPATH_FILES = 4096  # a bound on the directory's entries


def context() -> ssl.SSLContext:
    opts = settings.tls_options()
    try:
        if opts["cafile"] or opts["capath"]:
            # Only the named CAs, as Vault: not the system's as well.
            ctx = ssl.create_default_context(cafile=opts["cafile"])
            if opts["capath"]:
                _load_capath(ctx, opts["capath"])
        else:
            ctx = ssl.create_default_context()
        if opts["certfile"]:
            ctx.load_cert_chain(opts["certfile"], opts["keyfile"])
    except (OSError, ssl.SSLError) as err:
        raise VaultError(
            "credhelper: cannot load the TLS files named by VAULT_CACERT/VAULT_CAPATH/"
            f"VAULT_CLIENT_CERT ({oneline(getattr(err, 'strerror', None) or str(err))}); "
            "check those paths"
        ) from None
    return ctx


def _load_capath(ctx: ssl.SSLContext, directory: str) -> None:
    """Trust every PEM certificate of `directory` (its regular files, symlinks followed)."""
    loaded = 0
    with os.scandir(directory) as entries:
        for count, entry in enumerate(entries):
            if count >= _CAPATH_FILES:
                break
            if not entry.is_file():  # follows symlinks (c_rehash links are fine)
                continue
            with open(entry.path, "rb") as handle:
                text = handle.read(1 << 20).decode("ascii", "replace")
            if "-----BEGIN CERTIFICATE-----" not in text:
                continue  # a README or a CRL next to the CAs must not stop every get
            ctx.load_verify_locations(cadata=text)
            loaded += 1
    if not loaded:
        raise VaultError(
            f"credhelper: {settings.source('CAPATH')} {oneline(directory)} holds no PEM "
            "certificate; put the CA file there or set VAULT_CACERT to it"
        )


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

"""The least-privilege Vault/OpenBao policy a runner needs, as HCL text.

One source for the README, `credhelper doctor` (which prints it when a token lacks
it) and the tests (which grant exactly this and nothing more).
"""

from __future__ import annotations


def runner_policy(mount: str, key: str) -> str:
    """decrypt (every `get`) and datakey (a new data key after a rotation) on one key."""
    return (
        f'path "{mount}/decrypt/{key}" {{\n'
        '  capabilities = ["update"]\n'
        "}\n"
        f'path "{mount}/datakey/plaintext/{key}" {{\n'
        '  capabilities = ["update"]\n'
        "}\n"
    )


def runner_paths(mount: str, key: str) -> tuple[str, str]:
    return f"{mount}/decrypt/{key}", f"{mount}/datakey/plaintext/{key}"

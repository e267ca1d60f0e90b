"""credhelper: an encrypted Docker registry credential helper.

This module holds the version only and imports nothing, so that the hot path of
`docker-credential-credhelper get` pays nothing for it.
"""

__version__ = "0.1.0"

"""Bearer tokens for the extension's API, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from ..config import ConfigError, Settings, parse_tokens


def configured_tokens(settings: Settings) -> tuple[str, ...]:
    """STYLEHINT_API_TOKENS plus the lines of STYLEHINT_API_TOKENS_FILE (blank lines and ``#`` comments
    skipped). Errors name the file and line, never a token."""
    tokens = list(settings.api_tokens)
    path = settings.api_tokens_file
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"STYLEHINT_API_TOKENS_FILE: cannot read {path}: "
                              f"{getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
        for line_no, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                tokens.extend(parse_tokens(line))
            except ValueError as exc:
                raise ConfigError(f"STYLEHINT_API_TOKENS_FILE: {path} line {line_no}: "
                                  f"{str(exc).replace('token 1 ', 'the token ')}") from None
    return tuple(dict.fromkeys(tokens))


class BearerTokens:
    """Accepts ``Authorization: Bearer <token>`` for any configured token.

    Tokens are kept as SHA-256 digests and every digest is compared (no early exit), so the
    time taken says neither how much of a guess matched nor which token it was."""

    def __init__(self, tokens: tuple[str, ...]):
        self._digests = tuple(hashlib.sha256(t.encode()).digest() for t in tokens)

    def __len__(self) -> int:
        return len(self._digests)

    def accepts(self, authorization: str | None) -> bool:
        scheme, _, credential = (authorization or "").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return False
        digest = hashlib.sha256(credential.encode("utf-8", "surrogateescape")).digest()
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return matched

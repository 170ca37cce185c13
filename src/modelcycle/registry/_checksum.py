"""A SHA-256 over a model directory, recorded at registration and checked before loading."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def directory_checksum(path: str | Path) -> str:
    """Hash every file under ``path``: sorted relative paths, each with its size and bytes.

    The relative path and the size go into the digest before the bytes, so renaming a file,
    moving bytes from one file to the next, or adding an empty file all change the checksum.
    """
    root = Path(path)
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for relative, file in files:
        digest.update(relative.encode("utf-8") + b"\0")
        digest.update(file.stat().st_size.to_bytes(8, "big"))
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()

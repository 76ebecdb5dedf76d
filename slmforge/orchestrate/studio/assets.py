"""The front end's files, read once into memory and served by name (with an ETag, revalidated each visit).

The whole folder is ~130 KB. Serving from a dict keeps the first visit fast on a busy machine (no
stat, open and thread hop per file) and cannot reach the filesystem: a name that is not a key is a 404.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.responses import Response

MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml", ".png": "image/png"}


class Assets:
    def __init__(self, folder: Path) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
                self.files[path.relative_to(folder).as_posix()] = (data, etag, MEDIA.get(path.suffix, "text/plain; charset=utf-8"))

    def response(self, name: str, if_none_match: str | None) -> Response:
        found = self.files.get(name)
        if found is None:
            return Response(b"not found", status_code=404, media_type="text/plain")
        data, etag, media = found
        headers = {"etag": etag, "cache-control": "no-cache"}  # revalidate: a new version of the studio shows at once
        if if_none_match == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=media, headers=headers)

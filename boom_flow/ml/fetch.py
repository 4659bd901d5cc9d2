"""Download the published model files, verify each against its pin, install atomically.

A file is streamed into a temporary file beside its destination while its SHA-256 is
computed; only a file whose checksum is pinned (``boom_flow.ml.published``) is renamed
into place. Anything else (a mismatch, a broken connection, an interruption) removes
the temporary file, so ``models_dir`` never holds a partial or unverified download and
a good file already there is never replaced by a bad one.

Sources: the published location by default, or a mirror: a base URL (``https://``,
``http://``, ``file://``) or a local folder holding the files under the same names.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from boom_flow.ml.published import DEFAULT_SOURCE, PUBLISHED_MODELS, PublishedModel

_CHUNK = 1 << 16
#: Seconds without a byte before a download is given up.
TIMEOUT_S = 30.0

#: Called with the file's name and its expected size once, then with each chunk's size.
Progress = Callable[[str, int], Callable[[int], None]]


class SourceUnavailable(OSError):
    """The source could not deliver the file (unreachable, missing, interrupted)."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        #: Nothing answered at all: the other files need not be tried there.
        self.unreachable = unreachable


@dataclass(frozen=True)
class FetchResult:
    name: str
    #: ``installed``, ``present`` (already there and verified), ``refused`` (checksum
    #: matches no pin), ``unavailable`` (the source could not deliver it) or
    #: ``unreachable`` (nothing answered there).
    status: str
    #: Where the file was looked for.
    location: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("installed", "present")


def location_of(source: str, name: str) -> str:
    """The URL or path of ``name`` in ``source`` (a base URL or a folder)."""
    if "://" in source:
        return f"{source.rstrip('/')}/{name}"
    return str(Path(source).expanduser() / name)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _open(location: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """The file's byte stream and its announced size, from a URL or a path."""
    try:
        if "://" in location:
            request = urllib.request.Request(location, headers={"User-Agent": "boom-flow"})
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                length = response.headers.get("Content-Length")
                yield response, int(length) if length and length.isdigit() else None
        else:
            path = Path(location)
            with path.open("rb") as stream:
                yield stream, path.stat().st_size
    except urllib.error.HTTPError as error:
        raise SourceUnavailable(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise SourceUnavailable(f"no answer ({error.reason}); the other files were not tried",
                                unreachable=True) from None
    except FileNotFoundError:
        raise SourceUnavailable("no such file") from None
    except (OSError, ValueError) as error:
        raise SourceUnavailable(f"{type(error).__name__}: {error}") from None


def fetch_one(model: PublishedModel, source: str, models_dir: Path,
              progress: Progress | None = None) -> FetchResult:
    """Install ``model`` from ``source`` into ``models_dir`` unless a verified copy is
    already there."""
    target = models_dir / model.name
    location = location_of(source, model.name)
    if target.is_file():
        found = model.accepts(sha256_of(target))
        if found is not None:
            return FetchResult(model.name, "present", str(target), found.origin)
    models_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=models_dir, prefix=f".{model.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            sha256 = _copy(location, out, model, progress)
        found = model.accepts(sha256)
        if found is None:
            expected = ", ".join(f"{d.sha256} ({d.origin})" for d in model.digests)
            return FetchResult(model.name, "refused", location,
                               f"sha256 {sha256} is not pinned; expected {expected}")
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the model from other users
        os.replace(temporary, target)
        return FetchResult(model.name, "installed", location, found.origin)
    except SourceUnavailable as error:
        status = "unreachable" if error.unreachable else "unavailable"
        return FetchResult(model.name, status, location, str(error))
    finally:
        Path(temporary).unlink(missing_ok=True)


def _copy(location: str, out: BinaryIO, model: PublishedModel,
          progress: Progress | None) -> str:
    """Stream ``location`` into ``out``; its SHA-256. A body shorter than announced is
    an interruption, not a file to judge by its checksum."""
    digest = hashlib.sha256()
    received = 0
    with _open(location) as (stream, size):
        advance = progress(model.name, size or model.published.size) if progress else None
        try:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
                if advance:
                    advance(len(chunk))
        except (OSError, http.client.HTTPException) as error:  # a cut connection
            raise SourceUnavailable(f"interrupted ({error!r})") from None
    if size is not None and received != size:
        raise SourceUnavailable(f"interrupted: {received:,} of {size:,} bytes received")
    return digest.hexdigest()


def fetch_models(models_dir: Path, source: str | None = None,
                 models: Iterable[PublishedModel] = PUBLISHED_MODELS,
                 progress: Progress | None = None,
                 on_result: Callable[[FetchResult], None] | None = None) -> list[FetchResult]:
    """Install every pinned model file into ``models_dir``; one result per file tried
    (once the source is unreachable, the remaining files are not tried)."""
    results: list[FetchResult] = []
    for model in models:
        results.append(fetch_one(model, source or DEFAULT_SOURCE, Path(models_dir).expanduser(),
                                 progress))
        if on_result is not None:
            on_result(results[-1])
        if results[-1].status == "unreachable":
            break
    return results


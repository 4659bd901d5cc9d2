"""``boom-flow models fetch`` against a local HTTP server serving the real model files
(and a corrupted one): verified files are installed, a mismatch leaves nothing."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from boom_flow.cli.main import cli
from boom_flow.ml.fetch import fetch_models, sha256_of
from boom_flow.ml.published import PUBLISHED_MODELS, Digest, PublishedModel
from boom_flow.ml.registry import load_model
from tests.conftest import free_port

pytestmark = pytest.mark.clean_clone


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Path], str]]:
    """``serve(folder)`` -> the base URL of an HTTP server over ``folder``."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/models"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def onnx(shared_data: Path) -> Path:
    return shared_data / "models" / "onnx"


def _mirror(tmp_path: Path, onnx: Path, corrupt: str | None = None) -> Path:
    root = tmp_path / "www"
    (root / "models").mkdir(parents=True)
    for model in PUBLISHED_MODELS:
        data = (onnx / model.name).read_bytes()
        if model.name == corrupt:
            data = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
        (root / "models" / model.name).write_bytes(data)
    return root


def test_every_pinned_digest_names_a_content_of_its_size() -> None:
    for model in PUBLISHED_MODELS:
        assert len(model.digests) == 2, model
        for digest in model.digests:
            assert len(digest.sha256) == 64 and int(digest.sha256, 16) >= 0
            assert digest.size > 30_000
    names = {model.name for model in PUBLISHED_MODELS}
    assert len(names) == 6 and "btsbot-v1.0.1.onnx" in names


def test_fetch_installs_the_real_files_from_a_local_server_and_they_load(
        onnx: Path, tmp_path: Path, serve: Callable[[Path], str]) -> None:
    url = serve(_mirror(tmp_path, onnx))
    models_dir = tmp_path / "models"
    result = CliRunner().invoke(cli, ["models", "fetch", "--from", url],
                                env={"BOOM_FLOW_MODELS__MODELS_DIR": str(models_dir)})
    assert result.exit_code == 0, result.output
    assert f"from {url}" in result.output and str(models_dir) in result.output
    assert result.output.count(" installed: ") == 6
    assert "6 of 6 model files ready" in result.output
    for model in PUBLISHED_MODELS:
        installed = models_dir / model.name
        assert sha256_of(installed) == sha256_of(onnx / model.name)
        assert installed.stat().st_mode & 0o044 == 0o044  # readable by others
    assert sorted(p.name for p in models_dir.iterdir()) == sorted(m.name for m in PUBLISHED_MODELS)
    spec = {"name": "btsbot", "kind": "onnx", "file": "btsbot-v1.0.1.onnx",
            "inputs": {"triplet": "triplet", "metadata": "btsbot_metadata"}, "output": "fc_out"}
    assert load_model(spec, models_dir).needs_triplets
    # Run again: everything is already there and verified; nothing is downloaded.
    again = CliRunner().invoke(cli, ["models", "fetch", "--from", url],
                               env={"BOOM_FLOW_MODELS__MODELS_DIR": str(models_dir)})
    assert again.exit_code == 0 and again.output.count(" present: ") == 6, again.output


def test_a_corrupted_file_is_refused_and_nothing_of_it_is_kept(
        onnx: Path, tmp_path: Path, serve: Callable[[Path], str]) -> None:
    bad = PUBLISHED_MODELS[-1].name
    url = serve(_mirror(tmp_path, onnx, corrupt=bad))
    models_dir = tmp_path / "models"
    result = CliRunner().invoke(cli, ["models", "fetch", "--from", url],
                                env={"BOOM_FLOW_MODELS__MODELS_DIR": str(models_dir)})
    assert result.exit_code == 1
    assert f"{bad:30} refused: sha256 " in result.output
    assert f"looked at {url}/{bad}" in result.output
    assert "5 of 6 model files ready" in result.output
    assert "nothing of it was kept" in result.output
    # The five good files are installed; of the bad one, not even a temporary file.
    assert sorted(p.name for p in models_dir.iterdir()) == sorted(
        m.name for m in PUBLISHED_MODELS if m.name != bad)


def test_a_refused_download_leaves_a_verified_copy_in_place(
        onnx: Path, tmp_path: Path, serve: Callable[[Path], str]) -> None:
    model = PUBLISHED_MODELS[0]
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / model.name).write_bytes(b"an older, unverified file")
    url = serve(_mirror(tmp_path, onnx, corrupt=model.name))
    [result] = fetch_models(models_dir, url, models=[model])
    assert result.status == "refused"
    assert (models_dir / model.name).read_bytes() == b"an older, unverified file"
    assert [p.name for p in models_dir.iterdir()] == [model.name]


def test_a_missing_file_and_an_unreachable_source_are_reported_with_the_place(
        tmp_path: Path, serve: Callable[[Path], str]) -> None:
    url = serve(tmp_path)  # serves nothing under /models
    missing = fetch_models(tmp_path / "m", url)
    assert [r.status for r in missing] == ["unavailable"] * 6
    assert "HTTP 404" in missing[0].detail and missing[0].location.startswith(url)
    closed = f"http://127.0.0.1:{free_port()}/models"
    result = CliRunner().invoke(cli, ["models", "fetch", "--from", closed],
                                env={"BOOM_FLOW_MODELS__MODELS_DIR": str(tmp_path / "m")})
    assert result.exit_code == 1
    assert "unreachable: no answer" in result.output and f"looked at {closed}/" in result.output
    assert "boom-flow models fetch --from DIR|URL" in result.output
    assert "0 of 6 model files ready" in result.output
    assert not any((tmp_path / "m").iterdir())


class _Truncating(_Quiet):
    """Announces the whole file, sends half of it, closes the connection."""

    def do_GET(self) -> None:
        data = b"x" * 20_000
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:10_000])
        self.wfile.flush()
        self.close_connection = True


def test_a_download_cut_short_is_reported_and_leaves_nothing(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Truncating)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/models"
        [result] = fetch_models(tmp_path / "m", url, models=PUBLISHED_MODELS[:1])
    finally:
        server.shutdown()
        server.server_close()
    assert result.status == "unavailable" and result.detail.startswith("interrupted")
    assert not any((tmp_path / "m").iterdir())


def test_fetch_from_a_local_folder(onnx: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["models", "fetch", "--from", str(onnx)],
                                env={"BOOM_FLOW_MODELS__MODELS_DIR": str(tmp_path / "m")})
    assert result.exit_code == 0, result.output
    assert result.output.count(" installed: the project's test-data build") == 6


def test_a_file_of_the_published_content_is_accepted(
        tmp_path: Path, serve: Callable[[Path], str]) -> None:
    """A content is accepted by its checksum, whichever pinned digest it is."""
    content = b"published bytes"
    model = PublishedModel("m.onnx", (
        Digest(hashlib.sha256(content).hexdigest(), len(content), "the publisher"),))
    (tmp_path / "www" / "models").mkdir(parents=True)
    (tmp_path / "www" / "models" / "m.onnx").write_bytes(content)
    [result] = fetch_models(tmp_path / "m", serve(tmp_path / "www"), models=[model])
    assert (result.status, result.detail) == ("installed", "the publisher")
    assert (tmp_path / "m" / "m.onnx").read_bytes() == content

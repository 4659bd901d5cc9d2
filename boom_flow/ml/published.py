"""The ONNX classifiers BOOM publishes, pinned by checksum: what ``models fetch`` installs.

BOOM keeps ACAI's five heads and BTSbot in its repository under ``data/models/``, stored
with Git LFS. A Git LFS pointer names its file by the SHA-256 of the content, so the
pins below are the published files' own identities at one commit of that repository:
nothing is trusted from the download itself.

Besides the published bytes, each file accepts the build of the same model kept in the
project's test data (``../shared/data/models/onnx``: BOOM's first ``acai_h`` export,
the other ACAI heads with the published Keras weights in that graph, BTSbot v1.0.1
rebuilt from its SavedModel). Same names, inputs and outputs; an offline site holding
that folder can install from it with ``--from``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The commit of github.com/boom-astro/boom the published pins were read from.
BOOM_COMMIT = "8ebd463d63b56ba841061c5b9f81e142941227a8"
#: GitHub serves a file stored with Git LFS (the bytes, not the pointer) under this root.
DEFAULT_SOURCE = (f"https://media.githubusercontent.com/media/boom-astro/boom/{BOOM_COMMIT}"
                  "/data/models")


@dataclass(frozen=True)
class Digest:
    """One accepted content of a file: its SHA-256, size in bytes and where it is from."""

    sha256: str
    size: int
    origin: str


@dataclass(frozen=True)
class PublishedModel:
    """A model file: the name it has in ``models.models_dir`` and its accepted contents
    (the published one first)."""

    name: str
    digests: tuple[Digest, ...]

    @property
    def published(self) -> Digest:
        return self.digests[0]

    def accepts(self, sha256: str) -> Digest | None:
        return next((d for d in self.digests if d.sha256 == sha256), None)


_PUBLISHED = f"boom-astro/boom@{BOOM_COMMIT[:8]} data/models (Git LFS)"
_TEST_DATA = "the project's test-data build"


def _acai(head: str, published: tuple[str, int], test_data: str) -> PublishedModel:
    return PublishedModel(f"acai_{head}.d1_dnn_20201130.onnx", (
        Digest(*published, _PUBLISHED),
        Digest(test_data, 35184, _TEST_DATA),
    ))


#: ACAI (hosted, variable, orphan, nuclear, bogus) and BTSbot, the names of
#: ``models.ztf`` in the packaged defaults.
PUBLISHED_MODELS: tuple[PublishedModel, ...] = (
    _acai("h", ("627893ad62a654f4a72f9fa84fd414e0a8042c479ef50cc08236b7ed962c411b", 35206),
          "bf6b35e422df9529e9b94ebe1b249f3d31fc206cd107a5a8ffe039a4070f7959"),
    _acai("v", ("4dac7ce1b1f8f4db05a0ec36527f84c5745afd6e83afec225dddc8df37efbe5e", 35184),
          "c9a1b1d6b13e48b6d9556db3381adb653449ec47837b5ebb8006645437c455be"),
    _acai("o", ("d58eac9f98a3c1df0e00c5391d5bbc70f337196833b94c9f799dcb1f70797d1c", 35203),
          "46757f112f491173953c3e89a6c47f8a6fdd2d84c9cdd3f796bf52d0b7f50108"),
    _acai("n", ("f380616f6fca1ce1034a9b72f3509558c0083d846ea80b8d85236cfbc78248ad", 35206),
          "4ce897d6e7004897f4a74f2f61798b1f91764bbe9343cee2a383892e460fc1aa"),
    _acai("b", ("8e19725bf2778c175d55f9810008648067ef6ceb11d9521c9bdc786faa74bd8b", 35206),
          "01a979ffaa6e9604a9973d21a1d9a833283ebbdf1ac927856618d8b9a2963059"),
    PublishedModel("btsbot-v1.0.1.onnx", (
        Digest("ad16e6be9719fca9613187e3bc80095a9852af3c6e1d1fd24edfc1f023348da4", 916071,
               _PUBLISHED),
        Digest("6895b783a90daa923588f919c4f4edca893ead8779f2cbd9b9c75b4cc211c397", 913259,
               _TEST_DATA),
    )),
)

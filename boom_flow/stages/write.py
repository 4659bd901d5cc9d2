"""The write stage: one bulk write per collection (``storage.write_batch``).

Idempotent, so a redelivered batch stores nothing twice. The aliases the aliases stage
found are recorded on both surveys' aux documents after the batch's own (the objects
must exist first). Reports ``stored`` (new alerts), ``duplicates`` (alerts the
archive already held) and ``repeated`` (alerts twice in the batch, stored once) in
``batch.counts``, and ``aux_reads``: reads of the aux collection at write time, 0
unless another writer changed the batch's objects since ``load_known`` read them
(then the merge is planned again from a fresh read; routing by object avoids it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from boom_flow.core import AlertBatch
from boom_flow.stages.aliases import AliasPairStage
from boom_flow.storage import write_batch
from boom_flow.storage.aliases import write_aliases


@dataclass
class WriteStage(AliasPairStage):
    name: ClassVar[str] = "write"

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        written = write_batch(self._database, batch)
        if "aliases" in batch.enrichments:
            write_aliases(self._database, batch, self.search)
        return batch.with_counts(stored=written.alerts_inserted,
                                 duplicates=written.alerts_existing,
                                 repeated=written.alerts_repeated,
                                 aux_reads=written.aux_reads)

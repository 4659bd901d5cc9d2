"""An archive of every real ZTF alert of ``../shared/data``, written batch by batch as
the pipeline writes it, shared by the package's tests (activation guard, explain),
which add no alert to it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
from pymongo.database import Database

from boom_flow.config import Settings
from tests.filters.helpers import ingest, ztf_packets


@pytest.fixture(scope="package")
def ztf_archive(stack_settings: Settings, shared_data: Path) -> Iterator[Database]:
    client: pymongo.MongoClient = pymongo.MongoClient(
        stack_settings.services.mongodb.connection_uri)
    name = f"test_ztf_archive_{uuid.uuid4().hex[:10]}"
    try:
        ingest(client[name], "ztf", shared_data, ztf_packets(shared_data), 40)
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()

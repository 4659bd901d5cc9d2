"""Health checks of the configured servers, for ``services status`` and ``doctor``.

``ping_*`` answers "is it up" cheaply; ``check_*`` does what ``boom-flow doctor``
promises: connect, read the version, and make a write/read round trip, reporting
any failure in plain words instead of a traceback.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import confluent_kafka
import pymongo
import redis
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import Settings

DOCTOR_COLLECTION = "_boom_flow_doctor"
_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class CheckResult:
    service: str
    address: str
    ok: bool
    version: str = ""
    detail: str = ""


def mongo_client(settings: Settings, timeout_s: float = _TIMEOUT_S) -> pymongo.MongoClient:
    mongo = settings.services.mongodb
    timeout_ms = int(timeout_s * 1000)
    return pymongo.MongoClient(
        mongo.connection_uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        **mongo.client_options(),
    )


def valkey_client(settings: Settings, timeout_s: float = _TIMEOUT_S) -> redis.Redis:
    return redis.Redis.from_url(
        settings.services.valkey.connection_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )


# librdkafka writes connection failures straight to stderr; route them to logging instead,
# so that "is it up?" answers stay readable.
_LIBRDKAFKA_LOG = logging.getLogger("boom_flow.librdkafka")


def kafka_admin(settings: Settings) -> AdminClient:
    return AdminClient({**settings.services.kafka.producer_config(), "logger": _LIBRDKAFKA_LOG})


def ping_mongodb(settings: Settings, timeout_s: float = 1.0) -> bool:
    with mongo_client(settings, timeout_s) as client:
        try:
            client.admin.command("ping")
        except pymongo.errors.PyMongoError:
            return False
    return True


def ping_kafka(settings: Settings, timeout_s: float = 1.0) -> bool:
    try:
        kafka_admin(settings).list_topics(timeout=timeout_s)
    except confluent_kafka.KafkaException:
        return False
    return True


def ping_valkey(settings: Settings, timeout_s: float = 1.0) -> bool:
    client = valkey_client(settings, timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


PINGS: dict[str, Callable[[Settings], bool]] = {
    "mongodb": ping_mongodb,
    "kafka": ping_kafka,
    "valkey": ping_valkey,
}


def check_mongodb(settings: Settings) -> CheckResult:
    mongo = settings.services.mongodb
    address = mongo.connection_uri
    try:
        with mongo_client(settings) as client:
            version = client.server_info()["version"]
            collection = client[mongo.database][DOCTOR_COLLECTION]
            token = uuid.uuid4().hex
            collection.insert_one({"_id": token, "checked_at": time.time()})
            found = collection.find_one({"_id": token})
            collection.delete_one({"_id": token})
    except pymongo.errors.ServerSelectionTimeoutError:
        return CheckResult("mongodb", address, False, detail=(
            f"cannot reach a MongoDB server at {address} within {_TIMEOUT_S:g} s; is it "
            "running? ('boom-flow services up' starts the embedded one)"))
    except pymongo.errors.OperationFailure as error:
        return CheckResult("mongodb", address, False, detail=(
            f"MongoDB refused the test write/read in database '{mongo.database}': "
            f"{error.details.get('errmsg', error) if error.details else error} "
            "(check the credentials and the user's roles)"))
    except pymongo.errors.PyMongoError as error:
        return CheckResult("mongodb", address, False, detail=f"MongoDB error: {error}")
    if found is None:
        return CheckResult("mongodb", address, False, version,
                           "a document written for the check could not be read back")
    return CheckResult("mongodb", address, True, version,
                       f"write/read round trip in '{mongo.database}' ok")


def check_kafka(settings: Settings) -> CheckResult:
    kafka = settings.services.kafka
    address = kafka.bootstrap
    admin = kafka_admin(settings)
    try:
        metadata = admin.list_topics(timeout=_TIMEOUT_S)
    except confluent_kafka.KafkaException:
        return CheckResult("kafka", address, False, detail=(
            f"cannot reach a Kafka broker at {address} within {_TIMEOUT_S:g} s; is it "
            "running? ('boom-flow services up' starts the embedded one)"))
    version = f"{len(metadata.brokers)} broker(s), librdkafka {confluent_kafka.libversion()[0]}"
    topic = f"_boom_flow_doctor_{uuid.uuid4().hex[:12]}"
    try:
        _kafka_round_trip(settings, admin, topic)
    except (confluent_kafka.KafkaException, TimeoutError, RuntimeError) as error:
        return CheckResult("kafka", address, False, version,
                           f"the broker answers but a produce/consume round trip failed: {error}")
    finally:
        admin.delete_topics([topic], operation_timeout=_TIMEOUT_S)
    return CheckResult("kafka", address, True, version, "produce/consume round trip ok")


def _kafka_round_trip(settings: Settings, admin: AdminClient, topic: str) -> None:
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=_TIMEOUT_S)
    payload = uuid.uuid4().bytes
    producer = confluent_kafka.Producer(
        {**settings.services.kafka.producer_config(), "logger": _LIBRDKAFKA_LOG}
    )
    producer.produce(topic, payload)
    if producer.flush(_TIMEOUT_S) != 0:
        raise TimeoutError("the test message was not acknowledged")
    # assign() rather than subscribe(): a group join would only add seconds here.
    consumer = confluent_kafka.Consumer(
        {**settings.services.kafka.consumer_config(group_id=f"{topic}-group"),
         "logger": _LIBRDKAFKA_LOG}
    )
    try:
        consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + _TIMEOUT_S
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            if message.value() == payload:
                return
        raise TimeoutError("the test message was not read back")
    finally:
        consumer.close()


def check_valkey(settings: Settings) -> CheckResult:
    address = settings.services.valkey.connection_url
    client = valkey_client(settings)
    key = f"boom_flow:doctor:{uuid.uuid4().hex}"
    try:
        info = client.info("server")
        version = str(info.get("valkey_version") or info.get("redis_version", "?"))
        client.set(key, "ok", ex=60)
        value = client.get(key)
        client.delete(key)
    except redis.ConnectionError:
        return CheckResult("valkey", address, False, detail=(
            f"cannot connect to Valkey/Redis at {address}; is it running? "
            "('boom-flow services up' starts the embedded one)"))
    except redis.RedisError as error:
        return CheckResult("valkey", address, False, detail=f"Valkey error: {error}")
    finally:
        client.close()
    if value != b"ok":
        return CheckResult("valkey", address, False, version,
                           "a key written for the check could not be read back")
    return CheckResult("valkey", address, True, version, "write/read round trip ok")


def run_doctor(settings: Settings) -> list[CheckResult]:
    return [check_mongodb(settings), check_kafka(settings), check_valkey(settings)]

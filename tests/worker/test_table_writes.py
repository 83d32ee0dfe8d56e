"""Changelog records written in bulk read back as Faust's own (the broker path runs in e2e)."""

from __future__ import annotations

import json

from faust.serializers import codecs
from faust.stores.base import SerializedStore
from faust.stores.rocksdb import Store as RocksDBStore

from streams.worker.table_writes import encode


def test_keys_and_values_are_encoded_as_faust_tables_encode_them() -> None:
    """Faust's tables use the `json` codec for keys as well as values: a raw `anchor-1` key
    breaks recovery ("Expecting value"), which is how this was found."""
    for key in ("anchor-1", "anchor-1@1795953600000", "p3", 'quo"te', "ünïcode"):
        assert encode(key) == codecs.dumps("json", key)
    value = {"v": 2, "bs": [1, 2], "w": {"1795953600000": 3}, "a": 1.5, "s": None}
    assert json.loads(encode(value)) == json.loads(codecs.dumps("json", value))


def test_the_store_methods_the_writer_calls_are_there() -> None:
    """`TableWriter` writes a RocksDB store's bytes with `_set` and `_del` and reports the
    changelog offset with `set_persisted_offset`, as Faust's own send callback does."""
    assert issubclass(RocksDBStore, SerializedStore)
    assert callable(RocksDBStore._set) and callable(RocksDBStore._del)
    assert callable(RocksDBStore.set_persisted_offset)

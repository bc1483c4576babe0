#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the golden segment files of tests/data/persist/.

An independent implementation of the message store's on-disk format (see
persist/persist_int.h), so the C reader is checked against a second writer.
The files are committed; run this only when the format changes on purpose:
    python3 tests/data/persist/gen_golden.py tests/data/persist

Every file is meant to be copied to <data_dir>/msgs/00000001.seg. Expected
outcomes are asserted in tests/unit/test_store_golden.c:
  valid.seg             queue q1 in vhost "/": seq 2 (redelivered, "two"), seq 3 ("three")
  empty.seg             0 bytes: removed, nothing recovered
  truncated_record.seg  valid.seg + the first 20 bytes of a record: truncated to valid.seg
  corrupt_crc.seg       valid.seg whose last record (the ACK of seq 1) has a bad checksum:
                        truncated before it, so seq 1 comes back too
  garbage_tail.seg      valid.seg + 100 bytes of garbage: truncated to valid.seg
  future_version.seg    valid.seg with format version 2 in the header: store_open refuses
  bad_magic.seg         valid.seg with a damaged magic: set aside as .discarded, nothing recovered
"""
import random
import struct
import sys

MAGIC = b"LVRTSEG\0"
MSG, ENQ, DLV, ACK, QUEUE, QDEL, PAD, CLEAN = range(1, 9)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def header(segno, version=1):
    h = MAGIC + struct.pack(">IIQI", version, 32, segno, 0)
    return h + struct.pack(">I", crc32c(h))


def record(rtype, payload):
    head = struct.pack(">IB", len(payload), rtype)
    return head + struct.pack(">I", crc32c(payload, crc32c(head))) + payload


def shortstr(b):
    return bytes([len(b)]) + b


def msg(mid, exchange, key, props, body):
    return record(MSG, struct.pack(">QB", mid, 0) + shortstr(exchange) + shortstr(key)
                  + struct.pack(">I", len(props)) + props + body)


def enq(qid, seq, mid, flags=0):
    return record(ENQ, struct.pack(">IQQB", qid, seq, mid, flags))


def rng(rtype, qid, seq, count):
    return record(rtype, struct.pack(">IQI", qid, seq, count))


def queue(qid, vhost, name):
    return record(QUEUE, struct.pack(">I", qid) + shortstr(vhost) + shortstr(name))


def main(out):
    props = bytes([0x10, 0x00, 0x02])  # flags: delivery-mode present; delivery_mode 2
    body = (queue(1, b"/", b"q1")
            + msg(1, b"ex", b"rk", props, b"one") + enq(1, 1, 1)
            + msg(2, b"ex", b"rk", props, b"two") + enq(1, 2, 2)
            + msg(3, b"ex", b"rk", props, b"three") + enq(1, 3, 3)
            + rng(DLV, 1, 2, 1))
    ack = rng(ACK, 1, 1, 1)
    valid = header(1) + body + ack
    files = {
        "valid.seg": valid,
        "empty.seg": b"",
        "truncated_record.seg": valid + msg(4, b"ex", b"rk", props, b"four")[:20],
        "corrupt_crc.seg": valid[:-len(ack)] + ack[:5] + bytes([ack[5] ^ 0x5A]) + ack[6:],
        "garbage_tail.seg": valid + bytes(random.Random(5).randrange(256) for _ in range(100)),
        "future_version.seg": header(1, version=2) + body + ack,
        "bad_magic.seg": b"LVRTSEX\0" + valid[8:],
    }
    for name, data in files.items():
        with open(f"{out}/{name}", "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")

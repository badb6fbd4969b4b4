#!/usr/bin/env python3
"""Write the small committed seeds under fuzz/seeds/<target>/.

Run from the repository root: python3 fuzz/seeds/make_seeds.py
The big inputs (system.xml, the test systems, every .tingu file) are not
copied here: `make fuzz` copies them into fuzz/corpus/<target>/ itself.
What this adds: the malformed-system cases of support/sdf/tests/malformed.rs
(their string literals, with the `¦` markers removed), the serial
specification with its imports bundled for tingu_compile, and binary seeds
(valid messages, fault messages, regions, plans, configs) in the targets'
input formats.
"""
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def out(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pd(name, prio):
    return (f'<protection_domain name="{name}" priority="{prio}">'
            f'<program_image path="{name}.elf" /></protection_domain>')


def unescape(s):
    return s.encode().decode("unicode_escape").encode("latin-1").decode("utf-8")


def sdf_seeds():
    src = open(os.path.join(ROOT, "support/sdf/tests/malformed.rs"), encoding="utf-8").read()
    lits = re.findall(r'"((?:[^"\\]|\\.)*<system(?:[^"\\]|\\.)*)"', src)
    for i, lit in enumerate(lits):
        s = unescape(lit).replace("¦", "")
        s = s.replace("{a}", pd("a", 10)).replace("{b}", pd("b", 20)).replace("{}", pd("c", 5))
        out("sdf_parse", f"malformed-{i:02}.xml", s)


def tingu_seeds():
    def read(rel):
        return open(os.path.join(ROOT, rel), encoding="utf-8").read()
    serial = read("drivers/serial/api/serial.tingu")
    serial = re.sub(r'import "[^"]*lifecycle.tingu";', 'import "1.tingu";', serial)
    serial = re.sub(r'import "[^"]*control.tingu";', 'import "2.tingu";', serial)
    bundle = "\0".join([serial, read("recovery/monitor/lifecycle.tingu"),
                        read("recovery/monitor/control.tingu")])
    out("tingu_compile", "serial-bundle.tingu", bundle)


def word(v):
    """A word in selfheal_fuzz::Reader::word's encoding."""
    if v < 0xc0:
        return bytes([v])
    return b"\xff" + struct.pack("<Q", v)


def binary_seeds():
    # fault_decode: arch, label (index), count, registers.
    out("fault_decode", "vm-fault", bytes([1, 6, 4]) + word(0x201000) + word(0xdead0000) + word(0) + word(0x92))
    out("fault_decode", "protocol-trap", bytes([1, 6, 4]) + word(0x1000) + word(0xE0_0104_0011) + word(0) + word(0))
    out("fault_decode", "vcpu-brk", bytes([1, 8, 1]) + word(0xf2000001))
    out("fault_decode", "unknown-syscall-x86", bytes([0, 2, 19]) + b"".join(word(i) for i in range(19)))
    # serial_messages: (label index, count, words)*.
    out("serial_messages", "requests", bytes([0, 0, 1, 3]) + word(1) + word(0) + word(5) + bytes([2, 0]))
    out("serial_messages", "replies", bytes([3, 1]) + word(7) + bytes([4, 2]) + word(1) + word(5)
        + bytes([5, 0, 6, 1]) + word(2) + bytes([7, 1]) + word(3) + bytes([8, 1]) + word(4) + bytes([9, 0]))
    # observers: which, channels a b c, now, then ops. An event op: low nibble
    # 0..9, high nibble the channel index; dir, kind, label, count, words.
    ev = lambda chi, d, k, lab, ws=(): bytes([chi << 4, d, k, lab, len(ws)]) + b"".join(word(w) for w in ws)
    # serial driver: ?open !opened ?write !written ?close !closed, save/restore, report.
    prog = (ev(0, 1, 0, 1) + ev(0, 0, 1, 4, [1]) + ev(0, 1, 0, 2, [1, 0, 5]) + ev(0, 0, 1, 5, [1, 5])
            + bytes([12, 14, 8]) + ev(0, 1, 0, 3) + ev(0, 0, 1, 6) + ev(1, 0, 2, 0) + bytes([13, 15, 2, 14, 0]))
    out("observers", "serial", bytes([0, 1, 2, 3]) + word(0) + prog)
    out("observers", "serial-client", bytes([1, 1, 2, 3]) + word(0)
        + ev(0, 0, 0, 1) + ev(0, 1, 1, 4, [1]) + ev(1, 1, 2, 0) + bytes([14, 0]))
    out("observers", "monitor", bytes([2, 1, 2, 3]) + word(0) + ev(0, 1, 2, 0) + ev(1, 0, 2, 0) + bytes([12, 14, 0]))
    out("observers", "asix", bytes([3, 1, 2, 3]) + word(0) + ev(0, 1, 0, 10) + ev(0, 0, 1, 11)
        + ev(2, 1, 0, 19, [1]) + ev(2, 0, 1, 20, [1]) + bytes([15, 2, 12, 14, 0]))
    # persist_region: mode (0 any content, 1 a life, 2 a control page), then
    # the mode's bytes.
    out("persist_region", "zeroed", bytes([0x00, 0x40]) + bytes(64))
    commit = bytes([0]) + bytes(8 * 8) + word(7)
    out("persist_region", "life", bytes([1]) + commit + bytes([2, 1]) + word(5) + bytes([3])
        + bytes([1, 0x10, 3]) + word(0xdead) + bytes([3]) + commit + bytes([4, 3]))
    out("persist_region", "control", bytes([2]) + bytes(32) + word(1) + word(1) + bytes([0]))
    # fault_plan: flags, size (x16 + rest), the region, a raw kind/site word,
    # then steps (site, action, [counter]).
    hdr = struct.pack("<III", 0x324E4C50, 3, 0) + struct.pack("<I", 0) + bytes(64)
    ents = b"".join(struct.pack("<QQHHIQ", at, 0, kind, site, 0, 0)
                    for at, kind, site in [(5, 1, 0), (1, 3, 2), (400, 9, 15)])
    plan = hdr + ents
    out("fault_plan", "three-entries", bytes([0, len(plan) // 16, len(plan) % 16]) + plan + word(0)
        + bytes([0, 0]) + word(6) + bytes([2, 1, 2, 1, 9, 2]) + bytes([0]))
    # stream_config: buffer size, scratch size, config bytes.
    cfg = struct.pack("<IIQII", 0x47464353, 1024, 1, 0, 0)
    out("stream_config", "default", struct.pack("<HH", 4096, 4096) + cfg)
    out("stream_config", "chunked", struct.pack("<HH", 100, 4096) + struct.pack("<IIQII", 0x47464353, 3, 9, 65, 1))


if __name__ == "__main__":
    sdf_seeds()
    tingu_seeds()
    binary_seeds()

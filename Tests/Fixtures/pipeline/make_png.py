#!/usr/bin/env python3
"""Writes the PNG fixtures of the preprocessing tests (stdlib only): a 4x4 gray gradient and a 2x2 RGB image."""
import struct, zlib, os

def png(path, width, height, color_type, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\0" + bytes(row) for row in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(os.path.join(os.path.dirname(os.path.abspath(__file__)), path), "wb").write(data)

png("gray-4x4.png", 4, 4, 0, [[16 * (4 * y + x) for x in range(4)] for y in range(4)])  # 0, 16, ..., 240
png("rgb-2x2.png", 2, 2, 2, [[255, 0, 0, 0, 255, 0], [0, 0, 255, 255, 255, 255]])

"""One gzip member from bytes, compressed by ISA-L outside the GIL, so on every core.

``isal_zlib.compress`` holds the GIL; ISA-L's parallel compressor (the one
behind ``isal.igzip_threaded``) does not, so threads compressing members really
run side by side. It yields raw deflate blocks and their CRC; the gzip header,
the closing block and the trailer are added here, as separate parts of the
member, so that its bytes are never copied into one more buffer. Should that compressor be
missing from an ISA-L release, the GIL-holding one is used, with the same output
format.

Members are compressed at ISA-L's strongest level, except bytes that do not
compress at all (images, columnar files, pickled arrays): level 3 spends four
times level 2's effort on them for about the same size, so a piece of a large
file whose samples show no gain gets level 2. The choice depends on the bytes
alone, so the same bytes still give the same member.
"""

from __future__ import annotations

import struct
import threading
import zlib

from isal import isal_zlib

LEVEL = 3  # ISA-L's strongest: zlib -6 sizes within ~3% at ~15x the speed
LEVEL_INCOMPRESSIBLE = 2  # about level 3's size on random data, at 4x its speed
_SAMPLED_FROM = 256 << 10  # smaller members are compressed at LEVEL unsampled
_SAMPLE = 16 << 10  # three samples this long: near the start, the middle and near the end
_EDGE = 4 << 10  # not sampled at either end: a tar header, or the padding after a file
_GAIN = 0.98  # a sample compressed to more than this share of its length shows no gain
_CAPACITY = 4 << 20  # raw bytes one thread's compressor takes at once
# No file name and no time in the header, so the same bytes give the same member.
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_CLOSING_BLOCK = isal_zlib.compress(b"", LEVEL, -15)  # an empty last block, alike at every level
_PARALLEL = getattr(isal_zlib, "_ParallelCompress", None)
_local = threading.local()


def level_for(raw: bytes | bytearray) -> int:
    """The level ``raw`` is compressed at: :data:`LEVEL` unless its samples show no gain."""
    length = len(raw)
    if length < _SAMPLED_FROM:
        return LEVEL
    view = memoryview(raw)
    middle = (length - _SAMPLE) // 2
    for start in (_EDGE, middle, length - _SAMPLE - _EDGE):
        sample = view[start : start + _SAMPLE]
        if len(isal_zlib.compress(sample, 1, -15)) < _SAMPLE * _GAIN:
            return LEVEL
    return LEVEL_INCOMPRESSIBLE


def compress_member(raw: bytes | bytearray, *, one_file: bool = False) -> tuple[bytes, ...]:
    """``raw`` as one complete gzip member, in parts.

    A piece of ``one_file`` is compressed at the level :func:`level_for`
    picks; anything else (small files together, each with its tar header and
    padding, which level 3 packs best) at :data:`LEVEL`.
    """
    level = level_for(raw) if one_file else LEVEL
    if _PARALLEL is None or len(raw) > _CAPACITY:
        return (isal_zlib.compress(raw, level, 31),)
    compressors = getattr(_local, "compressors", None)
    if compressors is None:
        compressors = _local.compressors = {}
    compressor = compressors.get(level)
    if compressor is None:
        # Deflate never grows input by more than a few bytes per 64 KiB block;
        # a tenth more room is what ISA-L's own threaded writer reserves.
        compressor = _PARALLEL(buffersize=_CAPACITY + _CAPACITY // 10, level=level)
        compressors[level] = compressor
    blocks, crc = compressor.compress_and_crc(raw, b"")
    trailer = struct.pack("<II", crc, len(raw) & 0xFFFFFFFF)
    return _HEADER, blocks, _CLOSING_BLOCK, trailer


def stored_member(raw: bytes) -> bytes:
    """``raw`` as a gzip member without compression, whose length depends only on its own."""
    packer = zlib.compressobj(0, zlib.DEFLATED, 31)
    return packer.compress(raw) + packer.flush()

"""FlatBuffers written with each distinct vector stored once, for the two runtimes whose files are FlatBuffers.

Converters write one vector per use: a shape per tensor, a zero-point list per quantized tensor, a name per constant
reference. A FlatBuffer may point any number of tables at one vector (it is a DAG, which is how FlatBuffers' own
shared strings work), so the runtime reads the same values from a smaller file.
"""
from __future__ import annotations

import numpy as np


def pack_shared(table, identifier: bytes, size_hint: int = 1024) -> bytes:
    """``table`` (a FlatBuffers object-API root, e.g. LiteRT's ``ModelT``) serialised with repeats shared.

    Byte vectors are left alone: they hold tensor data, one buffer per tensor, aligned as the converter wrote them."""
    import flatbuffers

    class SharingBuilder(flatbuffers.Builder):
        def __init__(self, size: int):
            super().__init__(size)
            self.written: dict = {}

        def _once(self, key, write):
            if key not in self.written:
                self.written[key] = write()
            return self.written[key]

        def CreateNumpyVector(self, x):  # noqa: N802 (FlatBuffers' name, called by the generated Pack methods)
            if x.dtype == np.uint8:
                return super().CreateNumpyVector(x)
            return self._once((x.dtype.str, x.tobytes()), lambda: super(SharingBuilder, self).CreateNumpyVector(x))

        def CreateString(self, s, *args, **kwargs):  # noqa: N802
            return self._once(("str", s), lambda: super(SharingBuilder, self).CreateString(s, *args, **kwargs))

    builder = SharingBuilder(size_hint)
    builder.Finish(table.Pack(builder), file_identifier=identifier)
    return bytes(builder.Output())

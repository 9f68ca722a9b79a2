"""The trace: in-memory model, its CBOR codec, SimKube msgpack interop, and format sniffing.

Constants the CLI needs while building its parsers live here, so building them does not
import the codec.
"""

COMPRESSIONS = ("zlib", "lzma", "none")
DEFAULT_COMPRESSION = "zlib"

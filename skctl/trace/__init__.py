"""The trace: in-memory model, its CBOR codec, SimKube msgpack interop, and format sniffing.

Constants the CLI needs while building its parsers live here, so building them does not
import the codec.
"""

FORMATS = ("cbor", "msgpack")  # skctl CBOR, SimKube msgpack
DEFAULT_FORMAT = "cbor"
COMPRESSIONS = ("zlib", "lzma", "none")
DEFAULT_COMPRESSION = "zlib"  # version 2's default
# skctl CBOR file format versions: 2 is one document, 3 is chunked for streaming (docs/trace-format.md)
FORMAT_VERSIONS = (2, 3)
DEFAULT_FORMAT_VERSION = 3  # what `export` and `convert` write unless --format-version says otherwise
DEFAULT_COMPRESSION_V3 = "lzma"  # raw LZMA2 per chunk (skctl.trace.format3)


def default_compression(version: int) -> str:
    return DEFAULT_COMPRESSION_V3 if version == 3 else DEFAULT_COMPRESSION

# Export defaults (SPEC section 5), shared by `skctl export`'s parser and skctl.export.
DEFAULT_EXCLUDED_NAMESPACES = (
    "cert-manager",
    "default",
    "kube-public",
    "kube-node-lease",
    "kube-system",
    "local-path-storage",
    "monitoring",
    "simkube",
)
DEFAULT_OUTPUT = "output.sktrace"
DEFAULT_TRACER_ADDRESS = "http://localhost:7777"
DEFAULT_TRACER_TIMEOUT = 60.0

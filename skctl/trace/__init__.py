"""The trace: in-memory model, its CBOR codec, SimKube msgpack interop, and format sniffing.

Constants the CLI needs while building its parsers live here, so building them does not
import the codec.
"""

FORMATS = ("cbor", "msgpack")  # skctl CBOR, SimKube msgpack
DEFAULT_FORMAT = "cbor"
COMPRESSIONS = ("zlib", "lzma", "none")
DEFAULT_COMPRESSION = "zlib"

# Export defaults (SPEC section 5), shared by `skctl export`'s parser and skctl.exporter.
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

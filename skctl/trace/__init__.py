"""The trace: in-memory model, its CBOR codec, SimKube msgpack interop, and format sniffing."""

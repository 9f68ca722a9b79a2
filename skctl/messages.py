"""User-facing text, kept in one place so wording stays consistent across commands.

Templates use str.format fields. Error messages say what was wrong and what to do.
Each concern has its own section; add new text to the section it belongs to.
"""

# --- CLI shell -----------------------------------------------------------------------
CLI_DESCRIPTION = (
    "Record and replay the Kubernetes control plane: trace a live cluster, export a time "
    "window as a trace file, and replay it against a simulation cluster of KWOK nodes."
)
USAGE_ERROR = "{prog}: error: {message} (see '{prog} --help')"
ERROR_LINE = "skctl: error: {message}"
INTERNAL_ERROR = "skctl: internal error: {detail} (rerun with -v debug for the traceback)"
INTERRUPTED = "skctl: interrupted"

# --- trace files ---------------------------------------------------------------------
TRACE_EMPTY = "{url} is empty, not a trace; export or convert a trace into it first"
TRACE_NOT_A_TRACE = (
    "{url} is not a trace file (neither skctl CBOR nor SimKube msgpack); check the path"
)
TRACE_CORRUPT = "{url} is corrupt or truncated ({detail}); re-export or re-download it"
TRACE_BAD_SHAPE = "{url} is not a valid trace: {detail}"
TRACE_UNKNOWN_VERSION = (
    "{url} uses {kind} trace format version {version}, but this skctl reads versions {supported}; "
    "upgrade skctl or convert the trace"
)
TRACE_UNKNOWN_COMPRESSION = "{url} uses compression '{name}', which this skctl does not know; upgrade skctl"

# --- storage -------------------------------------------------------------------------
STORAGE_UNKNOWN_SCHEME = (
    "unsupported URL scheme '{scheme}' in {url}; use a path, file://, memory://, s3://, gs://, gcs://, az:// or abfs://"
)
STORAGE_BAD_URL = "malformed URL {url}: {detail}"
STORAGE_NOT_FOUND = "no file at {url}; check the path or URL"
STORAGE_IS_DIRECTORY = "{url} is a directory; give the path of a trace file"
STORAGE_PERMISSION = "permission denied for {url}: {detail}"
STORAGE_NO_CREDENTIALS = (
    "no credentials for {url} ({detail}); set the backend's standard environment variables "
    "or pass --storage-option"
)
STORAGE_READ_FAILED = "could not read {url}: {detail}"
STORAGE_WRITE_FAILED = "could not write {url}: {detail}; nothing was written there"
STORAGE_BAD_OPTION = "bad --storage-option '{option}': expected key=value"
STORAGE_MISSING_BACKEND = "the {scheme}:// backend needs the '{package}' package, which is not installed"

# --- convert / xray ------------------------------------------------------------------
CONVERT_DONE = "wrote {fmt} trace to {url} ({size} bytes, {events} events)"

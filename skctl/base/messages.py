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
# argparse type= checks (skctl.cli.argtypes); argparse prefixes "argument --flag: "
BAD_PORT = "'{value}' is out of range; use 0-{max} (0 picks a free port)"
BAD_POSITIVE_NUMBER = "'{value}' must be a number greater than 0"
BAD_POSITIVE_INT = "'{value}' must be a whole number of at least 1"
BAD_COUNT = "'{value}' must be a whole number from 1 to {max}"
BAD_SIZE = "'{value}' is not a size; use bytes or a quantity such as 4Gi or 500Mi (1Ki to 8Pi)"
BAD_UNIX_SECONDS = "'{value}' is not whole unix seconds"
UNIX_SECONDS_OUT_OF_RANGE = "'{value}' is outside 1970-01-01 .. 9999-12-31{hint}"
ERROR_LINE = "skctl: error: {message}"
VERSION_LINE = "skctl {version}"  # --version and `skctl version`
INTERNAL_ERROR = "skctl: internal error: {detail} (rerun with -v debug for the traceback)"
# An ImportError while a command runs: files of the installation went missing (for the pyz,
# from its unpacked copy, e.g. by a temporary-file cleaner).
MISSING_MODULE = (
    "skctl: error: part of skctl's installation is missing ({detail}): reinstall it; "
    "for dist/skctl.pyz, run it once with SHIV_FORCE_EXTRACT=1 to unpack it again"
)
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
TRACE_BAD_VERSION = (
    "{url} has format version {version!r} ({kind}), which is not a version number; it is not a trace this skctl "
    "can read (it reads versions {supported})"
)
TRACE_UNKNOWN_COMPRESSION = "{url} uses compression '{name}', which this skctl does not know; upgrade skctl"
TRACE_BOMB = (
    "{url} expands past {limit} when decompressed (from {size} compressed bytes), far more than a real "
    "trace; if it really is one, pass --max-trace-size with a larger size"
)
TRACE_BOMB_SET = "{url} expands past --max-trace-size ({limit}) when decompressed"
TRACE_TOO_LARGE_SET = "{url} is larger than --max-trace-size ({limit})"
TRACE_TOO_LARGE = (
    "{url} is larger than {limit}, more than skctl reads as a trace; if it really is one, "
    "pass --max-trace-size with a larger size"
)
TRACE_BAD_COMPRESSION_CHOICE = "unknown compression '{name}'; use one of {choices}"

# --- storage -------------------------------------------------------------------------
STORAGE_UNKNOWN_SCHEME = (
    "unsupported URL scheme '{scheme}' in {url}; use a path, file://, memory://, s3://, gs://, gcs://, az:// or abfs://"
)
STORAGE_BAD_URL = "malformed URL '{url}': {detail}"
STORAGE_NOT_FOUND = "no file at {url}; check the path or URL"
STORAGE_IS_DIRECTORY = "{url} is a directory; give the path of a trace file"
STORAGE_DASH = "'-' is not a destination: to write the trace to standard output use /dev/stdout, for a file named - use ./-"
STORAGE_PERMISSION = "permission denied for {url}: {detail}"
STORAGE_NO_CREDENTIALS = "no credentials for {url} ({detail}); set {hint}, or pass them with --storage-option"
STORAGE_READ_FAILED = "could not read {url}: {detail}"
STORAGE_WRITE_FAILED = "could not write {url}: {detail}; nothing was written there"
STORAGE_BAD_OPTION = "bad --storage-option '{option}': expected key=value"
STORAGE_OPTION_TOO_DEEP = "--storage-option {key}: the value nests too deeply to be an option; give a plain value or flat JSON"
STORAGE_MISSING_BACKEND = "the {scheme}:// backend needs the '{package}' package, which is not installed"
STORAGE_UNREACHABLE = (
    "cannot reach the storage service for {url} ({detail}); check the endpoint "
    "(e.g. AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST, the connection string) and the network, then retry"
)
STORAGE_STALLED = (
    "the storage service stopped taking data for {url}: nothing was sent for {seconds:g}s; check the service "
    "and the network, or allow longer with --storage-option stall_timeout=SECONDS; nothing was written there"
)
STORAGE_BAD_OPTIONS = "bad storage options for {url}: {detail}; check the --storage-option flags"
STORAGE_BAD_SETTINGS = (
    "bad storage settings for {url}: {detail}; check the URL, the --storage-option flags and the backend's "
    "environment variables (e.g. AWS_ENDPOINT_URL, AZURE_STORAGE_CONNECTION_STRING)"
)
STORAGE_NO_BUCKET = (
    "cannot write {url}: the bucket or container '{bucket}' does not exist; create it first or fix the URL "
    "(nothing was written)"
)

# --- convert / xray ------------------------------------------------------------------
CONVERT_DONE = "wrote {fmt} trace to {url} ({size} bytes, {events} events)"
XRAY_NO_SUCH_OBJECT = "the trace has no object {key}; `skctl xray --events TRACE` lists every object it mentions"
XRAY_BAD_OBJECT = "--object takes NAMESPACE/NAME (or NAME for a cluster-scoped object), not {value!r}"
XRAY_TOO_MANY_BUCKETS = (
    "--bucket {width}s makes {count} timeline buckets over the trace's {span}s; the most is {limit}: "
    "give a wider --bucket, or leave it out to get at most 30"
)
XRAY_TUI_NEEDS_TTY = "--browse needs a terminal; use --events, --object or --json in scripts"

# --- run/drive -----------------------------------------------------------------------
CONFIG_BAD_YAML = "tracer config {source} is not valid YAML: {detail}"
CONFIG_TOO_LARGE = "tracer config {source} is larger than {limit}, far more than a config; check the path"
CONFIG_EMPTY = "tracer config {source} is empty (a FIFO without a writer reads as empty); give a file with trackedObjects"
CONFIG_TOO_DEEP = "tracer config {source} is nested too deeply to be a tracer config; check the file"
CONFIG_BAD = "bad tracer config {source}: {detail}"
CONFIG_PATH_DISAGREES = (
    "bad tracer config {source}: podSpecTemplatePaths {paths} for {gvk} disagrees with the built-in "
    "path {builtin}; remove the entry or fix the path"
)
RUN_BAD_NAME = (
    "invalid simulation name '{name}': use a DNS-1123 label (lowercase letters, digits and '-', "
    "starting and ending with a letter or digit, at most {max} characters)"
)
RUN_BAD_NODES = "--nodes '{value}' is not one of {choices}"
RUN_BAD_TRACE_PATH = "cannot mount --trace-path {url}: {detail}"
RUN_BAD_PYZ_PATH = "cannot mount --skctl-pyz {url}: {detail}"
RUN_BAD_SPEED = "--speed must be a number from 0.000001 to 1000000, not '{value}'"
RUN_BAD_DURATION = "bad duration '{value}': use e.g. 90s, 10m, 1h30m or a number of seconds"
DURATION_OUT_OF_RANGE = "duration '{value}' is out of range: use 1us to {max_days:g}d"
RUN_BAD_MILLIS = "'{value}' is not a whole number of milliseconds from 0 to 4294967295 (SimKube's u32)"
RUN_BAD_REPETITIONS = "--repetitions must be a whole number from 1 to 2147483647, not '{value}'"
RUN_BAD_IMAGE = (
    "invalid --driver-image {image!r}: Kubernetes refuses an image with leading or trailing whitespace "
    "or bytes that are not UTF-8; give an image reference such as ghcr.io/org/skctl:1.0"
)
RUN_BAD_SECRET = "invalid secret name '{name}' in --driver-secrets; use DNS-1123 subdomain names separated by commas"
RUN_BAD_NAMESPACE = "invalid {flag} '{value}': use a DNS-1123 label"
RUN_LABEL_TOO_LONG = "{flag} '{value}' is longer than {max_len} characters; use a shorter one"
RUN_APPLIED = "simulation {name}: applied {count} objects; driver Job {namespace}/{job}"
RUN_WAITING = "waiting for driver Job {namespace}/{job} ({completions} run(s))"
RUN_PROGRESS = "driver Job {namespace}/{job}: {succeeded}/{completions} succeeded, {active} running, {failed} failed"
RUN_JOB_SUCCEEDED = "simulation {name} finished: {succeeded}/{completions} run(s) succeeded"
RUN_JOB_FAILED = "simulation {name} failed: driver Job {namespace}/{job} reports {reason}; see the log lines above"
RUN_LOG_HEADER = "last driver log lines ({pod}):"
RUN_JOB_CONFLICT = (
    "simulation {name} already exists in namespace {namespace} with different settings (a Job's pod template "
    "cannot change); run `skctl delete {name}` first or pick another name"
)
RUN_JOB_VANISHED = "driver Job {namespace}/{job} disappeared while waiting for it (deleted by someone?)"
RUN_UNSCHEDULABLE = "driver pod {namespace}/{pod} cannot be scheduled: {reason}"
RUN_SCHEDULE_TIMEOUT = (
    "driver pod {namespace}/{pod} could not be scheduled for {timeout}: {reason}; make room for it and run "
    "again (`skctl delete {name}` removes the Job), or wait longer with --schedule-timeout"
)
RUN_WAIT_TIMEOUT = (
    "driver Job {namespace}/{job} did not finish within {timeout}; it keeps running (check it with kubectl); "
    "raise --wait-timeout to wait longer"
)
KUBE_UNREACHABLE = "cannot reach the Kubernetes API server at {host}: {detail}; check --kubeconfig/--context and that the cluster is up"
KUBE_NOT_AN_API_SERVER = (
    "the server at {host} is not a Kubernetes API server ({detail}); check --kubeconfig/--context"
)
KUBE_CONFIG_TOO_LARGE = (
    "kubeconfig {path} expands to more than {limit} YAML nodes (anchors and aliases repeated many times, "
    "a YAML bomb); write it without nested aliases"
)
KUBE_BAD_CONFIG = "kubeconfig {path} is malformed: {detail}; fix it (kubectl config view shows what kubectl reads)"
KUBE_EXEC_TIMEOUT = (
    "the kubeconfig user's credential plugin {plugin} gave no answer within --exec-timeout ({timeout}); "
    "check that it works on its own, or allow it more time with --exec-timeout"
)
KUBE_EXEC_FAILED = (
    "the kubeconfig user's credential plugin {plugin} failed: {detail}; "
    "check that it works on its own (a login may have expired)"
)
KUBE_BAD_CREDENTIAL = (
    "the kubeconfig's credentials for {server} ({what}) hold a line break or control character, which no HTTP "
    "header can carry; remove it (often a trailing newline from `echo` or a copied file); the value is not shown"
)
KUBE_BAD_PROXY = (
    "the kubeconfig's proxy-url {url!r} is not a usable proxy URL ({detail}); use http://, https:// or socks5://HOST:PORT"
)
KUBE_NO_CONFIG = "no Kubernetes client configuration: {detail}; pass --kubeconfig, set KUBECONFIG, or run in a cluster"
KUBE_API_ERROR = "the Kubernetes API server refused {what}: {status} {detail}"
KUBE_INSECURE = "TLS certificates of {host} are not verified (insecure-skip-tls-verify in the kubeconfig)"
KUBE_UNKNOWN_KIND = "the cluster does not serve {gvk}; install its CRD or leave it out of the trace"
DRIVE_START = "simulation {name}: replaying {events} events over {span}s of trace time at speed {speed} ({wall:.1f}s)"
DRIVE_DONE = "simulation {name}: replayed {events} events, {applied} applies, {deleted} deletes; cleaned up"
DRIVE_BEHIND = (
    "simulation {name}: {lag:.1f}s behind the trace (event at ts {ts}): the cluster takes writes slower "
    "than the trace makes them; a lower --speed keeps the replay faithful"
)
DRIVE_LAGGED = "simulation {name}: at worst {lag:.1f}s behind the trace; a lower --speed keeps the replay faithful"
DRIVE_POD_WATCH_FAILED = "cannot watch the cluster's pods, which the driver must to place and complete them: {detail}"
DRIVE_STOPPED = "simulation {name}: stopped by {signal} after {events} events; cleaned up"
DRIVE_CLEANUP_TIMEOUT = "simulation {name}: namespaces {namespaces} still exist after {timeout}s of cleanup; delete them by hand"
DRIVE_NAMESPACE_TAKEN = (
    "virtual namespace {namespace} already exists and belongs to {owner}; "
    "give this simulation its own --virtual-ns-prefix"
)
DRIVE_BAD_VIRTUAL_NAMESPACE = (
    "virtual namespace '{namespace}' is not a valid namespace name (a DNS-1123 label of at most 63 characters); "
    "use a shorter --virtual-ns-prefix"
)
DRIVE_FORBIDDEN = (
    "the driver may not {missing}, which the replay needs; the driver's ClusterRole {role} aggregates every "
    "ClusterRole labelled {label}=true, so add one: `kubectl create clusterrole {extra} --verb={verbs} "
    "--resource={resources}` and `kubectl label clusterrole {extra} {label}=true` (docs/run.md)"
)
DRIVE_ACCESS_UNCHECKED = (
    "the API server answers no SelfSubjectAccessReview (not served, or not allowed for this user): the driver's "
    "permissions are not checked before the replay"
)
DRIVE_BAD_OBJECT = "the trace's {gvk} {name} cannot be replayed: its pod template is malformed ({detail})"
DRIVE_NO_RECORDED_NODES = (
    "--nodes trace: the trace carries no recorded nodes (recorded with --no-starting-state, by SimKube, "
    "or before skctl recorded the starting state); use --nodes cluster"
)
DRIVE_NODES_NOT_READY = (
    "{count} of the simulation's nodes (first: {first}) are not Ready after {timeout}s; replaying anyway. "
    "Is KWOK running with --manage-nodes-with-label-selector=type=virtual?"
)
DRIVE_NODES_CREATED = "simulation {name}: created {nodes} nodes shaped like the recorded ones"
DRIVE_EMPTY_TRACE = "{url} holds no events; nothing to replay"
DRIVE_FAILURES = "simulation {name}: {count} apply/delete call(s) failed (first: {first}); cleaned up"
DELETE_DONE = "simulation {name}: deleted {what}"
DELETE_TERMINATING = "simulation {name}: namespaces {namespaces} are already being deleted (Terminating)"
DELETE_MISSING = (
    "no simulation named {name} (no driver Job in namespace {namespace} and no virtual namespaces); "
    "check the name and --driver-namespace"
)

# --- pause/resume, hooks, bare pods, SimKube-only flags (skctl.sim.pause, skctl.sim.hooks) ---
PAUSE_NO_JOB = "no simulation {name}: there is no driver Job {namespace}/{name} (see --driver-namespace)"
PAUSE_ALREADY = "simulation {name} is already paused (since {since})"
PAUSE_NOT_PAUSED = "simulation {name} is not paused"
PAUSE_DONE = "simulation {name}: paused (driver Job {namespace}/{name}); `skctl resume {name}` continues it"
RESUME_DONE = "simulation {name}: resumed (driver Job {namespace}/{name})"
DRIVE_PAUSED = "simulation {name} is paused; replay time stands still until `skctl resume {name}`"
DRIVE_RESUMED = "simulation {name} resumed after {seconds:.1f}s paused"
DRIVE_START_PAUSED_NO_JOB = (
    "--start-paused needs the driver Job {namespace}/{name} to hold the pause (skctl run makes it; for a "
    "driver run by hand, create a suspended Job of that name or leave --start-paused out)"
)
HOOKS_BAD_FILE = "bad hooks file {path}: {detail}"
HOOKS_NO_FILE = "no hooks file at {path}; check the path (--hooks takes FILE[:FILE...])"
HOOKS_BAD_ENV = "bad hooks in ${var}: {detail}"
HOOK_RUNNING = "running {stage} hook: {command}"
HOOK_OUTPUT = "{stage} hook {cmd}: {line}"
HOOK_FAILED = "{stage} hook `{command}` failed ({status}); set ignoreFailure: true on it to go on regardless"
HOOK_IGNORED = "{stage} hook `{command}` failed ({status}); ignored (ignoreFailure: true)"
HOOK_NOT_FOUND = "command not found"
BARE_POD_RESCHEDULED = "bare pod {namespace}/{pod} was deleted while Running; recreated it as {clone}"
BARE_POD_RESCHEDULE_FAILED = "bare pod {namespace}/{pod} was deleted while Running; could not recreate it: {detail}"
RUN_SIMKUBE_ONLY_FLAGS = (
    "skctl: note: {flags} ignored: skctl runs no admission webhook and no metrics operator (docs/simkube.md)"
)

# --- export --------------------------------------------------------------------------
EXPORT_TIME_IN_DST_GAP = (
    "{flag}: '{value}' does not exist in local time (the clocks skipped it for daylight saving); "
    "give a time outside the gap or with an offset, e.g. Z or +01:00"
)
EXPORT_TIME_OUT_OF_RANGE = "{flag}: '{value}' is outside 1970-01-01 .. 9999-12-31{hint}"
EXPORT_MILLISECONDS_HINT = "; unix times are in seconds, was it milliseconds?"
EXPORT_TIME_FORMS = (
    "now, a duration such as -30m, -1h30m or +5m (start: relative to the end time; end: relative to now), "
    "an ISO 8601 time such as 2024-05-01T12:00:00Z (no offset = local time), a date such as 2024-05-01, "
    "unix seconds, or GNU date's @1714564800, '2 hours ago', '1 day 3 hours ago', yesterday, today"
)
EXPORT_BAD_TIME = "{flag}: cannot understand '{value}'; use " + EXPORT_TIME_FORMS
EXPORT_EMPTY_WINDOW = (
    "the export window is empty: --start-time {start} ({start_iso}) is not before --end-time {end} ({end_iso}); "
    "give a start earlier than the end"
)
EXPORT_BAD_SELECTOR = "--excluded-labels: bad label selector '{selector}': {detail}"
EXPORT_BAD_NAMESPACE = "--excluded-namespaces: '{name}' is not a valid namespace name; give a comma-separated list"
EXPORT_BAD_FILTERS = "bad export filters: {detail}"
EXPORT_BAD_TRACER_URL = "--tracer-address: '{url}' is not an http(s) URL; use e.g. http://localhost:7777"
EXPORT_TRACER_UNREACHABLE = (
    "cannot reach the tracer at {url} ({detail}); start `skctl trace`, check --tracer-address, "
    "or cut the window from a trace file with --from"
)
EXPORT_TRACER_TIMEOUT = "the tracer at {url} did not answer within {timeout}s; retry, or raise --tracer-timeout"
EXPORT_TRACER_REDIRECTED = (
    "the tracer at {url} answered with a redirect (HTTP {status}) to {location!r}; a tracer answers exports "
    "itself: point --tracer-address at the tracer, not at what is in front of it"
)
EXPORT_TRACER_REJECTED = "the tracer at {url} rejected the export request: HTTP {status}: {body}"
EXPORT_TRACER_FAILED = "the tracer at {url} failed to export: HTTP {status}: {body}; check the tracer's logs"
EXPORT_TRACER_NOT_CBOR = (
    "the tracer at {url} answered something that is not a CBOR trace ({detail}); check --tracer-address"
)
EXPORT_TRACER_WRITES_LOCAL = (
    "--tracer-writes needs a cloud --output (s3://, gs://, az://) the tracer can write to, not {url}"
)
EXPORT_TRACER_WROTE_NOTHING = (
    "the tracer answered as if it had written {url}, but there is nothing there; check the tracer's "
    "credentials and logs"
)
EXPORT_TRACER_BROKEN = "the tracer at {url} sent an unusable trace: {detail}"
EXPORT_START_MOVED = (
    "note: the recording begins at {first} ({first_ts}), after --start-time {start} ({start_ts}); "
    "the window starts at the recording's first event"
)
EXPORT_DONE = (
    "exported {events} events, {objects} objects, {owners} pod-lifecycle owners for [{start}, {end}) "
    "to {url} ({size} bytes, {fmt})"
)

# --- trace transforms (SimKube's SKEL: skctl.trace.skel, `transform`, `export --transform`) ---
SKEL_SYNTAX = "{origin}: syntax error at line {line}, column {column}: unexpected {what}"
SKEL_UNFINISHED = "{origin}: the program ends inside a command (a missing ')' or ';'?)"
SKEL_IN = "{origin}: {detail}"
SKEL_BAD_VARIABLE = "'{name}' cannot be assigned to: a variable is $ and a name, e.g. $x"
SKEL_VAR_TWICE = "variable {var} already defined"
SKEL_VAR_UNDEFINED = "variable {var} not defined"
SKEL_VAR_LHS = "variable {var} is not present in selector {path} on left-hand side"
SKEL_BOUND_VAR = "{var} := {path}: the path a variable is bound to starts at the object, not at another variable"
SKEL_MANY_VALUES = "only one matched value allowed in modify context: values = {values}"
SKEL_WHOLE_OBJECT = "cannot replace the whole object"
SKEL_CANNOT_SET = "cannot set {path}: its parent is not an object or the index is out of range"
SKEL_APPLY_FAILED = "{command} on {kind} {name} at {ts}: {detail}"
SKEL_NO_FILE = "no transform program at {path}; check the path"
SKEL_IS_DIR = "{path} is a directory; give the path of a transform program"
SKEL_NOT_TEXT = "{path} is not UTF-8 text; a transform program is text"
SKEL_READ_FAILED = "could not read the transform program {path}: {detail}"
TRANSFORM_DONE = "transformed {events_in} events into {events} ({objects} objects left) with {program}; wrote {url}"
TRANSFORM_BOTH_OUTPUTS = "give the output once: as the second argument with --program, or with -o/--output"

# --- demo ----------------------------------------------------------------------------
DEMO_DESCRIPTION = (
    "Record, export and replay without a cluster: start two loopback API servers in this process, "
    "'production' (running a workload: Deployments scaling, a CronJob spawning Jobs, bare pods, a "
    "custom resource) and 'simulation'; trace production for --seconds as `skctl trace` does, export "
    "the window as `skctl export` does, show it as `skctl xray` does, print the manifests `skctl run "
    "--dry-run` would apply, replay it on the simulation as `skctl drive` does at --speed, and compare "
    "what was recorded with what the simulation received. Exits 1 if they differ. See docs/getting-started.md."
)
EXAMPLE_TOO_LATE = (
    "--start-ts {start} leaves no room for {events} events before 9999-12-31 (a trace's last time); "
    "use a --start-ts of at most {latest}"
)
DEMO_BAD_SECONDS = "--seconds must be a duration from 1s to {max}, not '{value}'"
DEMO_KEEP_NOT_DIR = "--keep {path} exists and is not a directory; name a new or empty directory"
DEMO_KEEP_NOT_EMPTY = (
    "--keep {path} is not empty and was not made by skctl demo; name a new or empty directory "
    "(nothing in it was changed)"
)
DEMO_WRITE_FAILED = "could not write {path}: {detail}; free some space or choose another --keep"
DEMO_KEEP_EMPTY = "--keep needs a directory name"
DEMO_KEEP_FAILED = "cannot use --keep {path}: {detail}"
DEMO_NOTHING_RECORDED = "the tracer recorded nothing in {seconds}s; try a longer --seconds"
DEMO_MISMATCH = "the simulation does not match the recording: {rows}"
DEMO_MATCH = "recording and simulation match: {objects} objects, {versions} versions of their specs, {deletes} deletes"
DEMO_DRIVE_FAILURES = "{count} applies or deletes of the replay failed (first: {first})"
DEMO_CATCH_UP = (
    "the tracer had not caught up with production {seconds:g}s after the workload stopped, so its trace "
    "would not be comparable; is the machine overloaded? try again, or a shorter --seconds"
)
DEMO_RECORDED = "recorded {changes} changes of objects ({kinds})"
DEMO_EVENTS_ARE_SECONDS = "(a trace event holds every change of one second, so there are fewer events than changes)"
DEMO_MANIFESTS_TEMPORARY = (
    "(without --keep the trace these manifests mount is in the temporary directory, removed at the end)"
)
DEMO_LIFECYCLES_NOT_COMPARED = (
    "pod lifecycles in the trace (replayed by KWOK on a real cluster; not compared: the sandbox runs no pods):"
)
DEMO_KEPT = "files kept in {path}: trace, journal, kubeconfigs, tracer config and manifests"

# --- sandbox API server --------------------------------------------------------------
SANDBOX_DESCRIPTION = (
    "Run a loopback Kubernetes API server (discovery, CRUD, patch, server-side apply, watch with "
    "bookmarks and 410 Gone, fault injection) for trying skctl without a cluster and for tests. "
    "It is not a whole Kubernetes (no scheduler, kubelet, defaulting or admission; see docs/sandbox.md). "
    "Bodies are JSON only: kubectl 1.32+ generator commands (kubectl create namespace|deployment|configmap) "
    "send protobuf and get 415; use kubectl create -f FILE or kubectl apply -f FILE instead. "
    "Serves until Ctrl-C or SIGTERM."
)
SANDBOX_LISTENING = "sandbox API server listening on {url}"
SANDBOX_KUBECONFIG_WRITTEN = "kubeconfig written to {path} (context skctl-sandbox); use KUBECONFIG={path}"
SANDBOX_KUBECONFIG_FAILED = "could not write the kubeconfig {path}: {detail}; choose a writable path"
SANDBOX_WORKLOAD = "workload '{name}' running at {rate} actions/s (seed {seed})"
SANDBOX_STOPPED = "sandbox stopped"
SANDBOX_NOT_LOOPBACK = "--host {host} is not a loopback address; the sandbox only binds to 127.0.0.1, ::1 or localhost"
SANDBOX_LISTEN_FAILED = "cannot listen on {host}:{port}: {detail}; pick another --port, or --port 0 for a free one"
SANDBOX_TLS_UNAVAILABLE = "--tls needs the 'cryptography' package, which is not installed; install it or drop --tls"

# --- tracer (skctl trace) ------------------------------------------------------------
TRACE_SECRET_REFUSED = (
    "the tracer config tracks {gvk}: Secret data is never recorded; remove it from trackedObjects"
)
TRACE_KIND_NOT_SERVED = (
    "the cluster does not serve {gvk}; install its CRD first, fix the config, or pass --wait-for-crds"
)
TRACE_BAD_LISTEN = "--listen '{value}' is not HOST:PORT with a port from 0 to 65535"
TRACE_JOURNAL_NOT_LOCAL = (
    "--journal {value!r} is not a local directory: the tracer journals to local disk "
    "(a path or file:///dir); -o URL writes the recording to object storage when it stops"
)
TRACE_LISTEN_FAILED = "cannot listen on {host}:{port}: {detail}; pick another --listen address"
TRACE_JOURNAL_CLOSE_FAILED = (
    "could not flush the journal in {path}: {detail}; what was flushed before is kept (free some space)"
)
TRACE_BAD_JOURNAL = "cannot use journal directory {path}: {detail}"
TRACE_LISTENING = "tracer API listening on http://{host}:{port}"
TRACE_STARTED = "tracing {kinds} (journal {journal}, retention {retention})"
TRACE_RESTORED = "journal {journal}: replayed {records} records"
TRACE_STOPPED = "tracer stopped by {reason}: {events} events recorded; journal {journal} flushed"
TRACE_WRITTEN = "wrote the recording ({events} events) to {url} ({size} bytes)"
TRACE_JOURNAL_BUSY = "{detail}; stop it first or give this tracer its own --journal"
TRACE_STATE_NOT_SERVED = (
    "the cluster does not serve {gvk}: the traces carry no starting state for it"
)
TRACE_NO_METRICS_API = (
    "the cluster does not serve the resource metrics API ({api}): no pod usage is recorded "
    "(install metrics-server to record it; the tracer looks again every sampling interval)"
)
TRACE_STATE_FAILED = (
    "cannot watch {gvk} for the starting state ({detail}): the traces carry none for it; "
    "grant the tracer list/watch on it, or pass --no-starting-state"
)
TRACE_BAD_JOURNAL_FORMAT = "{detail}; point --journal at an skctl journal directory or a new one"
TRACE_JOURNAL_OTHER_CLUSTER = (
    "journal {path} belongs to the cluster at {theirs} (kube-system UID {their_uid}), not to this one at {ours} "
    "(kube-system UID {our_uid}); give each cluster its own --journal"
)
TRACE_IDENTITY_UNKNOWN = (
    "cannot read namespace kube-system ({detail}): the journal's cluster identity is not checked or recorded; "
    "grant get on it (deploy/tracer.yaml does)"
)

# --- validate -------------------------------------------------------------------------
VALIDATE_UNKNOWN_CODE = "unknown validation code '{code}'; the codes are {codes} (`skctl validate print` lists them)"
VALIDATE_CLEAN = "{url}: no validation findings"
VALIDATE_SUMMARY_HEADER = "Validation findings in {url}:"
VALIDATE_FIXED = "wrote the corrected trace to {url} ({fixed} objects changed; {remaining} findings left)"

# --- simulation reports (skctl.report, `drive --report`, `report show|diff`) -----------
REPORT_NOT_A_REPORT = "{url} is not a skctl simulation report (report.json from `skctl drive --report`)"
REPORT_UNKNOWN_VERSION = (
    "{url} is a report of schema {schema!r}, but this skctl reads {supported}; use the skctl that wrote it"
)
REPORT_WRITTEN = "report written to {json} and {html}"
REPORT_DIFF_WRITTEN = "diff page written to {html}"
REPORT_RECORDER_STARTED = "simulation {name}: recording a report of the replay ({namespaces} virtual namespaces watched)"
SLO_BAD_EXPRESSION = (
    "--slo '{expr}' is not a gate (near '{at}'); write METRIC OP VALUE, e.g. pod_startup_p99<=5s, "
    "fidelity>=0.99 or candidate.pod_startup_p99<=1.1*baseline.pod_startup_p99"
)
SLO_NEEDS_ONE_OPERATOR = "--slo '{expr}' needs exactly one comparison ({ops})"
SLO_NO_METRIC = "--slo '{expr}' names no metric; compare a metric with a value, e.g. unschedulable_max==0"
SLO_UNKNOWN_METRIC = "--slo '{expr}': unknown metric '{metric}'; the metrics are {metrics}"
SLO_BAD_UNIT = "--slo '{expr}': unknown unit '{unit}'; use ms, s, m, h for times or % for shares"
SLO_BAD_RUN = "--slo '{expr}': '{run}.' must be 'baseline.' or 'candidate.'"
SLO_RUN_OUTSIDE_DIFF = "--slo '{expr}': '{run}.' only makes sense in `skctl report diff`; name the metric alone"
SLO_VIOLATED = "skctl: SLO violated: {expr} ({detail})"
DRIVE_SLO_WITHOUT_REPORT = "--slo needs --report DEST: gates are checked against the report of the replay"

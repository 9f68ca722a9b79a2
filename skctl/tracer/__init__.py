"""`skctl trace`: record a live cluster (SPEC section 4).

Data flow: watch loops (`recorder`, over `skctl.kube.watch`) → `store` (sanitise, spec
hashes, owner chains through `owners`, pod lifecycles from `objects`) → `journal` (CBOR
segments on disk) and the HTTP API (`server`), which cuts windows with
`skctl.trace.window`, the same code `skctl export --from` uses. `client` is the other
end of that API: how `skctl export` asks a running tracer for a window.
"""

# The default config when `skctl trace` gets none (`skctl trace --print-default-config`).
DEFAULT_CONFIG_YAML = """\
trackedObjects:
  apps/v1.Deployment:
    trackLifecycle: true
  apps/v1.StatefulSet:
    trackLifecycle: true
  apps/v1.DaemonSet:
    trackLifecycle: true
  batch/v1.Job:
    trackLifecycle: true
  batch/v1.CronJob:
    trackLifecycle: true
  v1.Pod:
    skipOwned: true
    trackLifecycle: true
  autoscaling/v2.HorizontalPodAutoscaler: {}
"""
DEFAULT_LISTEN = "127.0.0.1:7777"
DEFAULT_RETENTION = "24h"

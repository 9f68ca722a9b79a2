"""Talking to a Kubernetes API server with the official client, on raw JSON dicts.

`client.connect()` builds an ApiClient from a kubeconfig (or in-cluster service account);
`api.Kube` wraps it with discovery-based GVK → resource mapping, server-side apply,
delete tolerating 404, and the error policy (one-line Operational/Input errors).
"""

"""Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation), in one place.

Every check of a namespace, object name, label key or label value goes through here, so
the sandbox, the export filters, `run`'s options and the driver give the same answer a real
API server gives. Lengths are part of each rule: a 64-character label is not a label.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63  # namespace names, Service names, label-key name parts
DNS1123_SUBDOMAIN_MAX = 253  # most object names, label-key prefixes
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63  # the part of a label key after the optional "prefix/"
# The characters of generated name suffixes (generateName, pod-template-hash, pod names):
# apimachinery's util/rand alphabet, without vowels and look-alike digits.
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_DNS1123_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def is_dns1123_label(value: object) -> bool:
    """RFC 1123 label: lower-case alphanumerics and '-', alphanumeric at both ends, at most 63."""
    return (
        isinstance(value, str)
        and len(value) <= DNS1123_LABEL_MAX
        and _DNS1123_LABEL_RE.fullmatch(value) is not None
    )


def is_dns1123_subdomain(value: object) -> bool:
    """RFC 1123 subdomain: dot-separated DNS labels, at most 253 characters in all."""
    return (
        isinstance(value, str)
        and len(value) <= DNS1123_SUBDOMAIN_MAX
        and _DNS1123_SUBDOMAIN_RE.fullmatch(value) is not None
    )


def qualified_name_error(key: str) -> str | None:
    """Why `key` is not a valid label key (`[prefix/]name`), or None when it is."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if "/" in prefix:
            return "a label key has at most one '/'"
        if not prefix:
            return "the prefix before '/' must not be empty"
        if not is_dns1123_subdomain(prefix):
            return f"the prefix '{prefix}' must be a DNS-1123 subdomain of at most {DNS1123_SUBDOMAIN_MAX} characters"
    if not name:
        return "the name part must not be empty"
    if len(name) > QUALIFIED_NAME_MAX:
        return f"the name part must be at most {QUALIFIED_NAME_MAX} characters"
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        return "the name part must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
    return None


def label_value_error(value: str) -> str | None:
    """Why `value` is not a valid label value (empty is valid), or None when it is."""
    if len(value) > LABEL_VALUE_MAX:
        return f"must be at most {LABEL_VALUE_MAX} characters"
    if value and not _QUALIFIED_NAME_RE.fullmatch(value):
        return "must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
    return None


def truncate_label_value(text: str) -> str:
    """`text` cut to a valid label value's length, ending on an alphanumeric (how SimKube
    turns an object name into `app.kubernetes.io/name`)."""
    return text[:LABEL_VALUE_MAX].rstrip("-_.")

"""Backend exceptions → one-line InputError (the user can fix it) or OperationalError.

Exceptions are recognised by their type and by the HTTP status they carry. A backend's
exception types are looked up only when its module is already imported: an exception of
a library that was never loaded cannot have been raised, and storage stays quick to import.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.text import one_line
from skctl.storage.urls import SCHEMES, scheme_of

# (module, class) of each library's exceptions, by what they mean to the user.
_NO_CREDENTIALS = (
    ("botocore.exceptions", "NoCredentialsError"),
    ("botocore.exceptions", "PartialCredentialsError"),
    ("botocore.exceptions", "CredentialRetrievalError"),
    ("google.auth.exceptions", "DefaultCredentialsError"),
    ("azure.identity", "CredentialUnavailableError"),
)
_DENIED = (("azure.core.exceptions", "ClientAuthenticationError"),)
_UNREACHABLE = (
    ("botocore.exceptions", "EndpointConnectionError"),
    ("botocore.exceptions", "ConnectTimeoutError"),
    ("botocore.exceptions", "ReadTimeoutError"),
    ("botocore.exceptions", "ProxyConnectionError"),
    ("aiohttp.client_exceptions", "ClientConnectionError"),  # ClientConnectorError, ServerDisconnectedError
    ("aiohttp.client_exceptions", "ClientPayloadError"),  # a response cut off by a reset
    ("azure.core.exceptions", "ServiceRequestError"),  # ServiceRequestTimeoutError
    ("requests.exceptions", "ConnectionError"),
    ("fsspec.exceptions", "FSTimeoutError"),
)
_NOT_FOUND = (("azure.core.exceptions", "ResourceNotFoundError"),)
# The request was refused before it was sent: the URL or an option is wrong, not the world.
_INVALID = (("botocore.exceptions", "ParamValidationError"),)
_INVALID_PREFIXES = ("Invalid endpoint", "Connection string is either blank or malformed")

_CREDENTIAL_HINTS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (or STORAGE_EMULATOR_HOST)",
    "abfs": "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY "
    "or AZURE_STORAGE_SAS_TOKEN",
}


def _loaded(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The exception classes among `names` whose module is already imported."""
    found: list[type[BaseException]] = []
    for module, name in names:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries (azure: status_code, gcsfs: code,
    botocore: response metadata), if any."""
    for attr in ("status_code", "code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        value = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    return None


def map_error(exc: BaseException, url: str, writing: bool) -> Exception:
    """One backend exception → InputError (the user can fix it) or OperationalError."""
    if isinstance(exc, (InputError, OperationalError)):
        return exc
    chain = list(_chain(exc))
    statuses = {http_status(e) for e in chain}

    def any_of(names: tuple[tuple[str, str], ...]) -> bool:
        classes = _loaded(names)
        return bool(classes) and any(isinstance(e, classes) for e in chain)

    detail = short(exc)
    if any_of(_INVALID):  # "Parameter validation failed:" and, on the next lines, what failed
        return InputError(messages.STORAGE_BAD_SETTINGS.format(url=url, detail=short(exc, all_lines=True)))
    if any(isinstance(e, ValueError) and str(e).startswith(_INVALID_PREFIXES) for e in chain):
        return InputError(messages.STORAGE_BAD_SETTINGS.format(url=url, detail=detail))
    if any(isinstance(e, OSError) and e.errno == errno.ENAMETOOLONG for e in chain):
        template = messages.STORAGE_WRITE_FAILED if writing else messages.STORAGE_READ_FAILED
        return InputError(template.format(url=url, detail="the file name is too long"))
    if any(isinstance(e, OSError) and e.errno == errno.ELOOP for e in chain):  # a symlink loop: the path's fault
        template = messages.STORAGE_WRITE_FAILED if writing else messages.STORAGE_READ_FAILED
        return InputError(template.format(url=url, detail="its symbolic links form a loop"))
    if any_of(_NO_CREDENTIALS):
        return no_credentials(url, detail)
    if isinstance(exc, TypeError) and "unexpected keyword argument" in detail:
        return InputError(messages.STORAGE_BAD_OPTIONS.format(url=url, detail=detail))
    if is_denied(exc):
        return InputError(messages.STORAGE_PERMISSION.format(url=url, detail=detail))
    if isinstance(exc, IsADirectoryError):
        return InputError(messages.STORAGE_IS_DIRECTORY.format(url=url))
    if any_of(_UNREACHABLE) or any(isinstance(e, (ConnectionError, TimeoutError)) for e in chain):
        return OperationalError(messages.STORAGE_UNREACHABLE.format(url=url, detail=detail))
    missing = any(isinstance(e, FileNotFoundError) for e in chain) or any_of(_NOT_FOUND) or 404 in statuses
    if missing and not writing:
        return InputError(messages.STORAGE_NOT_FOUND.format(url=url))
    if missing and scheme_of(url) not in ("", "file"):  # writing: the bucket is missing
        bucket = url.split("://", 1)[1].split("/", 1)[0]
        return InputError(messages.STORAGE_NO_BUCKET.format(url=url, bucket=bucket))
    if missing or isinstance(exc, (NotADirectoryError, FileExistsError)):  # e.g. a parent "directory" is a file
        template = messages.STORAGE_WRITE_FAILED if writing else messages.STORAGE_READ_FAILED
        return InputError(template.format(url=url, detail=detail))
    if writing:
        return OperationalError(messages.STORAGE_WRITE_FAILED.format(url=url, detail=detail))
    return OperationalError(messages.STORAGE_READ_FAILED.format(url=url, detail=detail))


def is_denied(exc: BaseException) -> bool:
    """The service refused the credentials or the access (401/403, PermissionError; gcsfs
    raises a bare OSError("Forbidden: ...") for 403, with no status or errno to go by)."""
    chain = list(_chain(exc))
    denied = _loaded(_DENIED)
    return any(
        isinstance(e, PermissionError)
        or http_status(e) in (401, 403)
        or (bool(denied) and isinstance(e, denied))
        or (type(e) is OSError and e.errno is None and str(e).startswith("Forbidden: "))
        for e in chain
    )


def is_moved(exc: BaseException) -> bool:
    """S3 answered 301 (PermanentRedirect): the bucket exists, in another region than the
    request was sent to (s3fs turns it into OSError EREMCHG)."""
    return any(
        http_status(e) == 301 or (isinstance(e, OSError) and e.errno == getattr(errno, "EREMCHG", -1))
        for e in _chain(exc)
    )


def no_credentials(url: str, detail: str) -> InputError:
    hint = _CREDENTIAL_HINTS.get(SCHEMES.get(scheme_of(url), ""), "the backend's standard environment variables")
    return InputError(messages.STORAGE_NO_CREDENTIALS.format(url=url, detail=detail, hint=hint))


def short(exc: BaseException, all_lines: bool = False) -> str:
    """The first line of an exception (or all of them, joined), whitespace collapsed: SDK
    errors are multi-line dumps."""
    text = str(exc).strip()
    first = (" ".join(text.splitlines()) if all_lines else text.splitlines()[0]) if text else ""
    return one_line(first or exc)

"""Text for people: one line of error detail, credentials redacted, terminal controls made
visible, byte sizes. The one home of each rule, for every layer (kube/, tracer/, storage/,
the CLI): error lines and log lines go through `safe_line`, details cut from a server's
answer or an exception through `one_line`, sizes through `byte_size`."""

from __future__ import annotations

import re

# The longest detail `one_line` keeps: enough for any API server or tracer message, short
# enough that a server answering a whole HTML page still gives one readable line.
DETAIL_LIMIT = 300


def one_line(value: object, limit: int = DETAIL_LIMIT) -> str:
    """`value` (an exception, a message, a decoded body) as one line of at most `limit`
    characters: whitespace folded, a longer text cut and ended with `...`; an exception
    without text is named by its type."""
    text = " ".join(str(value).split()) if value is not None else ""
    if not text and isinstance(value, BaseException):
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# C0 and C1 controls, DEL and the Unicode bidi overrides: a trace string holding them could
# move the cursor, recolour, retitle or hyperlink the user's terminal (ANSI/OSC escapes) or
# reorder what they read. Each is shown as its Python escape instead (ESC → \x1b).
_CONTROLS = {
    c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    for c in [*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
}
_CONTROLS.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
# Command-line bytes that are not UTF-8 arrive as lone surrogates (surrogateescape); shown
# as escapes too, an error line naming such a path is printable on any stream.
_CONTROLS.update({c: f"\\u{c:04x}" for c in range(0xDC80, 0xDD00)})


def printable(text: object) -> str:
    """`text` with terminal control characters made visible (for plain prints and error lines)."""
    return str(text).translate(_CONTROLS)


# Credentials that a library may put into an exception's text (a header value it refused,
# a URL with a password, a SAS query, a connection string): replaced before any error or log
# line is printed. The value ends at whitespace, a quote or a separator.
_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s'\",;\\]+"), r"\1\2<redacted>"),
    (re.compile(r"(?i)\b(token|password|passwd|secret|sig|signature|accountkey|sharedaccesssignature|"
                r"x-amz-security-token|x-amz-signature|x-amz-credential|client_secret|api[_-]?key|"
                r"access[_-]?key|secret[_-]?key|session[_-]?token)=[^\s&;,'\"]+"), r"\1=<redacted>"),
    (re.compile(r"(://)[^/\s@:]+:[^/\s@]+@"), r"\1<redacted>@"),
)



def printable_lines(text: str) -> str:
    """`printable` line by line: the newlines stay, every other control character is escaped."""
    return "\n".join(printable(line) for line in text.split("\n"))


def redact(text: object) -> str:
    """`text` with bearer and basic credentials, passwords in URLs and secret query or
    connection-string values replaced by `<redacted>` (docs/development.md: no credential
    ever reaches output)."""
    out = str(text)
    for pattern, replacement in _SECRET_PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def safe_line(text: object) -> str:
    """One printable line for stderr: whitespace folded, credentials redacted, controls escaped."""
    return printable(redact(" ".join(str(text).split())))


def byte_size(size: float, *, binary: bool = True) -> str:
    """A byte count for people, through rich.filesize's unit picker. Binary units by
    default, as in Kubernetes quantities and `--max-trace-size` (2147483648 → `2 GiB`);
    `binary=False` gives SI units with one decimal (12345678 → `12.3 MB`), for sizes on
    disk in status lines."""
    from rich.filesize import pick_unit_and_suffix

    if binary:
        unit, suffix = pick_unit_and_suffix(int(size), ["bytes", "KiB", "MiB", "GiB"], 1024)
        return f"{int(size)} bytes" if unit == 1 else f"{size / unit:.3g} {suffix}"
    unit, suffix = pick_unit_and_suffix(int(size), ["B", "KB", "MB", "GB"], 1000)
    return f"{size:.0f} B" if unit == 1 else f"{size / unit:.1f} {suffix}"

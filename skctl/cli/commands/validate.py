"""`skctl validate check|explain|print`: SimKube's trace validation rules (W0000, E0001-E0005)."""

from __future__ import annotations

import argparse

from skctl.cli.commands import ALIASES, COMMANDS
from skctl.cli.commands.flags import add_storage_option_flag, add_trace_size_flag


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "validate",
        aliases=ALIASES["validate"],
        parents=[parent],
        help=COMMANDS["validate"],
        description="Check a trace against SimKube's validation rules (codes W0000, E0001-E0005: status fields "
        "populated, ServiceAccounts, Secrets and ConfigMaps the simulation needs but the trace lacks) and skctl's "
        "E0100 (the recorded pod usage), explain a rule, or list them. `check --fix URL` writes a corrected trace.",
    )
    rules = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = rules.add_parser("check", parents=[parent], help="check a trace; --fix writes a corrected copy")
    check.add_argument("trace", metavar="PATH_OR_URL", help="trace path or URL")
    check.add_argument("--fix", metavar="URL", help="write the trace with the findings fixed here")
    check.add_argument("--format", dest="fix_format", choices=("cbor", "msgpack"),
                       help="format of the --fix trace (default: the input's)")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    add_storage_option_flag(check)
    add_trace_size_flag(check)
    explain = rules.add_parser("explain", parents=[parent], help="explain a rule")
    explain.add_argument("code", metavar="CODE", help="a rule code such as E0001")
    show = rules.add_parser("print", parents=[parent], help="list every rule")
    show.add_argument("-f", "--format", choices=("list", "table", "json", "yaml"), default="list",
                      help="list (default), a markdown table, json or yaml")
    return p


ACTIONS = ("check", "explain", "print")


def rewrite_argv(argv: list[str]) -> list[str]:
    """`skctl validate TRACE` means `skctl validate check TRACE`, as in SimKube."""
    tokens = list(argv)
    seen_command = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("-v", "--verbosity"):
            i += 2
            continue
        if token.startswith("-"):
            i += 1
            continue
        if not seen_command:
            seen_command = True
        else:
            if token not in ACTIONS:
                tokens.insert(i, "check")
            return tokens
        i += 1
    return tokens


def run(args: argparse.Namespace) -> int:
    import json

    from skctl.trace import validate

    if args.action == "explain":
        rule = validate.RULES[validate.parse_code(args.code)]
        print(f"{rule.name} ({rule.code}, {rule.type.lower()})")
        print("=" * 70)
        print(rule.help)
        print(f"--fix: {validate.FIXES[rule.code]}")
        return 0
    if args.action == "print":
        rows = [{"code": r.code, "name": r.name, "type": r.type, "help": r.help} for r in validate.RULES.values()]
        if args.format == "json":
            print(json.dumps(rows, indent=2))
        elif args.format == "yaml":
            import yaml

            print(yaml.safe_dump(rows, sort_keys=False), end="")
        elif args.format == "table":
            print("| code | name | description |\n|---|---|---|")
            for r in rows:
                print(f"| {r['code']} | {r['name']} | {r['help']} |")
        else:
            for r in rows:
                print(f"{r['code']} ({r['name']}): {r['help']}")
        return 0
    return _check(args)


def _check(args: argparse.Namespace) -> int:
    import json

    from skctl import storage
    from skctl.base import messages
    from skctl.base.text import printable
    from skctl.cli.output import report_written
    from skctl.trace import load, validate
    from skctl.trace.model import gc_paused

    options = storage.parse_storage_options(args.storage_option)
    if args.fix:
        storage.check_destination(args.fix, options)  # reject a bad destination before reading anything
    with gc_paused():
        trace, fmt = load.decode_any(load.read_trace_bytes(args.trace, options), args.trace)
        findings, fixed = validate.check(trace, fix=bool(args.fix))
        if fixed is not None:
            remaining, _ = validate.check(fixed)
            storage.write_bytes(args.fix, load.encode_as(fixed, args.fix_format or fmt), options)
    if args.json:
        print(json.dumps({"counts": validate.counts(findings), "findings": [f.to_json() for f in findings]}, indent=2))
    elif not findings:
        print(printable(messages.VALIDATE_CLEAN.format(url=args.trace)))
    else:
        print(printable(messages.VALIDATE_SUMMARY_HEADER.format(url=args.trace)))
        for f in findings:  # names come from the trace: escaped
            rule = validate.RULES[f.code]
            what = f" (missing {f.missing})" if f.missing else (f" ({f.detail})" if f.detail else "")
            where = f"event {f.event} ts {f.ts}" if f.event >= 0 else "usage" + (f" pod {f.obj}" if f.obj >= 0 else "")
            subject = f"{f.gvk} {f.name}: " if f.gvk else ""
            print(printable(f"  {where}: {subject}{f.code} {rule.name}{what}"))
        print("-" * 70)
        for code, count in validate.counts(findings).items():
            left = f"{validate.RULES[code].name} ({code})"
            print(f"{left} {'.' * max(2, 68 - len(left) - len(str(count)))} {count}")
    if args.fix:
        changed = len({(f.event, f.obj) for f in findings if f.event >= 0})
        report_written(messages.VALIDATE_FIXED.format(url=args.fix, fixed=changed, remaining=len(remaining)), args.fix)
    return 0

"""Gate results as JUnit XML (the format CI systems show as test results), via xml.etree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from skctl.report.slo import GateResult


def junit_xml(results: Sequence[GateResult], suite: str = "skctl.slo", classname: str = "skctl.report") -> bytes:
    """One <testcase> per gate, named by its expression; a violated gate has a <failure>
    whose message gives the values it saw."""
    failures = sum(1 for r in results if not r.passed)
    root = ET.Element("testsuites", name=suite, tests=str(len(results)), failures=str(failures), errors="0")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), failures=str(failures),
                       errors="0", skipped="0")
    for r in results:
        case = ET.SubElement(ts, "testcase", name=r.gate.text, classname=classname)
        if r.passed:
            ET.SubElement(case, "system-out").text = r.detail
        else:
            failure = ET.SubElement(case, "failure", message=f"SLO violated: {r.gate.text} ({r.detail})",
                                    type="SLOViolation")
            failure.text = r.detail
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"

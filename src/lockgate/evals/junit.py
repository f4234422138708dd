"""JUnit XML of a run: one testsuite per target, one testcase per case run."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from lockgate.evals.compare import Comparison
from lockgate.evals.runner import RunResult

__all__ = ["junit_xml"]


def junit_xml(run: RunResult, comparison: Comparison | None = None) -> str:
    root = ET.Element("testsuites", name="lockgate eval")
    for target in run.targets:
        rows = run.for_target(target)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=target,
            tests=str(len(rows)),
            failures=str(sum(r.status == "fail" for r in rows)),
            errors=str(sum(r.status == "error" for r in rows)),
            skipped="0",
        )
        for r in rows:
            name = r.case_id if run.repeat == 1 else f"{r.case_id}#{r.repeat}"
            latency = r.answer.latency_ms / 1000.0 if r.answer is not None else 0.0
            case = ET.SubElement(
                suite, "testcase", classname=target, name=name, time=f"{latency:.3f}"
            )
            if r.status == "error":
                why = r.error or "; ".join(
                    f"{v.type}: {v.reason}" for v in r.verdicts if v.status == "error"
                )
                ET.SubElement(case, "error", message=why[:500]).text = why
            elif r.status == "fail":
                why = "; ".join(f"{v.type}: {v.reason}" for v in r.verdicts if v.status == "fail")
                ET.SubElement(case, "failure", message=why[:500]).text = why
            if r.answer is not None:
                ET.SubElement(case, "system-out").text = r.answer.text
    if comparison is not None:
        suite = ET.SubElement(
            root,
            "testsuite",
            name="comparison",
            tests="1",
            failures=str(int(comparison.regression and not comparison.errors)),
            errors=str(int(bool(comparison.errors))),
            skipped="0",
        )
        case = ET.SubElement(
            suite,
            "testcase",
            classname="comparison",
            name=f"{comparison.candidate} vs {comparison.baseline}",
        )
        if comparison.errors:
            ET.SubElement(case, "error", message=f"{comparison.errors} pairs errored")
        elif comparison.regression:
            msg = "; ".join(comparison.reasons)
            ET.SubElement(case, "failure", message=msg).text = msg
    return ET.tostring(root, encoding="unicode", xml_declaration=True)

#!/usr/bin/python3
"""Prints the compatibility run's tally from nextest's JUnit report.

The compatibility scenarios are the tests of the `compat_*` targets: the real
docker CLI, docker-py and docker-compose against berthd (issue 14). The last
line is "compat: N passed, N failed"; the exit status is non-zero when any
failed or when none ran (a report without them is a broken run, not a pass).
"""
import sys
import xml.etree.ElementTree as ET

path = sys.argv[1] if len(sys.argv) > 1 else "target/nextest/default/junit.xml"
try:
    root = ET.parse(path).getroot()
except (OSError, ET.ParseError) as e:
    print(f"compat: no readable JUnit report at {path}: {e}")
    sys.exit(1)
passed, failed = [], []
for suite in root.iter("testsuite"):
    # nextest names a suite "<crate>::<target>", e.g. "berth::compat_compose".
    target = suite.get("name", "").split("::")[-1]
    if not target.startswith("compat_"):
        continue
    for case in suite.iter("testcase"):
        name = f"{target}::{case.get('name')}"
        if case.find("skipped") is not None:
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        else:
            passed.append(name)
for name in failed:
    print(f"compat: FAILED {name}")
print(f"compat: {len(passed)} passed, {len(failed)} failed")
sys.exit(1 if failed or not passed else 0)

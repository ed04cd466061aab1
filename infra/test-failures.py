#!/usr/bin/env python3
"""Prints the failed tests of .trx files (name, message, first stack lines), so that the end of a long test log,
which is often all a CI page shows, says what failed."""
import sys
import xml.etree.ElementTree as ET

ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
failed = 0
for path in sys.argv[1:]:
    for result in ET.parse(path).getroot().iterfind(".//t:UnitTestResult", ns):
        if result.get("outcome") != "Failed":
            continue
        failed += 1
        message = result.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=ns).strip()
        stack = result.findtext("t:Output/t:ErrorInfo/t:StackTrace", default="", namespaces=ns).strip().splitlines()
        print(f"FAILED {result.get('testName')} ({result.get('duration')})")
        for line in message.splitlines()[:40]:
            print(f"    {line}")
        for line in stack[:12]:
            print(f"    {line}")
print(f"{failed} failed test(s)" if failed else "no failed tests in the .trx results")

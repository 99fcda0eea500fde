"""A run's reports: JUnit XML (for CI), the JSON test record, PNG plots and a one-screen summary.

    DIR/junit.xml    one testsuite per group, one testcase per check; each testsuite's properties
                     name the rig file, the device (its description as JSON), its firmware and
                     board, and the git commit the suite ran from
    DIR/record.json  every measurement with its limits and verdict (hil/record.py)
    DIR/plots/*.png  noise per channel, latency histogram, linearity map, drift trace (hil/plots.py)
    DIR/summary.txt  which group failed and why
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from phyll.checkpoint import replacing

from .record import ERROR, FAIL, SKIP, TestRecord

_MESSAGE_CHARS = 400


def summary(record: TestRecord) -> str:
    device = record.device
    lines = [f"phyll hil: {record.rig['name']} ({record.rig['source']}) -- {record.outcome}",
             f"device {record.rig['device']}: {device.get('firmware', 'no firmware')} on {device.get('board', '-')}, "
             f"{device.get('runtime', device.get('kind', '-'))}; git {(record.station.get('git_commit') or '?')[:12]}"]
    failed = []
    for group, checks in record.groups().items():
        outcome = record.group_outcome(group)
        skipped = sum(c.outcome == SKIP for c in checks)
        bad = [c for c in checks if c.outcome in (FAIL, ERROR)]
        note = f"{len(checks)} checks" + (f", {skipped} skipped" if skipped else "")
        lines.append(f"  {group:<17} {outcome:<5} {note}")
        for check in bad:
            lines.append(f"      {check.name}: {_short(check.message)}")
        if bad:
            failed.append(f"{group} ({'; '.join(f'{c.name}: {_short(c.message, 160)}' for c in bad)})")
    lines.append("failed: " + " | ".join(failed) if failed else "every group passed")
    return "\n".join(lines)


def junit_xml(record: TestRecord) -> ET.ElementTree:
    rig, device = record.rig, record.device
    properties = {"rig": rig["name"], "rig_file": rig["source"], "device_url": rig["device"],
                  "device": json.dumps(device, sort_keys=True), "firmware": device.get("firmware", ""),
                  "board": device.get("board", ""), "runtime": device.get("runtime", ""),
                  "git_commit": record.station.get("git_commit") or "",
                  "git_dirty": str(record.station.get("git_dirty")), "phyll_version": record.station["phyll_version"]}
    root = ET.Element("testsuites", name=f"phyll hil: {rig['name']}")
    totals = dict(tests=0, failures=0, errors=0, skipped=0)
    for group, checks in record.groups().items():
        counts = dict(tests=len(checks), failures=sum(c.outcome == FAIL for c in checks),
                      errors=sum(c.outcome == ERROR for c in checks), skipped=sum(c.outcome == SKIP for c in checks))
        suite = ET.SubElement(root, "testsuite", name=group, time=f"{sum(c.duration_s for c in checks):.3f}",
                              **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(suite, "properties")
        for name, value in properties.items():
            ET.SubElement(props, "property", name=name, value=str(value))
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=f"hil.{group}", name=check.name,
                                 time=f"{check.duration_s:.3f}")
            if check.outcome in (FAIL, ERROR):
                tag = "failure" if check.outcome == FAIL else "error"
                ET.SubElement(case, tag, message=_short(check.message, _MESSAGE_CHARS)).text = check.message
            elif check.outcome == SKIP:
                ET.SubElement(case, "skipped", message=check.message)
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{m.name} = {m.value} {m.units} [{m.low}, {m.high}] {m.outcome} {m.note}".rstrip()
                for m in check.measurements)
        for key in totals:
            totals[key] += counts[key]
    root.attrib.update({k: str(v) for k, v in totals.items()})
    return ET.ElementTree(root)


def write_reports(record: TestRecord, plot_data: dict, folder: Path) -> list[Path]:
    """Every report into `folder` (made if missing); the paths written."""
    from .plots import write_plots

    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "junit.xml", folder / "record.json", folder / "summary.txt"]
    tree = junit_xml(record)
    ET.indent(tree)
    with replacing(written[0]) as path:
        tree.write(path, encoding="utf-8", xml_declaration=True)
    with replacing(written[1]) as path:
        path.write_text(json.dumps(record.as_dict(), indent=1, default=str) + "\n")
    with replacing(written[2]) as path:
        path.write_text(summary(record) + "\n")
    return written + write_plots(plot_data, record, folder / "plots")


def _short(message: str, limit: int = 240) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


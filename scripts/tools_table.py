#!/usr/bin/env python3
"""Prints the README's tools table from `stagecraft skills list --json` (stdin or a file argument).

Usage: stagecraft skills list --json | python3 scripts/tools_table.py
tests/python/test_docs.py checks that README.md holds exactly this table.
"""

import json
import sys

ORDER = ["dcc", "scene", "transform", "hierarchy", "render", "animation", "motion", "script"]


def table(listing: dict) -> str:
    def key(tool):
        skill = tool["skill"]
        return (ORDER.index(skill) if skill in ORDER else len(ORDER), skill, tool["name"])

    rows = [
        "| tool | skill | what it does | arguments (`?` optional) | hints |",
        "|---|---|---|---|---|",
    ]
    for tool in sorted(listing["tools"], key=key):
        schema = tool["input_schema"]
        required = set(schema.get("required", []))
        args = ", ".join(p if p in required else p + "?" for p in schema.get("properties", {}))
        hints = [
            label
            for flag, label in (
                ("read_only", "read-only"),
                ("destructive", "destructive"),
                ("idempotent", "idempotent"),
                ("open_world", "open-world"),
            )
            if tool[flag]
        ]
        if tool["hidden"]:
            hints.append("needs allow_scripts")
        text = " ".join(tool["description"].split()).replace("|", "\\|")
        first = text.split(". ")[0].rstrip(".") + "."
        rows.append(f"| `{tool['name']}` | {tool['skill']} | {first} | {args} | {', '.join(hints)} |")
    return "\n".join(rows)


if __name__ == "__main__":
    source = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    print(table(json.load(source)))

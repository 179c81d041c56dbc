"""Writes stagecraft's shipped skills as a dcc-mcp-core skill folder (for the start-up comparison).

    stagecraft skills list --json | python benches/dcc_mcp_skills.py OUT_DIR REPO_ROOT

Same 8 skills, same 38 tools, same descriptions, input schemas and annotations, same SKILL.md
bodies; laid out the way dcc-mcp-core 0.20 wants (docs/guide/skills.md of dcc-mcp-core):
agentskills.io keys at the top of SKILL.md, extensions under `metadata.dcc-mcp`, tools in a sibling
`tools.yaml` (written as JSON, which is YAML), one stub script per tool as its `source_file`.
"""

import json
import os
import shutil
import sys


def main():
    out, root = sys.argv[1], sys.argv[2]
    data = json.load(sys.stdin)
    shutil.rmtree(out, ignore_errors=True)
    tools_of = {}
    for t in data["tools"]:
        tools_of.setdefault(t["skill"], []).append(t)
    for skill in data["skills"]:
        name = skill["name"]
        folder = os.path.join(out, name)
        os.makedirs(os.path.join(folder, "scripts"))
        with open(os.path.join(root, "skills", name, "SKILL.md")) as f:
            text = f.read()
        body = text.split("\n---", 2)[-1].lstrip("\n") if text.startswith("---") else text
        front = [
            "---",
            f"name: {name}",
            f"description: {json.dumps(skill['description'])}",
            "license: Apache-2.0",
            "metadata:",
            "  dcc-mcp:",
            "    dcc: python",
            '    version: "1.0.0"',
            "    tools: tools.yaml",
            "---",
            "",
        ]
        with open(os.path.join(folder, "SKILL.md"), "w") as f:
            f.write("\n".join(front) + body)
        tools = []
        for t in tools_of.get(name, []):
            script = f"scripts/{t['name']}.py"
            with open(os.path.join(folder, script), "w") as f:
                f.write("result = {}\n")
            tools.append({
                "name": t["name"],
                "description": t["description"],
                "inputSchema": t["input_schema"],
                "read_only": t["read_only"],
                "destructive": t["destructive"],
                "idempotent": t["idempotent"],
                "source_file": script,
            })  # fmt: skip
        with open(os.path.join(folder, "tools.yaml"), "w") as f:
            json.dump({"tools": tools}, f, indent=1)
    print(f"{len(data['skills'])} skills, {sum(len(v) for v in tools_of.values())} tools -> {out}")


if __name__ == "__main__":
    main()

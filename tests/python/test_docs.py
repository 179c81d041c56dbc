"""The README's tools table is generated from the loaded skills and must match them."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from tools_table import table  # noqa: E402


def test_readme_tools_table_matches_the_skills(stagecraft_bin, empty_config):
    listing = json.loads(
        subprocess.run(
            [stagecraft_bin, "skills", "list", "--json"], env=empty_config, capture_output=True, check=True
        ).stdout
    )
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- tools-table:start")
    start = readme.index("\n", start) + 1
    end = readme.index("<!-- tools-table:end -->")
    assert readme[start:end].strip() == table(listing), (
        "README tools table is stale: regenerate it with "
        "`stagecraft skills list --json | python3 scripts/tools_table.py`"
    )


def test_readme_starts_with_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first_block[0].startswith("cargo run --release -- generate ")
    assert first_block[1] == "./scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test.sh" in ci


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(" ", "-")


def test_every_cited_doc_and_section_exists():
    """Code and docs cite `docs/<page>.md#<section>`: the page must be in the repository and the
    section must be one of its headings; nothing may point at files outside it (DESIGN.md, spec/)."""
    import re

    sources = [
        p
        for folder in ("src", "tests", "scripts", "benches", "adapters", "examples", "docs", "skills")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.suffix in {".rs", ".py", ".sh", ".md", ".toml"} and "fixtures" not in p.parts
    ] + [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "BENCHMARKS.md"]
    cited = re.compile(r"docs/([a-z0-9-]+\.md)(?:#([a-z0-9_-]+))?")
    outside = re.compile(r"DESIGN\.md|spec/[a-z]+\.md|\.\./shared|shared/spec")
    anchors = {}
    problems = []
    for path in sources:
        text = path.read_text(errors="replace")
        where = path.relative_to(ROOT)
        if path.name != "test_docs.py":
            problems += [f"{where}: cites {m.group(0)}, which is not in the repository" for m in outside.finditer(text)]
        for m in cited.finditer(text):
            page = ROOT / "docs" / m.group(1)
            if not page.is_file():
                problems.append(f"{where}: docs/{m.group(1)} does not exist")
                continue
            if page not in anchors:
                headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)
                anchors[page] = {github_anchor(h) for h in headings}
            if m.group(2) and m.group(2) not in anchors[page]:
                problems.append(f"{where}: docs/{m.group(1)} has no section #{m.group(2)}")
    assert not problems, "\n".join(problems)
    assert len(anchors) >= 3, "expected citations of several docs pages"

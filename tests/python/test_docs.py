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

"""`stagecraft adapter-check`, the bridge conformance suite, through the real binary: it passes the
built-in stage DCC and the toy reference adapter on all four bridges (with a token where the bridge
carries one), and it fails, naming the check, an adapter that is broken on purpose."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from helpers import TOY_ADAPTER, toy_adapter, toy_embedded_command

TOKEN = "adapter-check-token-42"
ROW = re.compile(r"^(PASS|FAIL|SKIP)\s+(.+?)\s{2,}(.*)$")
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", re.M)


class Report:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.rows = []
        for line in proc.stdout.splitlines():
            m = ROW.match(line)
            if m:
                self.rows.append((m.group(1), m.group(2).strip(), m.group(3)))
        m = SUMMARY.search(proc.stdout)
        assert m, f"no 'N passed, N failed, N skipped' line:\n{proc.stdout}\n{proc.stderr[-2000:]}"
        self.passed, self.failed, self.skipped = (int(g) for g in m.groups())

    def row(self, check: str):
        hits = [r for r in self.rows if r[1] == check]
        assert hits, f"no row for check {check!r}:\n{self.out}"
        return hits[0]

    def failing(self):
        return [r for r in self.rows if r[0] == "FAIL"]

    def __repr__(self):
        return f"exit {self.rc}\n{self.out}\n{self.err[-2000:]}"


def adapter_check(stagecraft_bin: str, env: dict, args: list, timeout: float = 60) -> Report:
    proc = subprocess.run(
        [stagecraft_bin, "adapter-check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Report(proc)


def check_args(kind: str, endpoint, token_env: str | None) -> list:
    if kind == "embedded":
        return ["--bridge", "embedded", "--command", shlex.join(endpoint)]
    args = ["--bridge", kind, "--endpoint", endpoint]
    return args + (["--token-env", token_env] if token_env else [])


def run_against_toy(
    stagecraft_bin, env, tmp_path, kind, faults=(), extra=(), token=TOKEN, sent=TOKEN, toy=None
) -> Report:
    """adapter-check against the toy (or a wrapper `toy` script) on `kind`; the toy requires
    `token` and the suite sends `sent` (network bridges only)."""
    env = dict(env)
    env["STAGECRAFT_TEST_SENT_TOKEN"] = sent
    if kind == "embedded":
        cmd = toy_embedded_command(faults)
        if toy is not None:
            cmd[1] = str(toy)
        return adapter_check(stagecraft_bin, env, check_args(kind, cmd, None) + list(extra))
    with toy_adapter(kind, tmp_path, token=token, faults=faults, script=toy) as endpoint:
        args = check_args(kind, endpoint, "STAGECRAFT_TEST_SENT_TOKEN")
        return adapter_check(stagecraft_bin, env, args + list(extra))


def assert_all_pass(report: Report, what: str) -> None:
    assert report.rc == 0, f"{what}: adapter-check failed: {report}"
    assert report.failed == 0 and not report.failing(), f"{what}: {report}"
    assert re.search(r"\b0 failed\b", report.out), report
    assert report.passed == len([r for r in report.rows if r[0] == "PASS"]) >= 45, report


# ---- conforming adapters pass ----


def test_stage_passes(stagecraft_bin, empty_config):
    report = adapter_check(stagecraft_bin, empty_config, ["--stage"])
    assert_all_pass(report, "stage")
    assert report.row("dcc.hello")[2].startswith("stage "), report
    for check in (
        "animation.sample_pose = FK(apply_motion)",
        "hierarchy.reparent keeps world transform",
        "transform Euler order",
        "scene.export_file",
    ):
        assert report.row(check)[0] == "PASS", report


@pytest.mark.parametrize("kind", ["embedded", "http", "websocket", "named_pipe"])
def test_toy_passes(stagecraft_bin, empty_config, tmp_path, kind):
    report = run_against_toy(stagecraft_bin, empty_config, tmp_path, kind)
    assert_all_pass(report, f"toy over {kind}")
    hello = report.row("dcc.hello")
    assert hello[0] == "PASS" and hello[2].startswith("toy 1.0"), hello
    assert report.row("animation.sample_pose = FK(apply_motion)")[0] == "PASS", report
    assert report.skipped == 0, f"the toy implements every method: {report}"
    assert TOKEN not in report.out + report.err, "tokens must never be printed"


@pytest.mark.parametrize("kind", ["http", "websocket", "named_pipe"])
def test_wrong_token_fails_the_handshake(stagecraft_bin, empty_config, tmp_path, kind):
    report = run_against_toy(stagecraft_bin, empty_config, tmp_path, kind, sent="not-the-token")
    assert report.rc == 1, report
    status, check, detail = report.failing()[0]
    assert check == "dcc.hello" and "PERMISSION_DENIED" in detail, report
    assert "not-the-token" not in report.out + report.err, "tokens must never be printed"


# ---- broken adapters fail, and the first failure names what is broken ----

BROKEN = [
    # (bridge, toy fault flags, extra adapter-check args, the check that must fail, in its detail)
    ("embedded", ["--bad-result-on", "animation.get_skeleton"], [], "animation.get_skeleton",
     "does not match"),
    ("embedded", ["--crash-method", "hierarchy.ungroup"], [], "hierarchy.ungroup",
     "CONNECTION_FAILED"),
    ("http", ["--garbage-on", "transform.get_bounding_box"], [], "transform.get_bounding_box",
     "CONNECTION_FAILED"),
    ("websocket", ["--garbage-on", "transform.get_bounding_box"], [],
     "transform.get_bounding_box", "CONNECTION_FAILED"),
    ("named_pipe", ["--hang-method", "scene.select_by_type"], ["--timeout", "1"],
     "scene.select_by_type", "TIMEOUT"),
    ("http", ["--bad-result-on", "render.capture_viewport"], [], "render.capture_viewport",
     "does not match"),
]  # fmt: skip


@pytest.mark.parametrize(
    "kind,faults,extra,check,detail", BROKEN, ids=[f"{b[0]}-{b[1][0][2:]}" for b in BROKEN]
)
def test_broken_toy_fails(
    stagecraft_bin, empty_config, tmp_path, kind, faults, extra, check, detail
):
    report = run_against_toy(stagecraft_bin, empty_config, tmp_path, kind, faults, extra)
    assert report.rc == 1, f"a broken adapter must fail the suite: {report}"
    assert report.failed >= 1 and not re.search(r"\b0 failed\b", report.out), report
    first = report.failing()[0]
    assert first[1] == check, f"the first failure should be {check!r}: {report}"
    assert detail in first[2], f"{check}: detail should say {detail!r}: {first}"
    # What ran before the fault still passed: the report pinpoints the broken method.
    before = report.rows[: report.rows.index(first)]
    assert before and all(r[0] == "PASS" for r in before), report


# ---- adapters that answer but do not do the work ----

LAX = {
    # set_render_settings answers the settings as they were, without changing anything
    "ignores-set-render-settings": (
        "render.set_render_settings",
        'if method == "render.set_render_settings":\n    return dict(toy.SCENE.render)\n',
    ),
    # ungroup answers the former children but leaves the group and its children as they are
    "ungroup-does-nothing": (
        "hierarchy.ungroup",
        'if method == "hierarchy.ungroup":\n'
        '    return toy.SCENE.children(params["group_name"])\n',
    ),
}
WRAPPER = """import sys
sys.path.insert(0, {folder!r})
import toy_adapter as toy

_handle = toy.handle


def handle(method, params):
{patch}    return _handle(method, params)


toy.handle = handle
toy.main()
"""


def lax_toy(tmp_path: Path, patch: str) -> Path:
    body = "".join("    " + line + "\n" for line in patch.splitlines())
    script = tmp_path / "lax_toy.py"
    script.write_text(WRAPPER.format(folder=str(TOY_ADAPTER.parent), patch=body))
    return script


def test_lax_wrapper_alone_passes(stagecraft_bin, empty_config, tmp_path):
    """The control for the lax cases: the wrapper with no patch is the toy, and passes."""
    toy = lax_toy(tmp_path, "")
    report = run_against_toy(stagecraft_bin, empty_config, tmp_path, "embedded", toy=toy)
    assert_all_pass(report, "unpatched wrapper")


@pytest.mark.parametrize("case", sorted(LAX))
def test_lax_toy_fails(stagecraft_bin, empty_config, tmp_path, case):
    check, patch = LAX[case]
    toy = lax_toy(tmp_path, patch)
    report = run_against_toy(stagecraft_bin, empty_config, tmp_path, "embedded", toy=toy)
    assert report.rc == 1, report
    assert report.row(check)[0] == "FAIL", report


def test_every_check_is_reported(stagecraft_bin, empty_config, tmp_path):
    """A check that cannot run is reported (FAIL or SKIP), never silently left out: with
    render.get_render_settings hanging, the set_render_settings check still has a row."""
    healthy = run_against_toy(stagecraft_bin, empty_config, tmp_path, "named_pipe")
    broken = run_against_toy(
        stagecraft_bin,
        empty_config,
        tmp_path,
        "named_pipe",
        ["--hang-method", "render.get_render_settings"],
        ["--timeout", "1"],
    )
    assert broken.rc == 1 and broken.row("render.get_render_settings")[0] == "FAIL", broken
    total = broken.passed + broken.failed + broken.skipped
    assert total == healthy.passed, f"{total} rows vs {healthy.passed}: {broken}"

"""DCC faults end to end: stagecraft serve on stdio (driven with raw JSON-RPC, so the test knows
every process id), an embedded DCC that hangs, crashes, or sends garbage mid-call, and real Blender
killed while a call runs. Each fault is a tool result with the bridge.md code, later calls work (the
embedded DCC is restarted), and no DCC process outlives stagecraft however it ends (EOF, SIGTERM,
SIGKILL).
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT

TOY = ROOT / "examples" / "adapter" / "toy_adapter.py"
BLENDER_RUN = ROOT / "adapters" / "blender" / "run.py"
BPY_PYTHON = os.environ.get("BPY_PYTHON")


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(what: str, ok, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


class RawMcp:
    """stagecraft serve on stdio, spoken to line by line."""

    def __init__(self, bin_path: str, config: Path):
        env = dict(os.environ, STAGECRAFT_CONFIG=str(config), STAGECRAFT_LOG="warn")
        self.proc = subprocess.Popen(
            [bin_path, "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.answers: dict[int, queue.Queue] = {}
        self.lock = threading.Lock()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        init = self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}})
        assert "result" in init, init
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _read(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "id" in msg and ("result" in msg or "error" in msg):
                self._queue(msg["id"]).put(msg)

    def _queue(self, rid: int) -> queue.Queue:
        with self.lock:
            return self.answers.setdefault(rid, queue.Queue())

    def send(self, msg: dict):
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def start(self, method: str, params: dict) -> int:
        with self.lock:
            self.next_id += 1
            rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return rid

    def wait(self, rid: int, timeout: float = 60) -> dict:
        return self._queue(rid).get(timeout=timeout)

    def request(self, method: str, params: dict, timeout: float = 60) -> dict:
        return self.wait(self.start(method, params), timeout)

    def tool(self, name: str, args: dict, timeout: float = 60) -> dict:
        answer = self.request("tools/call", {"name": name, "arguments": args}, timeout)
        return answer["result"]


def toy_config(tmp_path: Path, *flags: str, timeout: int = 30) -> Path:
    command = [sys.executable, str(TOY), "--stdio", *flags]
    config = tmp_path / "stagecraft.toml"
    config.write_text(f'[[dcc]]\nname = "toy"\nbridge = "embedded"\ncommand = {json.dumps(command)}\ntimeout_seconds = {timeout}\n')
    return config


def dcc_pid(mcp: RawMcp) -> int:
    listed = mcp.tool("list_dccs", {})
    return listed["structuredContent"]["connections"][0]["info"]["pid"]


@pytest.mark.parametrize("ending", ["eof", "sigterm", "sigkill"])
def test_no_dcc_process_outlives_stagecraft(stagecraft_bin, tmp_path, ending):
    mcp = RawMcp(stagecraft_bin, toy_config(tmp_path))
    r = mcp.tool("create_object", {"object_type": "cube", "name": "A"})
    assert not r.get("isError"), r
    kids = children_of(mcp.proc.pid)
    assert len(kids) == 1, kids
    toy = kids[0]
    if ending == "eof":
        mcp.proc.stdin.close()
    elif ending == "sigterm":
        mcp.proc.send_signal(signal.SIGTERM)
    else:
        # stagecraft gets no chance to clean up: the DCC sees its stdin close and leaves by itself.
        mcp.proc.kill()
    assert mcp.proc.wait(timeout=15) in (0, -signal.SIGKILL)
    wait_until(f"the DCC process {toy} is still running after {ending}", lambda: not alive(toy))


def test_dcc_faults_mid_call_are_reported_and_later_calls_work(stagecraft_bin, tmp_path):
    config = toy_config(
        tmp_path,
        "--hang-method", "scene.get_selection",
        "--crash-method", "scene.select_by_type",
        "--garbage-on", "scene.get_scene_info",
        "--drop-on", "hierarchy.get_hierarchy",
        timeout=2,
    )
    mcp = RawMcp(stagecraft_bin, config)
    try:
        assert not mcp.tool("create_object", {"object_type": "cube", "name": "Kept"}).get("isError")
        first_pid = dcc_pid(mcp)
        cases = [
            ("get_selection", {}, "timeout", 6),  # hangs: the deadline (2 s), the DCC stays alive
            ("get_scene_info", {}, "connection_failed", 5),  # garbage: the stream is dropped
            ("select_by_type", {"object_type": "cube"}, "connection_failed", 5),  # crash mid-call
        ]
        for tool, args, code, limit in cases:
            started = time.monotonic()
            r = mcp.tool(tool, args)
            took = time.monotonic() - started
            assert r.get("isError"), (tool, r)
            assert r["structuredContent"]["code"] == code, (tool, r["structuredContent"])
            assert took < limit, (tool, took)
            # The next call works (after a restart for the crash).
            deadline = time.monotonic() + 15
            while True:
                listed = mcp.tool("list_objects", {})
                if not listed.get("isError"):
                    break
                assert time.monotonic() < deadline, listed
                time.sleep(0.2)
        # The crash restarted the process: a new pid and a new (empty) scene; nothing else left.
        assert dcc_pid(mcp) != first_pid
        assert not alive(first_pid)
        assert len(children_of(mcp.proc.pid)) == 1
    finally:
        mcp.proc.stdin.close()
        mcp.proc.wait(timeout=15)
    assert children_of(mcp.proc.pid) == []


@pytest.mark.skipif(not BPY_PYTHON or not os.path.exists(BPY_PYTHON or ""), reason="BPY_PYTHON is not set")
def test_blender_killed_while_a_call_runs(stagecraft_bin, tmp_path):
    command = [BPY_PYTHON, str(BLENDER_RUN), "--stdio", "--allow-scripts"]
    config = tmp_path / "stagecraft.toml"
    config.write_text(
        "[skills]\nallow_scripts = true\n\n"
        f'[[dcc]]\nname = "blender"\nbridge = "embedded"\ncommand = {json.dumps(command)}\ntimeout_seconds = 120\n'
    )
    mcp = RawMcp(stagecraft_bin, config)
    try:
        r = mcp.tool("create_object", {"object_type": "cube", "name": "BeforeKill"}, timeout=120)
        assert not r.get("isError"), r
        pid = dcc_pid(mcp)
        assert alive(pid)
        # A long call is running inside Blender when Blender dies.
        rid = mcp.start("tools/call", {"name": "execute_script", "arguments": {"code": "import time\ntime.sleep(60)\nresult = 1"}})
        time.sleep(1.5)
        started = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        answer = mcp.wait(rid, timeout=30)["result"]
        took = time.monotonic() - started
        assert answer.get("isError"), answer
        assert answer["structuredContent"]["code"] == "connection_failed", answer["structuredContent"]
        assert took < 10, took
        wait_until("the killed Blender was not reaped", lambda: not alive(pid))
        # Blender is restarted and the next call works on a fresh scene.
        deadline = time.monotonic() + 120
        while True:
            listed = mcp.tool("list_objects", {}, timeout=120)
            if not listed.get("isError"):
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.5)
        assert dcc_pid(mcp) != pid
        kids = children_of(mcp.proc.pid)
        assert len(kids) == 1, kids
        new_blender = kids[0]
    finally:
        mcp.proc.stdin.close()
        mcp.proc.wait(timeout=30)
    wait_until("Blender outlived stagecraft", lambda: not alive(new_blender), timeout=20)

"""Server start to first `tools/list` answer, idle RSS, and tools/list / tools/call latency.

    python benches/servers.py --stagecraft target/release/stagecraft \
        --dcc-mcp ~/.cache/stagecraft-bench/dcc-venv/bin/dcc-mcp-server \
        --dcc-skills /tmp/dcc-skills --runs 30 --out results/servers.json

Start-up (one raw JSON-RPC client, standard library only, the same for every server):
  the clock starts just before the process is spawned and stops when the `tools/list` answer has
  been read: spawn, (HTTP: connect as soon as the port accepts), initialize, notifications/
  initialized, tools/list. Servers run in turn, round-robin, so machine noise hits all of them.
  Idle RSS: /proc/<pid>/status VmRSS (plus any child processes) 1 s after that answer, the client
  still connected.

Context: what each server's `tools/list` puts before the model, measured on the start-up answer: the
  name, description and input schema of every tool as compact JSON (what tests/python/
  test_context_budget.py budgets), and the whole `tools/list` result.

Latency / throughput (the official Python `mcp` SDK client, a real MCP client): after a warm-up,
  N sequential `tools/list` and `tools/call` round trips per server; throughput = calls per second
  for the sequential loop and for C concurrent callers. The client connects as it does by default
  (`mode="auto"`: `server/discover`, falling back to the `initialize` handshake), so each server
  speaks the newest protocol it supports; stagecraft is also measured in a 2025-11-25 session.
"""

import argparse
import asyncio
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "stagecraft-bench", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid, key="VmRSS"):
    """VmRSS (or RssAnon, RssFile) of a process and all its descendants, in kB."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return total


def threads(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        return None


# ---- stdio ----------------------------------------------------------------------------------


def start_stdio(cmd, env, cwd):
    """Returns (elapsed seconds to the tools/list answer, process, the listed tools)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env, cwd=cwd)  # fmt: skip
    p.stdin.write((json.dumps(INIT) + "\n").encode())
    p.stdin.flush()
    read_answer(p.stdout, 1)
    p.stdin.write((json.dumps(INITIALIZED) + "\n" + json.dumps(LIST) + "\n").encode())
    p.stdin.flush()
    answer = read_answer(p.stdout, 2)
    elapsed = time.perf_counter() - t0
    return elapsed, p, answer["result"]["tools"]


def read_answer(stream, want_id):
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("the server closed stdout")
        msg = json.loads(line)
        if msg.get("id") == want_id:
            if "error" in msg:
                raise RuntimeError(msg["error"])
            return msg


# ---- Streamable HTTP ------------------------------------------------------------------------


def post(conn, body, session=None):
    headers = dict(HEADERS)
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-11-25"
    conn.request("POST", "/mcp", json.dumps(body), headers)
    r = conn.getresponse()
    sid = r.getheader("Mcp-Session-Id") or session
    ctype = r.getheader("Content-Type") or ""
    if "id" not in body:
        r.read()
        return None, sid
    if "text/event-stream" in ctype:
        # The answer is one `data:` event; stop reading there (the stream may stay open).
        while True:
            line = r.fp.readline()
            if not line:
                raise RuntimeError("SSE stream ended without an answer")
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if not data:
                    continue
                msg = json.loads(data)
                if msg.get("id") == body["id"]:
                    r.close()
                    conn.close()  # the half-read SSE response makes the connection unusable
                    return msg, sid
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"HTTP {r.status}: {data[:200]!r}")
    return json.loads(data), sid


def start_http(cmd, port, env, cwd, load_skills=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, cwd=cwd)  # fmt: skip
    wait_for_port(p, port, t0 + 20, cmd[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    _, sid = post(conn, INIT)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    post(conn, INITIALIZED, sid)
    if load_skills:
        # dcc-mcp-core loads skills progressively: their tools appear in tools/list only after
        # load_skill. This variant measures start-up until every tool is listable, as stagecraft's.
        load = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "load_skill", "arguments": {"skill_names": load_skills}}}  # fmt: skip
        done, _ = post(conn, load, sid)
        if "error" in done or done["result"].get("isError"):
            raise RuntimeError(f"load_skill failed: {str(done)[:300]}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    answer, _ = post(conn, LIST, sid)
    elapsed = time.perf_counter() - t0
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return elapsed, p, answer["result"]["tools"]


def compact_bytes(value):
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def context_cost(tools):
    """Bytes of name + description + input schema (what a client puts before the model for every
    listed tool), and of the whole tools/list result."""
    listed = sum(compact_bytes({"name": t.get("name"), "description": t.get("description"),
                                "inputSchema": t.get("inputSchema")}) for t in tools)  # fmt: skip
    return {"context_bytes": listed, "result_bytes": compact_bytes({"tools": tools})}


MODERN = "2026-07-28"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN,
               "io.modelcontextprotocol/clientInfo": {"name": "stagecraft-bench", "version": "1"},
               "io.modelcontextprotocol/clientCapabilities": {}}  # fmt: skip


def start_http_modern(cmd, port, env, cwd):
    """The same clock for a 2026-07-28 client: no handshake, `server/discover` then `tools/list`,
    each a stateless POST on one keep-alive connection (what the Python client sends in `auto` mode)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, cwd=cwd)  # fmt: skip
    wait_for_port(p, port, t0 + 20, cmd[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    answer = None
    for rid, method in ((1, "server/discover"), (2, "tools/list")):
        body = {"jsonrpc": "2.0", "id": rid, "method": method, "params": {"_meta": MODERN_META}}
        headers = dict(HEADERS, **{"MCP-Protocol-Version": MODERN, "Mcp-Method": method})
        conn.request("POST", "/mcp", json.dumps(body), headers)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200 or not (r.getheader("Content-Type") or "").startswith("application/json"):
            raise RuntimeError(f"{method}: HTTP {r.status} {r.getheader('Content-Type')}: {data[:200]!r}")
        answer = json.loads(data)
        if "error" in answer:
            raise RuntimeError(answer["error"])
    elapsed = time.perf_counter() - t0
    return elapsed, p, answer["result"]["tools"]


def wait_for_port(p, port, deadline, name):
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}")
            if time.perf_counter() > deadline:
                p.kill()
                raise RuntimeError(f"{name} did not listen on {port}")
            time.sleep(0.0005)


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def summary(values, scale=1.0, digits=2):
    xs = sorted(v * scale for v in values)
    q = statistics.quantiles(xs, n=4) if len(xs) >= 4 else [xs[0], xs[len(xs) // 2], xs[-1]]
    return {"median": round(statistics.median(xs), digits), "p25": round(q[0], digits),
            "p75": round(q[2], digits), "min": round(xs[0], digits), "max": round(xs[-1], digits),
            "n": len(xs)}  # fmt: skip


# ---- the contenders -------------------------------------------------------------------------


def contenders(args, home):
    env = dict(os.environ)
    env.update({"XDG_CONFIG_HOME": home, "HOME": home, "STAGECRAFT_LOG": "warn",
                "RUST_LOG": "warn", "NO_COLOR": "1"})  # fmt: skip
    env.pop("STAGECRAFT_CONFIG", None)
    out = {}
    out["stagecraft stdio"] = lambda: start_stdio([args.stagecraft, "serve"], env, home)

    def sc_http():
        port = free_port()
        cmd = [args.stagecraft, "serve", "--http", f"127.0.0.1:{port}"]
        return start_http(cmd, port, env, home)

    out["stagecraft http"] = sc_http

    def sc_http_modern():
        port = free_port()
        cmd = [args.stagecraft, "serve", "--http", f"127.0.0.1:{port}"]
        return start_http_modern(cmd, port, env, home)

    out["stagecraft http, 2026-07-28"] = sc_http_modern
    if args.dcc_mcp:
        def dcc_http():
            port = free_port()
            cmd = [args.dcc_mcp, "serve", "--no-auto-gateway", "--no-bridge", "--host", "127.0.0.1",
                   "--mcp-port", str(port), "--skill-paths", args.dcc_skills, "--no-log-file"]  # fmt: skip
            return start_http(cmd, port, env, home)

        out["dcc-mcp-server http"] = dcc_http
        skills = sorted(os.listdir(args.dcc_skills))

        def dcc_http_loaded():
            port = free_port()
            cmd = [args.dcc_mcp, "serve", "--no-auto-gateway", "--no-bridge", "--host", "127.0.0.1",
                   "--mcp-port", str(port), "--skill-paths", args.dcc_skills, "--no-log-file"]  # fmt: skip
            return start_http(cmd, port, env, home, load_skills=skills)

        out["dcc-mcp-server http + load_skill(all)"] = dcc_http_loaded
    if args.mcp_blender:
        # mcp-for-blender serves stdio only and lists its tools without a running Blender.
        out["mcp-for-blender stdio"] = lambda: start_stdio([args.mcp_blender], env, home)
    return out


def startup(args, home):
    runners = contenders(args, home)
    times = {k: [] for k in runners}
    rss = {k: [] for k in runners}
    anon = {k: [] for k in runners}
    filed = {k: [] for k in runners}
    tools = {}
    context = {}
    nthreads = {}
    errors = {}
    for i in range(args.warmup + args.runs):
        order = list(runners)
        if i % 2:
            order.reverse()  # alternate who goes first
        for name in order:
            if name in errors:
                continue
            try:
                elapsed, p, listed = runners[name]()
            except Exception as e:  # noqa: BLE001 - reported in the results
                errors[name] = repr(e)
                continue
            try:
                if i >= args.warmup:
                    times[name].append(elapsed)
                    tools[name] = len(listed)
                    context[name] = context_cost(listed)
                    if (i - args.warmup) < args.rss_runs:
                        time.sleep(args.idle_seconds)
                        rss[name].append(rss_kb(p.pid))
                        anon[name].append(rss_kb(p.pid, "RssAnon"))
                        filed[name].append(rss_kb(p.pid, "RssFile"))
                        nthreads[name] = threads(p.pid)
            finally:
                stop(p)
    result = {}
    for name in runners:
        if name in errors and not times[name]:
            result[name] = {"error": errors[name]}
            continue
        result[name] = {"start_ms": summary(times[name], 1000, 2),
                        "idle_rss_mb": summary(rss[name], 1 / 1024, 1),
                        "idle_rss_anon_mb": summary(anon[name], 1 / 1024, 1),
                        "idle_rss_file_mb": summary(filed[name], 1 / 1024, 1),
                        "threads": nthreads.get(name), "tools": tools.get(name),
                        **context.get(name, {})}  # fmt: skip
    return result


# ---- latency through the official MCP SDK client --------------------------------------------


async def latency_one(client_factory, call, n, concurrency):
    """Raw samples of one server: tools/list and tools/call seconds, and calls per second."""
    from mcp import Client

    # Round trips: the client's SEP-2549 response cache off, so every tools/list reaches the server
    # (with the cache on, even a forced refresh pays the client's cache write, ~1.5 ms).
    async with client_factory(Client, cache=None) as c:
        for _ in range(20):
            await c.list_tools()
            if call:
                await c.call_tool(*call)
        out = {"protocol": str(c.protocol_version), "list": [], "list_default": [], "call": [], "seq": [],
               "conc": []}  # fmt: skip
        for _ in range(n):
            t = time.perf_counter()
            await c.list_tools()
            out["list"].append(time.perf_counter() - t)
        if call:
            t_all = time.perf_counter()
            for _ in range(n):
                t = time.perf_counter()
                r = await c.call_tool(*call)
                out["call"].append(time.perf_counter() - t)
            out["seq"].append(n / (time.perf_counter() - t_all))
            assert not r.is_error, r

            async def worker(k):
                for _ in range(k):
                    await c.call_tool(*call)

            per = max(1, n // concurrency)
            t_all = time.perf_counter()
            await asyncio.gather(*(worker(per) for _ in range(concurrency)))
            out["conc"].append(per * concurrency / (time.perf_counter() - t_all))
    # As an agent's host calls it: the client's defaults, which keep a 2026-07-28 listing while
    # its ttlMs lasts (a legacy server's listings carry no hint and are always fetched).
    async with client_factory(Client) as c:
        for _ in range(20):
            await c.list_tools()
        for _ in range(n):
            t = time.perf_counter()
            await c.list_tools()
            out["list_default"].append(time.perf_counter() - t)
    return out


def latency_summary(runs, concurrency):
    """Pools the samples of every run of one server."""
    pooled = {k: [x for r in runs for x in r[k]] for k in ("list", "list_default", "call", "seq", "conc")}
    out = {"protocol": runs[0]["protocol"], "runs": len(runs)}
    out["tools/list_us"] = summary(pooled["list"], 1e6, 0)
    out["tools/list_default_us"] = summary(pooled["list_default"], 1e6, 0)
    if pooled["call"]:
        out["tools/call_us"] = summary(pooled["call"], 1e6, 0)
        out["tools/call_per_s_sequential"] = round(statistics.median(pooled["seq"]))
        out[f"tools/call_per_s_{concurrency}_concurrent"] = round(statistics.median(pooled["conc"]))
    return out


def latency(args, home):
    from mcp import StdioServerParameters

    env = dict(os.environ)
    env.update({"XDG_CONFIG_HOME": home, "HOME": home, "STAGECRAFT_LOG": "warn"})
    env.pop("STAGECRAFT_CONFIG", None)
    call = ("get_selection", {})
    results = {}

    def stdio(cmd, mode):
        def factory(Client, **options):
            params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env, cwd=home)
            return Client(params, mode=mode, **options)

        return factory

    results["stagecraft stdio"] = latency_summary(
        [asyncio.run(latency_one(stdio([args.stagecraft, "serve"], "auto"), call, args.calls, 8))], 8)
    samples = {}

    def with_http(cmd, port, name, call, mode="auto"):
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env, cwd=home)  # fmt: skip
        try:
            deadline = time.time() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline or p.poll() is not None:
                        raise RuntimeError(f"{name} did not start")
                    time.sleep(0.01)
            url = f"http://127.0.0.1:{port}/mcp"
            run = asyncio.run(latency_one(lambda Client, **options: Client(url, mode=mode, **options), call,
                                          args.calls, 8))  # fmt: skip
            samples.setdefault(name, []).append(run)
        except Exception as e:  # noqa: BLE001 - reported in the results
            results[name] = {"error": repr(e)}
        finally:
            stop(p)

    def stagecraft_http(name, mode):
        port = free_port()
        with_http([args.stagecraft, "serve", "--http", f"127.0.0.1:{port}"], port, name, call, mode)

    def dcc_mcp_http():
        port = free_port()
        cmd = [args.dcc_mcp, "serve", "--no-auto-gateway", "--no-bridge", "--host", "127.0.0.1",
               "--mcp-port", str(port), "--skill-paths", args.dcc_skills, "--no-log-file"]  # fmt: skip
        # No DCC is attached: `list_skills` (reads its skill catalog, no arguments) is the nearest
        # cheap call (`list_roots` answers "requires Mcp-Session-Id header" to the Python client).
        with_http(cmd, port, "dcc-mcp-server http", ("list_skills", {}))

    # The HTTP servers take turns, twice (in reverse order the second time), and each row pools both
    # runs, so a burst of machine load does not land on one server only.
    order = [lambda: stagecraft_http("stagecraft http", "auto"),
             lambda: stagecraft_http("stagecraft http (2025-11-25 session)", "legacy")]  # fmt: skip
    if args.dcc_mcp:
        order.append(dcc_mcp_http)
    for run in order + order[::-1]:
        run()
    for name, runs in samples.items():
        if name not in results:
            results[name] = latency_summary(runs, 8)
    if args.mcp_blender:
        # Its tools all need a running Blender: tools/list only.
        run = asyncio.run(latency_one(stdio([args.mcp_blender], "auto"), None, args.calls, 8))
        results["mcp-for-blender stdio"] = latency_summary([run], 8)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stagecraft", required=True)
    ap.add_argument("--dcc-mcp")
    ap.add_argument("--dcc-skills")
    ap.add_argument("--mcp-blender", help="mcp-for-blender's console script (stdio server)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rss-runs", type=int, default=5)
    ap.add_argument("--idle-seconds", type=float, default=1.0)
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    args.stagecraft = os.path.abspath(args.stagecraft)
    if args.dcc_skills:
        args.dcc_skills = os.path.abspath(args.dcc_skills)
    with tempfile.TemporaryDirectory(prefix="stagecraft-bench-") as home:
        result = {"startup": startup(args, home)}
        if not args.skip_latency:
            result["latency"] = latency(args, home)
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

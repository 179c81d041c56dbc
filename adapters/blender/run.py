"""Headless entry point: serve the stagecraft bridge from a background Blender.

    PYTHON adapters/blender/run.py --stdio                      (PYTHON has the bpy module)
    blender --background --factory-startup --python adapters/blender/run.py -- --stdio

Instead of --stdio: --pipe PATH, --ws 127.0.0.1:PORT, --http 127.0.0.1:PORT (port 0 picks a
free one; the ready line on stderr says which). Options: --token-env NAME (shared secret for
ws/pipe/http), --allow-scripts (enables script.execute), --open FILE.blend.

The main thread belongs to the request loop for the whole run: timers never fire in
background Blender, and Blender's API must only be called from the main thread.
"""

import argparse
import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="run.py", description="stagecraft bridge for headless Blender (docs/bridge-protocol.md)"
    )
    parser.add_argument("--stdio", action="store_true", help="embedded: JSON lines on stdio")
    parser.add_argument("--pipe", metavar="PATH", help="named_pipe: Unix domain socket path")
    parser.add_argument("--ws", metavar="HOST:PORT", help="websocket listener")
    parser.add_argument("--http", metavar="HOST:PORT", help="http listener (POST /rpc)")
    parser.add_argument("--token-env", metavar="NAME", help="env var holding the shared token")
    parser.add_argument("--allow-scripts", action="store_true", help="enable script.execute")
    parser.add_argument("--open", metavar="FILE", help="open this .blend first")
    args = parser.parse_args(argv)
    if not (args.stdio or args.pipe or args.ws or args.http):
        parser.error("choose a transport: --stdio, --pipe PATH, --ws HOST:PORT or --http HOST:PORT")
    return args


def _embedded_command(bpy):
    """How stagecraft would start this very Blender as an embedded DCC."""
    script = os.path.abspath(__file__)
    if not bpy.app.binary_path:
        return [sys.executable, script, "--stdio"]
    blender = [bpy.app.binary_path, "--background", "--factory-startup"]
    return blender + ["--python", script, "--", "--stdio"]


def main():
    # Blender passes script arguments after "--"; the bpy module gets them directly.
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    args = parse_args(argv)

    proto_out = None
    if args.stdio:
        # Keep a private copy of stdout for protocol lines and point fd 1 at stderr, before
        # bpy is imported: Blender's C code prints to fd 1 and would corrupt the stream.
        sys.stdout.flush()
        proto_out = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)

    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            print(f"stagecraft: --token-env {args.token_env} is not set or empty", file=sys.stderr)
            sys.exit(2)

    sys.path.insert(0, HERE)
    import bpy

    from stagecraft_blender import transports
    from stagecraft_blender.server import Server, dcc_config_block

    if args.open:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(args.open))

    chosen = []
    try:
        if args.stdio:
            chosen.append(transports.StdioTransport(sys.stdin.buffer, proto_out))
        if args.pipe:
            chosen.append(transports.PipeTransport(args.pipe))
        if args.ws:
            chosen.append(transports.WebSocketTransport(*transports.parse_host_port(args.ws)))
        if args.http:
            chosen.append(transports.HttpTransport(*transports.parse_host_port(args.http)))
        server = Server(token=token, allow_scripts=args.allow_scripts)
        server.start(chosen)
    except (OSError, ValueError) as exc:
        print(f"stagecraft: cannot start: {exc}", file=sys.stderr)
        os._exit(2)

    def stop(signum, frame):
        server.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    for t in chosen:
        ready = {
            "bridge": t.kind,
            "endpoint": t.endpoint,
            "pid": os.getpid(),
            "blender": bpy.app.version_string,
            "allow_scripts": args.allow_scripts,
        }
        print("stagecraft-blender ready " + json.dumps(ready), file=sys.stderr, flush=True)
        print(
            dcc_config_block(t.kind, t.endpoint, args.token_env, command=_embedded_command(bpy)),
            file=sys.stderr,
        )
    sys.stderr.flush()

    try:
        server.serve_forever()
    finally:
        server.stop()
        sys.stderr.flush()
        if proto_out is not None:
            try:
                proto_out.flush()
            except OSError:
                pass
        # I/O threads may still block on reads; bpy 4.5 deadlocks at exit if any thread is
        # alive (docs/architecture.md#the-blender-adapter), so leave without running interpreter teardown.
        os._exit(0)


if __name__ == "__main__":
    main()

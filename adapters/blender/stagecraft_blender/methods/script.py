"""script.*: Python run inside Blender, only when the bridge was started with scripts allowed."""

import contextlib
import io
import json
import os
import time
import traceback

import bpy

from ..protocol import DccError, get_str, invalid


def supported_languages(params, req):
    return ["python"]


def execute(params, req):
    if not req.server.allow_scripts:
        raise DccError(
            "PERMISSION_DENIED",
            "script execution is disabled in this Blender; restart the bridge with "
            "--allow-scripts (or tick 'Allow scripts' in the stagecraft panel)",
            recoverable=False,
        )
    language = get_str(params, "language", "python").lower()
    if language != "python":
        raise DccError("UNSUPPORTED", f"Blender runs python scripts only, not {language!r}")
    code = get_str(params, "code", allow_empty=True)
    path = get_str(params, "path")
    if (code is None) == (path is None):
        raise invalid("give exactly one of 'code' or 'path'")
    args = params.get("args") or {}
    if not isinstance(args, dict):
        raise invalid("parameter 'args' must be an object")
    filename = "<stagecraft script>"
    if path is not None:
        path = os.path.abspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                code = f.read()
        except OSError as exc:
            raise invalid(f"cannot read script {path}: {exc}") from None
        filename = path
    namespace = {"__name__": "__stagecraft__", "__file__": filename, "bpy": bpy, "args": args}
    namespace["result"] = None
    out = io.StringIO()
    started = time.perf_counter()
    error = None
    try:
        compiled = compile(code, filename, "exec")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compiled, namespace)  # noqa: S102 - the whole point, gated by --allow-scripts
    except Exception:  # noqa: BLE001 - the script's own failure is a result, not our crash
        error = traceback.format_exc(limit=-6)
    elapsed = (time.perf_counter() - started) * 1000.0
    result, context = namespace.get("result"), {"language": "python"}
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        context["result_repr"] = "result was not JSON-serialisable; sent as repr()"
        result = repr(result)
    if params.get("timeout_ms") is not None:
        context["timeout_ms"] = "advisory: Python in Blender's main thread is not interruptible"
    answer = {
        "success": error is None,
        "execution_time_ms": elapsed,
        "output": out.getvalue(),
        "result": result,
        "context": context,
    }
    if error is not None:
        answer["error"] = error
    return answer


METHODS = {
    "script.execute": execute,
    "script.supported_languages": supported_languages,
}

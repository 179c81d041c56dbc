"""script.*: Python run inside Blender, only when the bridge was started with scripts allowed.

A running script can be stopped (timeout_ms, `$/cancel`) by raising an exception in the main
thread asynchronously (PyThreadState_SetAsyncExc). That interrupts Python bytecode only: a
script stuck inside one long Blender call (a render) stops when that call returns.
"""

import contextlib
import ctypes
import io
import json
import os
import threading
import time
import traceback

import bpy

from ..protocol import DccError, get_number, get_str, invalid


class ScriptInterrupted(BaseException):
    """Raised inside a script; BaseException so a script's `except Exception` cannot eat it."""


class ScriptTimeout(ScriptInterrupted):
    pass


class ScriptCancelled(ScriptInterrupted):
    pass


class _Interrupter:
    """Raises an exception in the thread running the script, but only while it runs."""

    def __init__(self):
        self.thread_id = threading.get_ident()
        self.lock = threading.Lock()
        self.running = True

    def fire(self, exc_type):
        with self.lock:
            if self.running:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self.thread_id), ctypes.py_object(exc_type)
                )

    def finish(self):
        with self.lock:
            self.running = False
            # Drop an exception scheduled but not yet delivered, so it cannot hit our code.
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), None)


def supported_languages(params, req):
    return ["python"]


def _source(params):
    code = get_str(params, "code", allow_empty=True)
    path = get_str(params, "path")
    if (code is None) == (path is None):
        raise invalid("give exactly one of 'code' or 'path'")
    if path is None:
        return code, "<stagecraft script>"
    path = os.path.abspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    except OSError as exc:
        raise invalid(f"cannot read script {path}: {exc}") from None


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
    code, filename = _source(params)
    args = params.get("args") or {}
    if not isinstance(args, dict):
        raise invalid("parameter 'args' must be an object")
    timeout_ms = get_number(params, "timeout_ms", minimum=1)
    try:
        compiled = compile(code, filename, "exec")
    except SyntaxError:
        return _answer(False, 0.0, "", None, traceback.format_exc(limit=0))

    namespace = {"__name__": "__stagecraft__", "__file__": filename, "bpy": bpy, "args": args}
    namespace["result"] = None
    out = io.StringIO()
    interrupter = _Interrupter()
    timer = None
    if timeout_ms is not None:
        timer = threading.Timer(timeout_ms / 1000.0, interrupter.fire, (ScriptTimeout,))
        timer.daemon = True
    req.on_cancel = lambda: interrupter.fire(ScriptCancelled)
    error = None
    started = time.perf_counter()
    try:
        try:
            if timer is not None:
                timer.start()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(compiled, namespace)  # noqa: S102 - the point of it, gated by --allow-scripts
        except ScriptInterrupted:
            raise
        except Exception:  # noqa: BLE001 - the script's own failure is a result, not ours
            error = traceback.format_exc(limit=-6)
        finally:
            interrupter.finish()
    except ScriptTimeout:
        error = f"TimeoutError: the script ran longer than timeout_ms={timeout_ms:g}"
    except ScriptCancelled:
        error = "cancelled by $/cancel"
    finally:
        req.on_cancel = None
        if timer is not None:
            timer.cancel()
            timer.join()  # no thread may outlive the request (bpy 4.5 hangs at exit)
    elapsed = (time.perf_counter() - started) * 1000.0
    return _answer(error is None, elapsed, out.getvalue(), namespace.get("result"), error)


def _answer(success, elapsed, output, result, error):
    context = {"language": "python"}
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        context["result_repr"] = "result was not JSON-serialisable; sent as repr()"
        result = repr(result)
    answer = {
        "success": success,
        "execution_time_ms": elapsed,
        "output": output,
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

"""Wire-level pieces of stagecraft-bridge/1 that do not depend on Blender.

JSON-RPC message shapes, the DccErrorCode error type, strict JSON (no NaN/Infinity either
way), parameter validation helpers and the F32Array codec. Kept free of `bpy` so the
transports and the test client can share the same rules.
"""

import base64
import json
import math
import sys
from array import array

PROTOCOL = "stagecraft-bridge/1"

# A line or frame is at most 256 MiB (docs/bridge-protocol.md#transports).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024

# JSON-RPC 2.0 codes; -32000 carries a DccErrorCode in data.code.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
DCC_ERROR = -32000
# Not in JSON-RPC 2.0 itself; the value LSP uses for "request cancelled".
REQUEST_CANCELLED = -32800


class DccError(Exception):
    """A failure reported to stagecraft as a JSON-RPC error carrying a DccErrorCode."""

    def __init__(self, code, message, details=None, recoverable=True, rpc_code=DCC_ERROR):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.recoverable = recoverable
        self.rpc_code = rpc_code

    def to_error(self):
        data = {"code": self.code, "recoverable": self.recoverable}
        if self.details is not None:
            data["details"] = self.details if isinstance(self.details, str) else dumps(self.details)
        return {"code": self.rpc_code, "message": self.message, "data": data}


def invalid(message, details=None):
    return DccError("INVALID_INPUT", message, details, rpc_code=INVALID_PARAMS)


def scene_error(message, details=None):
    return DccError("SCENE_ERROR", message, details)


class Cancelled(Exception):
    """Raised inside a method when stagecraft sent `$/cancel` for it."""


def _reject_constant(name):
    raise ValueError(f"non-finite number {name} is not valid JSON")


def loads(data):
    """Parses one message; NaN/Infinity are refused (they are not JSON)."""
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8")
    return json.loads(data, parse_constant=_reject_constant)


def dumps(obj):
    """Serialises one message on one line; refuses non-finite floats rather than emit NaN."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def response(msg_id, result):
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


def error_response(msg_id, error):
    return {"jsonrpc": "2.0", "id": msg_id, "error": error}


def notification(method, params):
    return {"jsonrpc": "2.0", "method": method, "params": params}


# ---------------------------------------------------------------------------------------
# Parameter helpers: every method validates through these, so bad input is always
# INVALID_INPUT with the parameter's name in the message, never a Python traceback.


def _missing(name):
    return invalid(f"missing required parameter '{name}'")


def get_str(params, name, default=None, required=False, allow_empty=False):
    value = params.get(name)
    if value is None:
        if required:
            raise _missing(name)
        return default
    if not isinstance(value, str):
        raise invalid(f"parameter '{name}' must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise invalid(f"parameter '{name}' must not be empty")
    return value


def get_bool(params, name, default=False):
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(f"parameter '{name}' must be a boolean, got {type(value).__name__}")
    return value


def check_number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"'{name}' must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise invalid(f"'{name}' must be finite")
    return value


def get_number(params, name, default=None, required=False, minimum=None):
    value = params.get(name)
    if value is None:
        if required:
            raise _missing(name)
        return default
    check_number(value, name)
    if minimum is not None and value < minimum:
        raise invalid(f"parameter '{name}' must be >= {minimum}, got {value}")
    return value


def get_int(params, name, default=None, required=False, minimum=None):
    value = get_number(params, name, default, required, minimum)
    if value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            raise invalid(f"parameter '{name}' must be an integer, got {value}")
        value = int(value)
    return value


def get_vec3(params, name, default=None):
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise invalid(f"parameter '{name}' must be an array of 3 numbers")
    return [float(check_number(v, f"{name}[{i}]")) for i, v in enumerate(value)]


def get_str_list(params, name, required=True):
    value = params.get(name)
    if value is None:
        if required:
            raise _missing(name)
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"parameter '{name}' must be an array of strings")
    return value


# ---------------------------------------------------------------------------------------
# F32Array: {"dtype": "f32", "shape": [..], "b64": little-endian float32, row-major}


def decode_f32(value, name, shape=None):
    """Decodes an F32Array into (flat array('f'), shape). `shape` entries of None are free."""
    if not isinstance(value, dict):
        raise invalid(f"'{name}' must be an F32Array object {{dtype, shape, b64}}")
    if value.get("dtype") != "f32":
        raise invalid(f"'{name}.dtype' must be \"f32\", got {value.get('dtype')!r}")
    got = value.get("shape")
    if not isinstance(got, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in got
    ):
        raise invalid(f"'{name}.shape' must be an array of non-negative integers")
    if shape is not None:
        if len(got) != len(shape) or any(w is not None and w != g for w, g in zip(shape, got)):
            want = "[" + ", ".join("?" if w is None else str(w) for w in shape) + "]"
            raise invalid(f"'{name}.shape' must be {want}, got {got}")
    b64 = value.get("b64")
    if not isinstance(b64, str):
        raise invalid(f"'{name}.b64' must be a base64 string")
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError as exc:
        raise invalid(f"'{name}.b64' is not valid base64: {exc}") from None
    count = math.prod(got)
    if len(raw) != 4 * count:
        raise invalid(f"'{name}' holds {len(raw)} bytes, shape {got} needs {4 * count} (float32)")
    data = array("f")
    data.frombytes(raw)
    if sys.byteorder != "little":
        data.byteswap()
    for i, v in enumerate(data):
        if not math.isfinite(v):
            raise invalid(f"'{name}' holds a non-finite value at flat index {i}")
    return data, got


def encode_f32(values, shape):
    data = array("f", values)
    if sys.byteorder != "little":
        data.byteswap()
    return {
        "dtype": "f32",
        "shape": list(shape),
        "b64": base64.b64encode(data.tobytes()).decode("ascii"),
    }

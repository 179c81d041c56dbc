"""Ending a Streamable HTTP session: the client's DELETE is answered 200, as the Python MCP client
expects (it logs "Session termination failed: 202" for anything but 200 or 204), and the session is
really gone afterwards."""

import logging
import urllib.error
import urllib.request

import anyio
from mcp import Client

from test_mcp_clients import HttpServer

INITIALIZE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
)
PING = b'{"jsonrpc":"2.0","id":2,"method":"ping"}'
ACCEPT = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def send(url: str, method: str, body: bytes | None, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def test_python_client_ends_its_session_without_a_warning(stagecraft_bin, empty_config, caplog):
    server = HttpServer(stagecraft_bin, empty_config)
    try:

        async def main():
            async with Client(server.url, mode="legacy") as client:
                assert client.protocol_version == "2025-11-25"
                await client.list_tools()

        with caplog.at_level(logging.DEBUG, logger="mcp.client.streamable_http"):
            anyio.run(main)
        failures = [r.getMessage() for r in caplog.records if "Session termination failed" in r.getMessage()]
        assert failures == []
    finally:
        assert server.stop() == 0


def test_delete_answers_200_and_ends_the_session(stagecraft_bin, empty_config):
    server = HttpServer(stagecraft_bin, empty_config)
    try:
        status, headers = send(server.url, "POST", INITIALIZE, ACCEPT)
        assert status == 200
        session = {k.lower(): v for k, v in headers.items()}["mcp-session-id"]
        in_session = {**ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}

        status, _ = send(server.url, "DELETE", None, in_session)
        assert status == 200
        # The session is gone: a request in it is refused (404 tells the client to start anew).
        status, _ = send(server.url, "POST", PING, in_session)
        assert status == 404
    finally:
        assert server.stop() == 0

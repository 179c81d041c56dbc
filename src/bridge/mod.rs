//! The `Bridge` trait and its four transports (embedded, http, websocket, named_pipe);
//! JSON-RPC framing and the `dcc.hello` session. Knows framing and sessions only.

//! stdin for the stdio transport, with requests larger than [`MAX_REQUEST_BYTES`] answered instead
//! of dropped.
//!
//! rmcp's stdio transport discards an oversized line and answers nothing, so a client waits for
//! ever on that request id. Here a pump task reads stdin line by line, never buffering more than
//! the limit, and hands rmcp every line unchanged except an oversized one: that becomes a small
//! [`OVERSIZED_METHOD`] request with the same id, which the handler answers with an error. The
//! id is read from the start of the line; when it cannot be found there, the replacement has a
//! `null` id and rmcp answers it as an invalid request, which is what JSON-RPC prescribes when the
//! id cannot be determined.

use super::MAX_REQUEST_BYTES;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// The method an oversized request is replaced with; the handler answers it with an error.
pub const OVERSIZED_METHOD: &str = "stagecraft/oversized_request";

/// How much of an oversized line is kept to find its id in.
const HEAD_BYTES: usize = 4096;

/// `stdin` as rmcp reads it: a pipe fed by a task that applies the size limit.
pub fn guarded(
    stdin: impl AsyncRead + Send + Unpin + 'static,
) -> impl AsyncRead + Send + Unpin + 'static {
    let (reader, writer) = tokio::io::simplex(64 * 1024);
    tokio::spawn(pump(BufReader::new(stdin), writer, MAX_REQUEST_BYTES));
    reader
}

/// Copies lines from `input` to `output`, replacing each line longer than `limit` bytes.
/// Ends when either side closes.
async fn pump<R, W>(mut input: R, mut output: W, limit: usize)
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        match read_bounded_line(&mut input, limit).await {
            Ok(Line::Whole(line)) => {
                if output.write_all(&line).await.is_err() {
                    return;
                }
            }
            Ok(Line::Oversized { head }) => {
                tracing::warn!(limit, "refused an MCP request larger than the limit");
                let mut line = oversized_replacement(&head, limit).to_string().into_bytes();
                line.push(b'\n');
                if output.write_all(&line).await.is_err() {
                    return;
                }
            }
            Ok(Line::Eof) | Err(_) => break,
        }
        if output.flush().await.is_err() {
            return;
        }
    }
    let _ = output.shutdown().await;
}

enum Line {
    /// A line with its newline (or the last bytes before end of input).
    Whole(Vec<u8>),
    /// A line over the limit, already skipped to its end; `head` is its start.
    Oversized {
        head: Vec<u8>,
    },
    Eof,
}

/// Reads one line without holding more than `limit` bytes of it.
async fn read_bounded_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    limit: usize,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut oversized = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (oversized, line.is_empty()) {
                (true, _) => Line::Oversized { head: line },
                (false, true) => Line::Eof,
                (false, false) => Line::Whole(line),
            });
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let take = newline.map_or(available.len(), |i| i + 1);
        if !oversized && line.len() + take > limit {
            oversized = true;
            line.truncate(HEAD_BYTES);
        }
        if oversized {
            let room = HEAD_BYTES.saturating_sub(line.len()).min(take);
            line.extend_from_slice(&available[..room]);
        } else {
            line.extend_from_slice(&available[..take]);
        }
        input.consume(take);
        if newline.is_some() {
            return Ok(if oversized {
                Line::Oversized { head: line }
            } else {
                Line::Whole(line)
            });
        }
    }
}

/// The request that stands in for an oversized one.
fn oversized_replacement(head: &[u8], limit: usize) -> Value {
    match top_level_id(head) {
        Some(id) => json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": OVERSIZED_METHOD,
            "params": {"max_request_bytes": limit},
        }),
        // Valid JSON that is no message: rmcp answers "Invalid request" with a null id.
        None => json!({"jsonrpc": "2.0", "id": null}),
    }
}

/// The `id` member of the top-level object that starts `head` (a number or a string), if the
/// head holds all of it.
fn top_level_id(head: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(head);
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(bytes, i)?;
                let is_key = bytes[end + 1..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_some_and(|b| *b == b':');
                if depth == 1 && is_key && &text[i..=end] == "\"id\"" {
                    return id_value(&text[end + 1..]);
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the quote that closes the string opening at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The JSON-RPC id after `"id"`: `rest` starts at the colon.
fn id_value(rest: &str) -> Option<Value> {
    let value = rest.trim_start().strip_prefix(':')?.trim_start();
    let mut stream = serde_json::Deserializer::from_str(value).into_iter::<Value>();
    match stream.next()? {
        Ok(id @ (Value::Number(_) | Value::String(_))) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pumped(input: &[u8], limit: usize) -> Vec<String> {
        let (reader, writer) = tokio::io::simplex(1024);
        let feed = tokio::spawn(pump(std::io::Cursor::new(input.to_vec()), writer, limit));
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut BufReader::new(reader), &mut out)
            .await
            .expect("read");
        feed.await.expect("pump");
        out.lines().map(str::to_string).collect()
    }

    #[tokio::test]
    async fn small_lines_pass_unchanged_and_a_big_one_keeps_its_id() {
        let big = format!(
            r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"x":"{}"}}}}"#,
            "y".repeat(500)
        );
        let input = format!("{{\"a\":1}}\n{big}\n{{\"b\":2}}\n");
        let lines = pumped(input.as_bytes(), 100).await;
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], r#"{"a":1}"#);
        let replaced: Value = serde_json::from_str(&lines[1]).expect("json");
        assert_eq!(replaced["id"], 9);
        assert_eq!(replaced["method"], OVERSIZED_METHOD);
        assert_eq!(replaced["params"]["max_request_bytes"], 100);
        assert_eq!(lines[2], r#"{"b":2}"#);
    }

    #[tokio::test]
    async fn an_unterminated_last_line_is_still_delivered_or_refused() {
        assert_eq!(pumped(b"{\"a\":1}", 100).await, [r#"{"a":1}"#]);
        let refused = pumped(
            format!("{{\"id\":\"x\",\"p\":\"{}\"", "y".repeat(200)).as_bytes(),
            100,
        )
        .await;
        let replaced: Value = serde_json::from_str(&refused[0]).expect("json");
        assert_eq!(replaced["id"], "x");
    }

    #[test]
    fn finds_only_the_top_level_id() {
        let id = |s: &str| top_level_id(s.as_bytes());
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":7,"method":"m"}"#),
            Some(json!(7))
        );
        assert_eq!(id(r#"{"params":{"id":1},"id":"top"}"#), Some(json!("top")));
        assert_eq!(
            id(r#"{"method":"m","params":{"id":1,"text":"\"id\":2"}"#),
            None
        );
        assert_eq!(id(r#"{"name":"id","id" : -3}"#), Some(json!(-3)));
        assert_eq!(id(r#"{"id":null}"#), None);
        assert_eq!(id(r#"{"method":"m","params":{"big":"yyyy"#), None);
        assert_eq!(id(r#"{"id":12"#), Some(json!(12)));
    }
}

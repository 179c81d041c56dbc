//! A connected transport as channels: frames to send, frames received, and a kill switch.
//!
//! Each transport spawns its own reader and writer tasks; the session above only sees text
//! messages. Dropping or killing a link closes the connection (and ends an embedded process).

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the reader side reports.
#[derive(Debug)]
pub enum Inbound {
    Message(String),
    /// The connection ended (EOF, error, exited process, oversized frame); nothing more will come.
    Closed(String),
}

pub struct Link {
    pub tx: mpsc::Sender<String>,
    pub rx: mpsc::Receiver<Inbound>,
    /// Cancelling it closes the connection (and kills an embedded process).
    pub kill: CancellationToken,
    /// Tasks that end once the connection is fully closed (an embedded process reaped).
    pub tasks: Vec<JoinHandle<()>>,
}

/// Outcome of reading one line.
pub enum Line {
    Text(String),
    Eof,
    TooLong,
}

/// Reads one `\n`-terminated line of at most `max` bytes. An overlong line is consumed up to its
/// end (so the stream stays aligned) but not kept in memory.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if buf.is_empty() {
                Line::Eof
            } else {
                Line::Text(String::from_utf8_lossy(&buf).into_owned())
            });
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            buf.extend_from_slice(&chunk[..take]);
            if buf.len() > max.saturating_add(2) {
                too_long = true;
                buf = Vec::new();
            }
        }
        reader.consume(take);
        if done {
            if too_long {
                return Ok(Line::TooLong);
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            return match String::from_utf8(buf) {
                Ok(s) => Ok(Line::Text(s)),
                Err(_) => Ok(Line::Text(String::from("\u{fffd}not utf-8"))),
            };
        }
    }
}

/// How long a closing writer may spend saying goodbye (flush, shutdown, close frame).
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Spawns the writer task of a line-framed link: each message goes out as one line.
pub fn spawn_line_writer<W: AsyncWrite + Unpin + Send + 'static>(
    mut writer: W,
    mut out: mpsc::Receiver<String>,
    kill: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                m = out.recv() => m,
                _ = kill.cancelled() => None,
            };
            let Some(mut msg) = msg else { break };
            msg.push('\n');
            let written = async {
                writer.write_all(msg.as_bytes()).await?;
                writer.flush().await
            };
            // A DCC that stops reading blocks the write for ever: the kill switch must still work.
            let ok = tokio::select! {
                r = written => r.is_ok(),
                _ = kill.cancelled() => false,
            };
            if !ok {
                break;
            }
        }
        // Bounded for the same reason: a peer that reads nothing may never take the shutdown.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, writer.shutdown()).await;
    })
}

/// Spawns the reader task of a line-framed link. With `prefix`, only lines that start with it are
/// messages (the rest is the program's own output, logged at debug).
pub fn spawn_line_reader<R: AsyncBufRead + Unpin + Send + 'static>(
    mut reader: R,
    inbound: mpsc::Sender<Inbound>,
    kill: CancellationToken,
    max: usize,
    prefix: Option<&'static str>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let reason = loop {
            let line = tokio::select! {
                l = read_line(&mut reader, max) => l,
                _ = kill.cancelled() => break "closed by stagecraft".to_string(),
            };
            let text = match line {
                Ok(Line::Text(t)) => t,
                Ok(Line::Eof) => break "the connection was closed by the DCC".to_string(),
                Ok(Line::TooLong) => {
                    break format!(
                        "the DCC sent a message larger than {max} bytes; connection dropped"
                    );
                }
                Err(e) => break format!("read error: {e}"),
            };
            let message = match prefix {
                None => text,
                Some(p) => match text.strip_prefix(p) {
                    Some(rest) => rest.to_string(),
                    None => {
                        tracing::debug!(target: "stagecraft::dcc_output", "{text}");
                        continue;
                    }
                },
            };
            if message.trim().is_empty() {
                continue;
            }
            if inbound.send(Inbound::Message(message)).await.is_err() {
                return;
            }
        };
        let _ = inbound.send(Inbound::Closed(reason)).await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<String> {
        let mut reader = tokio::io::BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            match read_line(&mut reader, max).await.unwrap() {
                Line::Text(t) => out.push(t),
                Line::TooLong => out.push("<too long>".into()),
                Line::Eof => return out,
            }
        }
    }

    #[tokio::test]
    async fn lines_are_split_and_trimmed() {
        assert_eq!(
            lines(b"a\r\nbc\n\nlast", 100).await,
            ["a", "bc", "", "last"]
        );
    }

    #[tokio::test]
    async fn an_overlong_line_is_skipped_whole_and_the_next_is_read() {
        assert_eq!(
            lines(b"ok\n0123456789abcdef\nnext\n", 8).await,
            ["ok", "<too long>", "next"]
        );
    }
}

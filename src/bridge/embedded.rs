//! `embedded`: stagecraft starts the DCC (`command`) and owns its lifetime. Requests go as JSON
//! lines on the child's stdin; answers come on its stdout as lines prefixed `@@stagecraft ` (the
//! DCC's own output is logged at debug, never parsed). stderr is logged at debug too.
//!
//! Killing the link kills the process and waits for it, so no zombie is left behind; the reader
//! reports the exit status when the process dies on its own.

use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::BufReader;
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::link::{Inbound, Line, Link, read_line, spawn_line_writer};
use super::stream::Connector;

/// Prefix of protocol lines on the DCC's stdout.
pub const LINE_PREFIX: &str = "@@stagecraft ";

pub struct EmbeddedConnector {
    program: String,
    args: Vec<String>,
    max: usize,
}

impl EmbeddedConnector {
    pub fn new(command: &[String], max: usize) -> Result<Self, String> {
        let (program, args) = command
            .split_first()
            .ok_or("bridge embedded needs a command")?;
        Ok(Self {
            program: program.clone(),
            args: args.to_vec(),
            max,
        })
    }
}

/// Longest stderr line kept (to be logged); the rest of a longer line is read and dropped.
const STDERR_LINE_MAX: usize = 64 * 1024;

/// How long a DCC whose stdin was closed may take to exit before it is killed.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

#[async_trait]
impl Connector for EmbeddedConnector {
    fn endpoint(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(|a| shlex::try_quote(a).map_or_else(|_| a.to_string(), |q| q.into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    async fn connect(&self) -> Result<Link, String> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Belt and braces: if everything above is dropped without a kill, the child still goes.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", self.program))?;
        let pid = child.id().unwrap_or(0);
        let stdin = child.stdin.take().ok_or("no stdin pipe")?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let stderr = child.stderr.take();
        tracing::info!("started DCC process {pid}: {}", self.endpoint());

        let kill = CancellationToken::new();
        let (out_tx, out_rx) = mpsc::channel::<String>(64);
        let (in_tx, in_rx) = mpsc::channel::<Inbound>(64);
        let (status_tx, mut status_rx) = watch::channel::<Option<String>>(None);

        // The reaper owns the child: it waits for it to exit, or kills it (and then waits) when the
        // link is killed.
        let reaper_kill = kill.clone();
        let reaper = tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = reaper_kill.cancelled() => {
                    // The writer closes the child's stdin on the same signal, which adapters take
                    // as "stop": let it exit cleanly (release files, end its threads), then kill.
                    match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
                        Ok(status) => status,
                        Err(_) => {
                            let _ = child.start_kill();
                            child.wait().await
                        }
                    }
                }
            };
            let text = match status {
                Ok(s) => format!("the DCC process {pid} exited ({s})"),
                Err(e) => format!("the DCC process {pid} could not be waited for: {e}"),
            };
            tracing::info!("{text}");
            let _ = status_tx.send(Some(text));
        });

        let writer = spawn_line_writer(stdin, out_rx, kill.clone());

        let max = self.max;
        let reader_kill = kill.clone();
        let reader = tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout);
            let reason = loop {
                let line = tokio::select! {
                    l = read_line(&mut stdout, max) => l,
                    _ = reader_kill.cancelled() => break "closed by stagecraft".to_string(),
                };
                match line {
                    Ok(Line::Text(text)) => match text.strip_prefix(LINE_PREFIX) {
                        Some(msg) => {
                            if in_tx.send(Inbound::Message(msg.to_string())).await.is_err() {
                                return;
                            }
                        }
                        None => tracing::debug!(target: "stagecraft::dcc_output", "{text}"),
                    },
                    Ok(Line::TooLong) => {
                        break format!(
                            "the DCC sent a line larger than {max} bytes; the process is restarted"
                        );
                    }
                    Ok(Line::Eof) | Err(_) => {
                        // Stdout closed: the process is exiting; give the reaper a moment to say how.
                        let waited = tokio::time::timeout(
                            std::time::Duration::from_secs(2),
                            status_rx.wait_for(Option::is_some),
                        )
                        .await;
                        break match waited {
                            Ok(Ok(s)) => s.clone().unwrap_or_default(),
                            _ => "the DCC process closed its output".to_string(),
                        };
                    }
                }
            };
            let _ = in_tx.send(Inbound::Closed(reason)).await;
        });

        let mut tasks = vec![reaper, writer, reader];
        if let Some(stderr) = stderr {
            tasks.push(tokio::spawn(async move {
                // Bounded like stdout: a DCC printing without newlines must not grow our memory.
                let mut stderr = BufReader::new(stderr);
                loop {
                    match read_line(&mut stderr, STDERR_LINE_MAX).await {
                        Ok(Line::Text(line)) => {
                            tracing::debug!(target: "stagecraft::dcc_output", "{line}")
                        }
                        Ok(Line::TooLong) => tracing::debug!(
                            target: "stagecraft::dcc_output",
                            "(a stderr line longer than {STDERR_LINE_MAX} bytes, not shown)"
                        ),
                        Ok(Line::Eof) | Err(_) => break,
                    }
                }
            }));
        }
        Ok(Link {
            tx: out_tx,
            rx: in_rx,
            kill,
            tasks,
        })
    }
}

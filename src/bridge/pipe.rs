//! `named_pipe`: the adapter listens on a local socket (a Unix domain socket path on Linux and
//! macOS, `\\.\pipe\NAME` on Windows) and stagecraft connects; one JSON message per line.

use async_trait::async_trait;
use interprocess::local_socket::tokio::{Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, GenericNamespaced};
use tokio::io::BufReader;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::link::{Inbound, Link, spawn_line_reader, spawn_line_writer};
use super::stream::Connector;

pub struct PipeConnector {
    endpoint: String,
    max: usize,
}

impl PipeConnector {
    pub fn new(endpoint: &str, max: usize) -> Result<Self, String> {
        Ok(Self {
            endpoint: endpoint.to_string(),
            max,
        })
    }
}

#[async_trait]
impl Connector for PipeConnector {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    async fn connect(&self) -> Result<Link, String> {
        let pipe_prefix = r"\\.\pipe\";
        let name = if let Some(bare) = self.endpoint.strip_prefix(pipe_prefix) {
            bare.to_string()
                .to_ns_name::<GenericNamespaced>()
                .map_err(|e| format!("bad pipe name {:?}: {e}", self.endpoint))?
        } else {
            self.endpoint
                .clone()
                .to_fs_name::<GenericFilePath>()
                .map_err(|e| format!("bad socket path {:?}: {e}", self.endpoint))?
        };
        let stream = Stream::connect(name).await.map_err(|e| e.to_string())?;
        // A generic split: the stream's own `split` is deprecated in favour of sharing it.
        let (recv, send) = tokio::io::split(stream);
        let kill = CancellationToken::new();
        let (out_tx, out_rx) = mpsc::channel::<String>(64);
        let (in_tx, in_rx) = mpsc::channel::<Inbound>(64);
        let writer = spawn_line_writer(send, out_rx, kill.clone());
        let reader = spawn_line_reader(BufReader::new(recv), in_tx, kill.clone(), self.max, None);
        Ok(Link {
            tx: out_tx,
            rx: in_rx,
            kill,
            tasks: vec![writer, reader],
        })
    }
}

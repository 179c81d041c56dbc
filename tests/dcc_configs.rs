//! Every example config in examples/configs parses, and builds a hub with its connections.

use std::path::PathBuf;

use stagecraft::config::{BridgeKind, Config};
use stagecraft::dcc::DccHub;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn example_configs_parse_and_build_hubs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/configs");
    let mut kinds = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let config =
            Config::parse(&text, &path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!config.dcc.is_empty(), "{}", path.display());
        kinds.extend(config.dcc.iter().map(|d| d.bridge));
        if config.dcc.iter().any(|d| d.token_env.is_some() || d.listen) {
            continue; // needs a token in the environment, or would bind a fixed port
        }
        let hub = DccHub::new(&config, CancellationToken::new())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            hub.names()[0],
            config.dcc[0].name,
            "the first [[dcc]] is the default"
        );
        assert!(hub.names().contains(&"stage".to_string()));
        hub.shutdown().await;
    }
    assert!(seen >= 4);
    for kind in [
        BridgeKind::Embedded,
        BridgeKind::Http,
        BridgeKind::Websocket,
        BridgeKind::NamedPipe,
    ] {
        assert!(kinds.contains(&kind), "no example config for {kind:?}");
    }
}

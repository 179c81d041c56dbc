//! `adapter-check` against the built-in stage DCC: the reference adapter passes its own suite.

use std::time::Duration;

use stagecraft::config::Config;
use stagecraft::dcc::DccHub;
use stagecraft::dcc::check::run_suite;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn stage_passes_the_conformance_suite() {
    let hub = DccHub::new(&Config::default(), CancellationToken::new()).unwrap();
    let report = run_suite(&hub, Some("stage"), Duration::from_secs(30)).await;
    print!("{}", report.table());
    assert!(report.passed(), "{}", report.table());
    assert!(
        report
            .rows
            .iter()
            .filter(|r| r.passed == Some(true))
            .count()
            >= 30
    );
    for check in ["scene.import_file bvh", "render.capture_viewport"] {
        assert!(
            report
                .rows
                .iter()
                .any(|r| r.check == check && r.passed == Some(true)),
            "{check} did not pass:\n{}",
            report.table()
        );
    }
    assert!(stagecraft::dcc::adapter_check_stage().await);
}

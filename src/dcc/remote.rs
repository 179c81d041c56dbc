//! `RemoteAdapter`: the adapter traits over any Bridge.

use tokio_util::sync::CancellationToken;

use super::{DccError, HubOptions};
use crate::config::DccConfig;

pub struct RemoteAdapter {}

#[async_trait::async_trait]
impl super::DccAdapter for RemoteAdapter {
    async fn hello(
        &self,
        _call: &super::DccCall,
    ) -> super::adapter::DccResult<super::types::Hello> {
        Err(super::DccFailure::unsupported("dcc.hello"))
    }
    async fn ping(&self, _call: &super::DccCall) -> super::adapter::DccResult<super::types::Ping> {
        Err(super::DccFailure::unsupported("dcc.ping"))
    }
    fn info(&self) -> Option<super::types::DccInfo> {
        None
    }
    fn capabilities(&self) -> Option<super::types::DccCapabilities> {
        None
    }
    fn implements(&self, _method: &str) -> bool {
        false
    }
}

impl RemoteAdapter {
    pub fn from_config(
        dcc: &DccConfig,
        _options: &HubOptions,
        _shutdown: CancellationToken,
    ) -> Result<Self, DccError> {
        Err(DccError::Config(format!(
            "[[dcc]] {:?}: bridges are not built yet",
            dcc.name
        )))
    }
    pub fn endpoint(&self) -> Option<String> {
        None
    }
}

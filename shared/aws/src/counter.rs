//! Counts AWS API calls by service and operation (an SDK interceptor), so benchmarks and
//! tests can state how many DynamoDB writes and reads a step costs.

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A shared tally of calls, keyed `Service.Operation` (e.g. `dynamodb.GetItem`).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    /// The calls so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Forgets the calls so far.
    pub fn reset(&self) {
        if let Ok(mut m) = self.0.lock() {
            m.clear();
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "aos-call-counter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(meta), Ok(mut calls)) = (cfg.load::<Metadata>(), self.0.lock()) {
            *calls.entry(format!("{}.{}", meta.service().to_ascii_lowercase(), meta.name())).or_default() += 1;
        }
        Ok(())
    }
}

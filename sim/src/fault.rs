//! Injected faults: which requests they hit and what they do, for both simulators.

use std::time::Duration;

use crate::api::{FaultInfo, FaultKind, FaultSpec};

/// The faults injected into one simulator.
#[derive(Debug, Default)]
pub struct FaultBook {
    next_id: u64,
    rules: Vec<FaultInfo>,
}

/// What the matching faults ask a request to suffer.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Sum of the latencies of every matching fault.
    pub latency: Duration,
    /// The first matching fault that changes the answer (status, drop, refuse).
    pub action: Option<FaultSpec>,
}

impl Outcome {
    /// Whether any fault applied.
    pub fn hit(&self) -> bool {
        self.action.is_some() || !self.latency.is_zero()
    }
}

/// Whether a fault's `path` pattern covers a request path.
///
/// Equal, a suffix (so `me/login` covers `/api/v1/master/me/login`), or a prefix when the
/// pattern ends with `*`.
/// A trailing slash is ignored on both sides (`me/websocket/` is `me/websocket`).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => {
            let pattern = trim_slash(pattern);
            let path = trim_slash(path);
            path == pattern || path.ends_with(pattern)
        }
    }
}

/// The path without one trailing slash, unless it is just `/`.
fn trim_slash(p: &str) -> &str {
    match p.strip_suffix('/') {
        Some(t) if !t.is_empty() => t,
        _ => p,
    }
}

impl FaultBook {
    /// Adds a fault and returns it with its id.
    pub fn add(&mut self, spec: FaultSpec) -> FaultInfo {
        self.next_id += 1;
        let info = FaultInfo {
            id: self.next_id,
            hits: 0,
            spec,
        };
        self.rules.push(info.clone());
        info
    }

    /// The faults still active.
    pub fn list(&self) -> Vec<FaultInfo> {
        self.rules.clone()
    }

    /// Removes one fault; false if there was none with that id.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Consumes the faults matching a request and says what to do.
    ///
    /// Every matching latency counts; only the first matching answer-changing fault is used
    /// (and consumed), so `count` means "the next N requests it actually hit".
    pub fn check(&mut self, method: &str, path: &str, tenant: Option<&str>) -> Outcome {
        self.check_with(method, path, tenant, false)
    }

    /// Like [`FaultBook::check`]; with `explicit_only`, faults without a `path` are skipped
    /// (the CRM token endpoint suffers only faults aimed at it).
    pub fn check_with(
        &mut self,
        method: &str,
        path: &str,
        tenant: Option<&str>,
        explicit_only: bool,
    ) -> Outcome {
        let mut out = Outcome::default();
        for rule in &mut self.rules {
            let spec = &rule.spec;
            match &spec.path {
                Some(p) if !path_matches(p, path) => continue,
                None if explicit_only => continue,
                _ => {}
            }
            if let Some(m) = &spec.method {
                if !m.eq_ignore_ascii_case(method) {
                    continue;
                }
            }
            if let Some(want) = &spec.tenant {
                if tenant != Some(want.as_str()) {
                    continue;
                }
            }
            let changes_answer = spec.kind != FaultKind::Latency;
            if changes_answer && out.action.is_some() {
                continue;
            }
            if spec.count == Some(0) {
                continue;
            }
            out.latency += Duration::from_millis(spec.latency_ms.unwrap_or(0));
            if changes_answer {
                out.action = Some(spec.clone());
            }
            rule.hits += 1;
            if let Some(n) = rule.spec.count.as_mut() {
                *n = n.saturating_sub(1);
            }
        }
        self.rules.retain(|r| r.spec.count != Some(0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(path_matches("me/login", "/api/v1/master/me/login"));
        assert!(path_matches("/crm/*", "/crm/calls/1"));
        assert!(!path_matches("/crm/*", "/other"));
        assert!(!path_matches("me/login", "/api/v1/master/me/logout"));
        assert!(path_matches("me/websocket", "/api/v1/t/me/websocket/"));
    }

    #[test]
    fn counted_faults_run_out() {
        let mut book = FaultBook::default();
        book.add(FaultSpec::status(500).times(2));
        assert!(book.check("GET", "/x", None).action.is_some());
        assert!(book.check("GET", "/x", None).action.is_some());
        assert!(book.check("GET", "/x", None).action.is_none());
        assert!(book.list().is_empty());
    }
}

//! Trigger rules: when a task may run, given the states of its upstream tasks (Airflow's).

use std::str::FromStr;

/// Airflow's trigger rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerRule {
    AllSuccess,
    AllFailed,
    AllDone,
    OneSuccess,
    OneFailed,
    NoneFailed,
    Always,
}

/// What the engine does with a task whose upstreams are in some states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not yet decidable: some upstream has not finished.
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

/// Counts of upstream states.
#[derive(Debug, Default, Clone, Copy)]
pub struct UpstreamCounts {
    pub total: usize,
    pub success: usize,
    pub skipped: usize,
    pub failed: usize,
    pub upstream_failed: usize,
}

impl UpstreamCounts {
    fn done(&self) -> usize {
        self.success + self.skipped + self.failed + self.upstream_failed
    }

    fn any_failed(&self) -> bool {
        self.failed + self.upstream_failed > 0
    }
}

impl TriggerRule {
    /// Every accepted name, as written in YAML.
    pub const NAMES: &'static [&'static str] = &[
        "all_success",
        "all_failed",
        "all_done",
        "one_success",
        "one_failed",
        "none_failed",
        "always",
    ];

    /// The name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerRule::AllSuccess => "all_success",
            TriggerRule::AllFailed => "all_failed",
            TriggerRule::AllDone => "all_done",
            TriggerRule::OneSuccess => "one_success",
            TriggerRule::OneFailed => "one_failed",
            TriggerRule::NoneFailed => "none_failed",
            TriggerRule::Always => "always",
        }
    }

    /// Decides, as Airflow's trigger-rule dependency does.
    pub fn decide(self, up: UpstreamCounts) -> Decision {
        use Decision::*;
        let all_done = up.done() == up.total;
        match self {
            TriggerRule::Always => Run,
            _ if up.total == 0 => Run,
            TriggerRule::AllSuccess if up.any_failed() => UpstreamFailed,
            TriggerRule::AllSuccess if up.skipped > 0 => Skip,
            TriggerRule::AllSuccess if all_done => Run,
            TriggerRule::AllFailed if up.success + up.skipped > 0 => Skip,
            TriggerRule::AllFailed if all_done => Run,
            TriggerRule::AllDone if all_done => Run,
            TriggerRule::OneSuccess if up.success > 0 => Run,
            TriggerRule::OneSuccess if all_done && up.any_failed() => UpstreamFailed,
            TriggerRule::OneSuccess if all_done => Skip,
            TriggerRule::OneFailed if up.any_failed() => Run,
            TriggerRule::OneFailed if all_done => Skip,
            TriggerRule::NoneFailed if up.any_failed() => UpstreamFailed,
            TriggerRule::NoneFailed if all_done => Run,
            _ => Wait,
        }
    }
}

impl FromStr for TriggerRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "all_success" => TriggerRule::AllSuccess,
            "all_failed" => TriggerRule::AllFailed,
            "all_done" => TriggerRule::AllDone,
            "one_success" => TriggerRule::OneSuccess,
            "one_failed" => TriggerRule::OneFailed,
            "none_failed" => TriggerRule::NoneFailed,
            "always" => TriggerRule::Always,
            other => {
                return Err(format!(
                    "unknown trigger_rule `{other}` (one of: {})",
                    Self::NAMES.join(", ")
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(success: usize, skipped: usize, failed: usize, total: usize) -> UpstreamCounts {
        UpstreamCounts {
            total,
            success,
            skipped,
            failed,
            upstream_failed: 0,
        }
    }

    #[test]
    fn rules_follow_airflow() {
        use Decision::*;
        let one_failed_of_two_done = counts(1, 0, 1, 2);
        assert_eq!(
            TriggerRule::AllSuccess.decide(one_failed_of_two_done),
            UpstreamFailed
        );
        assert_eq!(TriggerRule::AllDone.decide(one_failed_of_two_done), Run);
        assert_eq!(TriggerRule::OneFailed.decide(counts(0, 0, 1, 3)), Run);
        assert_eq!(TriggerRule::OneFailed.decide(counts(3, 0, 0, 3)), Skip);
        assert_eq!(TriggerRule::AllFailed.decide(counts(0, 0, 2, 2)), Run);
        assert_eq!(TriggerRule::AllSuccess.decide(counts(1, 0, 0, 2)), Wait);
        assert_eq!(TriggerRule::NoneFailed.decide(counts(1, 1, 0, 2)), Run);
        assert_eq!(TriggerRule::AllSuccess.decide(counts(1, 1, 0, 2)), Skip);
        assert_eq!(TriggerRule::OneSuccess.decide(counts(1, 0, 0, 3)), Run);
    }
}

//! Run and step state machines. Every status change goes through `transition`, which
//! refuses moves the lifecycle does not allow (for example leaving a terminal state).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A status change the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal {machine} transition from {from} to {to}")]
pub struct IllegalTransition {
    /// `run` or `step`.
    pub machine: &'static str,
    /// Status before the attempted change.
    pub from: String,
    /// Status that was refused.
    pub to: String,
}

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident, $machine:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            /// Accepted, not started.
            Queued,
            /// A worker is executing it.
            Running,
            /// Paused: waiting for a retry back-off, a timer or a decision.
            Waiting,
            /// Finished with success (terminal).
            Succeeded,
            /// Finished with failure (terminal).
            Failed,
            /// Stopped on request (terminal).
            Cancelled,
        }

        impl $name {
            /// Every status, in lifecycle order.
            pub const ALL: [Self; 6] = [
                Self::Queued,
                Self::Running,
                Self::Waiting,
                Self::Succeeded,
                Self::Failed,
                Self::Cancelled,
            ];

            /// The wire name (`queued`, `running`, ...).
            pub fn as_str(self) -> &'static str {
                match self {
                    Self::Queued => "queued",
                    Self::Running => "running",
                    Self::Waiting => "waiting",
                    Self::Succeeded => "succeeded",
                    Self::Failed => "failed",
                    Self::Cancelled => "cancelled",
                }
            }

            /// Parses a wire name; `None` if unknown.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|v| v.as_str() == s)
            }

            /// True for succeeded, failed and cancelled.
            pub fn is_terminal(self) -> bool {
                matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
            }

            /// Whether the lifecycle allows moving from `self` to `to`.
            pub fn can_transition(self, to: Self) -> bool {
                use $name::*;
                if self.is_terminal() {
                    return false;
                }
                match (self, to) {
                    (Queued, Running | Cancelled | Failed) => true,
                    (Running, Running | Waiting | Succeeded | Failed | Cancelled) => true,
                    (Waiting, Running | Failed | Cancelled) => true,
                    _ => false,
                }
            }

            /// Every status the lifecycle allows moving to `to` from: the one rule that
            /// adapters turn into their conditions (a DynamoDB `#st IN (...)`, a check
            /// in a SQLite transaction) instead of writing the statuses out again.
            pub fn sources_of(to: Self) -> Vec<Self> {
                Self::ALL.into_iter().filter(|from| from.can_transition(to)).collect()
            }

            /// Moves to `to`, or refuses with [`IllegalTransition`].
            pub fn transition(self, to: Self) -> Result<Self, IllegalTransition> {
                if self.can_transition(to) {
                    Ok(to)
                } else {
                    Err(IllegalTransition {
                        machine: $machine,
                        from: self.as_str().to_owned(),
                        to: to.as_str().to_owned(),
                    })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum!(
    /// Lifecycle of a run. `Running -> Running` is allowed: a run stays running while
    /// it moves from one step to the next.
    RunStatus, "run"
);
status_enum!(
    /// Lifecycle of one step of a run.
    StepStatus, "step"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_refuse_every_transition() {
        for from in [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled] {
            for to in RunStatus::ALL {
                assert!(from.transition(to).is_err(), "{from} -> {to} must be refused");
            }
        }
    }

    #[test]
    fn the_happy_path_and_retry_path_are_allowed() {
        let s = StepStatus::Queued.transition(StepStatus::Running).expect("start");
        let s = s.transition(StepStatus::Waiting).expect("back-off");
        let s = s.transition(StepStatus::Running).expect("retry");
        assert_eq!(s.transition(StepStatus::Succeeded), Ok(StepStatus::Succeeded));
    }

    #[test]
    fn the_sources_of_a_status_are_exactly_the_statuses_that_may_move_to_it() {
        use RunStatus::*;
        assert_eq!(RunStatus::sources_of(Running), [Queued, Running, Waiting], "a step begins in a live run");
        assert_eq!(RunStatus::sources_of(Cancelled), [Queued, Running, Waiting], "only live runs are cancelled");
        assert_eq!(RunStatus::sources_of(Succeeded), [Running], "a run succeeds from running only");
        assert!(RunStatus::sources_of(Queued).is_empty(), "nothing goes back to queued");
    }

    #[test]
    fn illegal_moves_are_refused_with_a_clear_error() {
        let err =
            RunStatus::Queued.transition(RunStatus::Succeeded).expect_err("queued cannot succeed without running");
        assert_eq!(err.to_string(), "illegal run transition from queued to succeeded");
        assert!(RunStatus::Queued.transition(RunStatus::Waiting).is_err());
        assert!(RunStatus::Waiting.transition(RunStatus::Succeeded).is_err());
        assert!(RunStatus::Queued.transition(RunStatus::Queued).is_err());
    }
}

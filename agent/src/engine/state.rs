//! A container's state as one value. The record keeps Docker's
//! `ContainerState` (a status string and flags, as `inspect` shows it);
//! every change of state goes through `Status::apply`, so the string and
//! the flags never disagree.

use skiff_api::ContainerState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// Docker's name for it (`State.Status`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// The state a record is in.
    pub fn of(s: &ContainerState) -> Status {
        match s.status.as_str() {
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ => Status::Created,
        }
    }

    /// A process started now with `pid`: running, no error, no exit code,
    /// not killed for memory.
    pub fn started(s: &mut ContainerState, pid: i32) {
        Status::Running.apply(s);
        s.pid = pid as i64;
        s.oom_killed = false;
        s.error.clear();
        s.started_at = crate::ids::now();
        s.exit_code = 0;
    }

    /// Put the record in this state: the status and every flag with it.
    pub fn apply(self, s: &mut ContainerState) {
        s.status = self.name().into();
        s.running = matches!(self, Status::Running | Status::Paused);
        s.paused = self == Status::Paused;
        s.restarting = self == Status::Restarting;
        s.dead = self == Status::Dead;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_status() {
        let all = [
            Status::Created,
            Status::Running,
            Status::Paused,
            Status::Restarting,
            Status::Removing,
            Status::Exited,
            Status::Dead,
        ];
        for st in all {
            let mut s = ContainerState {
                running: true,
                paused: true,
                restarting: true,
                dead: true,
                ..Default::default()
            };
            st.apply(&mut s);
            assert_eq!(Status::of(&s), st);
            assert_eq!(s.running, matches!(st, Status::Running | Status::Paused), "{st:?}");
            assert_eq!(
                (s.paused, s.restarting, s.dead),
                (st == Status::Paused, st == Status::Restarting, st == Status::Dead)
            );
        }
    }
}

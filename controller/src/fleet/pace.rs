//! How often agents heartbeat: the configured period, stretched with the
//! number of connected nodes so that this controller never takes more
//! than about `MAX_BEATS_PER_SECOND` (1,000 nodes at a 5 s setting beat
//! every 20 s), and the node timeout stretched with it. The stretch is a
//! whole multiple of the setting that grows as soon as the count needs it
//! and shrinks only once the count is 10 % below the step, so a fleet
//! hovering at a step does not re-pace every agent back and forth. After
//! a shrink the longer timeout holds for two of the old periods: agents
//! learn the new period from a message, not at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_BEATS_PER_SECOND: f64 = 50.0;

pub struct Pace {
    period: Duration,
    timeout: Duration,
    state: Mutex<Stretch>,
}

struct Stretch {
    factor: u32,
    previous: u32,
    changed: Instant,
}

impl Pace {
    pub fn new(period: Duration, timeout: Duration) -> Pace {
        Pace {
            period,
            timeout,
            state: Mutex::new(Stretch {
                factor: 1,
                previous: 1,
                changed: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stretch> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `nodes` are connected now; the new period when it changed.
    pub fn nodes(&self, nodes: usize) -> Option<Duration> {
        let per_period = (self.period.as_secs_f64() * MAX_BEATS_PER_SECOND).max(1.0);
        let factor = |n: f64| ((n / per_period).ceil() as u32).max(1);
        let grow = factor(nodes as f64);
        let shrink = factor(nodes as f64 * 1.1);
        let mut s = self.lock();
        let next = if grow > s.factor {
            grow
        } else if shrink < s.factor {
            shrink
        } else {
            return None;
        };
        s.previous = s.factor;
        s.factor = next;
        s.changed = Instant::now();
        Some(self.period * next)
    }

    /// The period agents are told to beat at now.
    pub fn period(&self) -> Duration {
        self.period * self.lock().factor
    }

    /// How long a node may stay silent before it is down, now.
    pub fn timeout(&self) -> Duration {
        let s = self.lock();
        let mut factor = s.factor;
        if s.previous > factor && s.changed.elapsed() < self.period * s.previous * 2 {
            factor = s.previous;
        }
        self.timeout * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_stretches_with_the_fleet_and_the_timeout_with_it() {
        let p = Pace::new(Duration::from_secs(5), Duration::from_secs(15));
        assert_eq!(p.nodes(3), None, "a small fleet beats as configured");
        assert_eq!(p.nodes(250), None, "250 nodes at 5 s are 50 beats/s");
        assert_eq!(p.nodes(251), Some(Duration::from_secs(10)));
        assert_eq!(p.nodes(1000), Some(Duration::from_secs(20)));
        assert_eq!(p.timeout(), Duration::from_secs(60));
        // Within 10 % of the step below: no change.
        assert_eq!(p.nodes(700), None);
        assert_eq!(p.nodes(600), Some(Duration::from_secs(15)));
        // Shrinking keeps the longer timeout for a while.
        assert_eq!(p.period(), Duration::from_secs(15));
        assert_eq!(p.timeout(), Duration::from_secs(60));
        assert_eq!(p.nodes(10), Some(Duration::from_secs(5)));
    }
}

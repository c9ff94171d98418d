//! What a run is asked to do: up to a version, or down to one or by steps.

use crate::vocab::direction::Direction;
use crate::vocab::version::Version;

/// Where a `down` run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownTarget {
    /// Revert every migration above this version (0 reverts all).
    To(Version),
    /// Revert this many of the most recent migrations.
    Steps(u32),
}

/// What a run is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Apply pending migrations up to and including `to`, or all.
    Up {
        /// The last version to apply; `None` for all.
        to: Option<Version>,
    },
    /// Revert applied migrations.
    Down(DownTarget),
}

impl Request {
    /// Apply everything pending.
    pub fn up() -> Self {
        Request::Up { to: None }
    }

    /// The direction of the request.
    pub fn direction(&self) -> Direction {
        match self {
            Request::Up { .. } => Direction::Up,
            Request::Down(_) => Direction::Down,
        }
    }
}

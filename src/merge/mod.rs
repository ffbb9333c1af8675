//! The merge engine shared by `prepare` (hard links from dependencies),
//! `finalize` and `copy-tree`: scan sources ([`crate::scan`]), compute their
//! union ([`plan`]), then write it ([`apply`]).

pub mod apply;
pub mod plan;

pub use apply::{apply, Applied, ApplyOptions, DestClash, FileMode, Placed, Stats};
pub use plan::{build, Conflict, EntryRef, Plan, PlanDir, Source};

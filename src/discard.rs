//! Large values a command has finished with, left to the process exit
//! instead of freed one allocation at a time.
//!
//! A prepare of a 50,000-entry tree ends by freeing the scanned trees, the
//! plan and the manifest, a few hundred thousand allocations: about 10 ms
//! of a 600 ms step, just before the process exits and the kernel takes
//! the whole heap back at once. Only the `ppd` binary opts in
//! ([`one_shot`], from `main`): a library caller or a test running many
//! commands in one process gets every value dropped, so its memory stays
//! bounded. Nothing holding a descriptor, a lock or a temporary is ever
//! handed here: those are released where they are done with.

use std::sync::atomic::{AtomicBool, Ordering};

static ONE_SHOT: AtomicBool = AtomicBool::new(false);

/// Declares that this process runs one command and exits: [`discard`]
/// leaks from now on.
pub fn one_shot() {
    ONE_SHOT.store(true, Ordering::Relaxed);
}

/// Drops `value`, or, in a one-shot process, leaves its memory to the exit.
pub fn discard<T>(value: T) {
    match ONE_SHOT.load(Ordering::Relaxed) {
        true => std::mem::forget(value),
        false => drop(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn values_are_dropped_unless_the_process_is_one_shot() {
        // Tests share the process: only this one sets the flag, and it
        // checks both sides itself.
        let v = Rc::new(());
        discard(Rc::clone(&v));
        assert_eq!(Rc::strong_count(&v), 1, "dropped before one_shot");
        one_shot();
        discard(Rc::clone(&v));
        assert_eq!(Rc::strong_count(&v), 2, "left to the exit after one_shot");
        ONE_SHOT.store(false, Ordering::Relaxed);
    }
}

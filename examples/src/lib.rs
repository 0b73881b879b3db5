//! Reusable pieces of the examples.

pub mod delayed_queue;

//! Reusable pieces of the examples.

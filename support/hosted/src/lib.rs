//! Hosted runtime (Linux processes with Microkit semantics). Work in progress:
//! the implementation lands in the next commits.

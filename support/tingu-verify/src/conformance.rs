//! (conformance)

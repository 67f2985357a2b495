//! HTTP integration tests: the router driven in-process with `tower::ServiceExt::oneshot`.

mod common;

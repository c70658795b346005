//! Shared harness for the system tests: start real trainer-svc / predictor-svc servers on port 0,
//! generate synthetic data, build clients.
pub mod fault_proxy;
pub mod pg;
pub mod predictor_harness;
pub mod trainer_harness;

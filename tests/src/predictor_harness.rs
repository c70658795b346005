//! Harness for the predictor-svc system tests (being written).

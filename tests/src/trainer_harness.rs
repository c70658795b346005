//! Harness for the trainer-svc system tests (being written).

//! Shared harness for the system tests: start real servers on port 0, synthetic data, clients.

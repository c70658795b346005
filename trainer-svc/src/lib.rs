//! The lstm.v1.Trainer service as a library: `main` parses config and calls `serve`; tests do the same
//! on an ephemeral port.

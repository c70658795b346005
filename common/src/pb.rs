//! Generated code of the `lstm.v1` protocol (`proto/lstm/v1/*.proto`).
#![allow(missing_docs, clippy::all)]

tonic::include_proto!("lstm.v1");

/// Encoded `FileDescriptorSet` of the protocol, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("lstm_descriptor");

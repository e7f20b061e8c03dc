//! The v1 gRPC API: generated types and service stubs, plus their conversions to and from
//! the domain types of `undertone-core`, kept in one place.

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("undertone.v1");
}

mod convert;

pub use convert::*;

/// The encoded descriptor set of every v1 service, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/undertone_descriptor.bin"));

/// Request metadata key that carries the tenant id.
pub const TENANT_HEADER: &str = "x-tenant-id";

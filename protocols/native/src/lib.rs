//! Neo's native protocol: the wire format ([`wire`]) and, with the `server` feature, the
//! server that speaks it over the broker ([`NativeServer`]). The `neo-client` crate is the SDK.
//! The specification is PROTOCOL.md next to this crate's Cargo.toml.

pub mod wire;

#[cfg(feature = "server")]
mod server;

#[cfg(feature = "server")]
pub use server::{NativeConfig, NativeServer};

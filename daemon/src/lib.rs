//! `cipd`, CIP's payment daemon, as a library: the store, the engine, the processor, sign-in, the
//! feed and the tarpc adapter, assembled by `serve` and administered by `admin`.

pub mod admin;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod codes;
pub mod engine;
pub mod feed;
pub mod figures;
pub mod handoff;
pub mod health;
pub mod http;
pub mod lookup;
pub mod metrics;
pub mod notify;
pub mod processor;
pub mod report;
pub mod rpc;
pub mod serve;
pub mod store;
pub mod systemd;
pub mod tcp;
pub mod tls;
pub mod write_out;

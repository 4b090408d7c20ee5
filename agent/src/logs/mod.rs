//! Container log drivers.

pub mod jsonfile;

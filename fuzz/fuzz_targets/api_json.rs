//! The API's JSON request bodies, read as the agent reads them
//! (`serde_json::from_slice` into the `skiff-api` types): any bytes are
//! taken or refused without a panic, and what is taken writes back to JSON
//! that reads to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use skiff_api::{
    CreateRequest, ExecConfig, ExecStart, NetworkConnectRequest, NetworkCreateRequest, UpdateConfig,
    VolumeCreateRequest,
};

fn body<T: DeserializeOwned + Serialize>(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let once = serde_json::to_value(&v).expect("a body read writes back");
    let back: T = serde_json::from_value(once.clone()).expect("what was written reads again");
    let twice = serde_json::to_value(&back).expect("writes back again");
    assert_eq!(once, twice, "{}", String::from_utf8_lossy(data));
}

fuzz_target!(|data: &[u8]| {
    body::<CreateRequest>(data);
    body::<NetworkCreateRequest>(data);
    body::<NetworkConnectRequest>(data);
    body::<VolumeCreateRequest>(data);
    body::<ExecConfig>(data);
    body::<ExecStart>(data);
    body::<UpdateConfig>(data);
});

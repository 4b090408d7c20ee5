//! The layer extractor (`images::extract`) on arbitrary bytes as a tar
//! stream, in each of its modes: overlay whiteouts (overlay2 layers),
//! applied whiteouts (vfs layers), and literal names rewritten over what
//! is there (build contexts). Errors are fine; panics are not, and nothing
//! may appear or change outside the target directory.
#![no_main]

mod scratch;

use libfuzzer_sys::fuzz_target;
use skiff_agent::idmap::IdMap;
use skiff_agent::images::extract::{extract_layer, extract_over, Whiteouts};

fuzz_target!(|data: &[u8]| {
    let s = scratch::scratch();
    // Plain, and with owners remapped (`--userns-remap`).
    let remap = IdMap::from_ranges(&[(100000, 65536)], &[(100000, 65536)]);
    for (mode, ids) in [(Whiteouts::Overlay, IdMap::default()), (Whiteouts::Apply, remap)] {
        let _ = extract_layer(data, s.fresh(), mode, None, &ids);
        s.check(&format!("extract_layer {mode:?}"));
    }
    let t = s.fresh();
    // Over a tree already there, as a second build's context is.
    let _ = extract_over(data, t, None);
    let _ = extract_over(data, t, None);
    s.check("extract_over");
});

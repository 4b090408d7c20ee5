//! Image references: any text parses or is refused without a panic, and
//! what parses is written back (`Display`) to text that parses to the
//! same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_agent::images::reference::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(r) = parse(s) {
        let shown = r.to_string();
        let again = parse(&shown).unwrap_or_else(|e| panic!("{s:?} parsed, {shown:?} did not: {e}"));
        assert_eq!(r, again, "{s:?} → {shown:?}");
    }
});

//! `PUT /containers/{id}/archive`'s unpacker (`engine::archive::unpack`)
//! on arbitrary bytes as a tar stream, into the root of a "container"
//! (the scratch target) and into a directory of it, with and without
//! Docker's `noOverwriteDirNonDir` and `copyUIDGID`. Errors are fine;
//! panics are not, and nothing may appear or change outside the root.
#![no_main]

mod scratch;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use skiff_agent::engine::archive::rooted::Root;
use skiff_agent::engine::archive::unpack::{unpack, Options};

fuzz_target!(|data: &[u8]| {
    let s = scratch::scratch();
    let strict = Options {
        no_overwrite_dir_non_dir: true,
        chown: Some((1000, 1000)),
        ids: skiff_agent::idmap::IdMap::from_ranges(&[(100000, 65536)], &[(100000, 65536)]),
    };
    for (dest, opts) in [("/", Options::default()), ("/dst", strict)] {
        let t = s.fresh();
        std::fs::create_dir(t.join("dst")).expect("dst");
        // A link a container could have planted, leading out of the root.
        std::os::unix::fs::symlink("../..", t.join("dst/up")).expect("symlink");
        let root = Root::open(t).expect("root");
        let _ = unpack(&root, Path::new(dest), data, opts);
        s.check(&format!("unpack into {dest}"));
    }
});

//! Unmaps the agent's own code and read-only data once it has started.
//!
//! Starting touches code that never runs again (flags, config, recovery,
//! network and TLS set-up), and the kernel maps file pages 64 KiB around
//! each fault, so about half of the 20 MB text ends up counted in the
//! agent's RSS. `MADV_DONTNEED` on the executable's code and read-only data
//! drops the page-table entries only: the pages stay in the page cache,
//! and what runs again usually faults back in without a read. Only the
//! code mapping and the one at file offset 0 (headers and `.rodata`) are
//! released, and only while none of their pages is a private copy (in RAM
//! or swapped): the relocated RELRO mapping is never touched, as dropping
//! it would lose the relocations. Measured in ARCHITECTURE.md, Choices.

use std::path::Path;

/// One mapping of `/proc/self/smaps`: its range, permissions, file, and
/// whether any of its pages are private copies.
struct Mapping {
    start: usize,
    end: usize,
    perms: String,
    offset: u64,
    path: String,
    /// Private copies in RAM and swapped out.
    anonymous_kb: u64,
    swap_kb: u64,
}

fn mappings(smaps: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                let perms = f.next().unwrap_or_default().to_string();
                let offset = u64::from_str_radix(f.next().unwrap_or_default(), 16).unwrap_or(u64::MAX);
                let path = f.nth(2).unwrap_or_default().to_string();
                out.push(Mapping {
                    start,
                    end,
                    perms,
                    offset,
                    path,
                    anonymous_kb: u64::MAX,
                    swap_kb: u64::MAX,
                });
                continue;
            }
        }
        let kb = f.next().and_then(|v| v.parse().ok());
        if let (Some(m), Some(kb)) = (out.last_mut(), kb) {
            match first {
                "Anonymous:" => m.anonymous_kb = kb,
                "Swap:" => m.swap_kb = kb,
                _ => {}
            }
        }
    }
    out
}

/// `exe`'s code and offset-0 read-only mappings in `smaps`, if none of
/// their pages is a private copy.
fn releasable<'a>(maps: &'a [Mapping], exe: &'a str) -> impl Iterator<Item = &'a Mapping> + 'a {
    maps.iter().filter(move |m| {
        let kind = m.perms == "r-xp" || (m.perms == "r--p" && m.offset == 0);
        !exe.is_empty() && m.path == exe && kind && m.anonymous_kb == 0 && m.swap_kb == 0
    })
}

/// Drop the page-table entries of the agent's code and read-only data;
/// best effort, logged at debug.
pub fn release_start_text() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let maps = mappings(&smaps);
    let exe = exe.to_string_lossy();
    let mut released = 0;
    for m in releasable(&maps, &exe) {
        // SAFETY: the range is a whole read-only private file mapping of
        // this executable with no private copies; MADV_DONTNEED only drops
        // page-table entries, and the next access maps the same file
        // bytes again from the page cache.
        let rc = unsafe { libc::madvise(m.start as *mut libc::c_void, m.end - m.start, libc::MADV_DONTNEED) };
        if rc == 0 {
            released += m.end - m.start;
        }
    }
    tracing::debug!(
        bytes = released,
        "released start-up mappings of {}",
        Path::new(&*exe).display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a0700000 r--p 00000000 fe:01 123 /usr/bin/skiff-agent
Size:               7168 kB
Anonymous:             0 kB
Swap:                  0 kB
55d0a0709000-55d0a1a3e000 r-xp 00708000 fe:01 123 /usr/bin/skiff-agent
Anonymous:             0 kB
Swap:                  0 kB
55d0a1a3e000-55d0a1b2f000 r--p 01a3d000 fe:01 123 /usr/bin/skiff-agent
Anonymous:             0 kB
Swap:                964 kB
55d0a1b2f000-55d0a1b36000 rw-p 01b2d000 fe:01 123 /usr/bin/skiff-agent
Anonymous:            28 kB
Swap:                  0 kB
7f0000000000-7f0000100000 r-xp 00000000 fe:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
Swap:                  0 kB
7f0000200000-7f0000300000 ---p 00000000 00:00 0
Anonymous:             0 kB
Swap:                  0 kB
";

    #[test]
    fn only_clean_read_only_mappings_of_the_executable_are_released() {
        let maps = mappings(SMAPS);
        assert_eq!(maps.len(), 6);
        let picked: Vec<(usize, &str)> = releasable(&maps, "/usr/bin/skiff-agent")
            .map(|m| (m.start, m.perms.as_str()))
            .collect();
        assert_eq!(picked, vec![(0x55d0a0000000, "r--p"), (0x55d0a0709000, "r-xp")]);
        // No executable path: nothing, not the anonymous mappings.
        assert_eq!(releasable(&maps, "").count(), 0);
        // A mapping whose counters are missing is not released.
        let bare = mappings("55d0a0709000-55d0a1a3e000 r-xp 00708000 fe:01 123 /usr/bin/skiff-agent\n");
        assert_eq!(releasable(&bare, "/usr/bin/skiff-agent").count(), 0);
    }
}

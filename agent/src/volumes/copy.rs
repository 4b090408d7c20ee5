//! Docker's copy-up: a new, empty volume mounted where the image has
//! content gets that content (owners, modes, times, symlinks, hard links
//! and extended attributes kept: `cp -a`, as the vfs driver copies layers).

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

/// Copy the directory `src` into `dst` when `dst` is empty. `src` must be
/// a path already resolved inside the container's root filesystem (no
/// symlink of the image may lead out of it). True when something was copied.
pub fn fill(src: &Path, dst: &Path) -> io::Result<bool> {
    if !src.is_dir() || fs::read_dir(dst)?.next().is_some() {
        return Ok(false);
    }
    let out = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(src.join("."))
        .arg(dst)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "copying {} into the volume: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_empty_volume_gets_the_content_and_a_full_one_keeps_its_own() {
        let t = std::env::temp_dir().join(format!("skiff-fill-{}", crate::ids::new_id()));
        let (src, dst) = (t.join("src"), t.join("dst"));
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::create_dir_all(&dst).unwrap();
        fs::write(src.join("sub/f"), "x").unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o1777)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        assert!(fill(&src, &dst).unwrap());
        assert_eq!(fs::read_to_string(dst.join("sub/f")).unwrap(), "x");
        assert_eq!(fs::read_link(dst.join("link")).unwrap(), Path::new("/etc/passwd"));
        assert_eq!(fs::metadata(&dst).unwrap().permissions().mode() & 0o7777, 0o1777);
        fs::write(src.join("new"), "y").unwrap();
        assert!(!fill(&src, &dst).unwrap(), "a volume with content is left alone");
        assert!(!dst.join("new").exists());
        assert!(!fill(&t.join("nothing"), &dst).unwrap());
        fs::remove_dir_all(&t).unwrap();
    }
}

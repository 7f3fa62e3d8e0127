//! How the commands scimd prints name scimd. After `cargo run` (or from an unpacked archive)
//! `scimd` on PATH is another program or none at all, so a printed `scimd token generate ...`
//! would fail with "command not found": the commands then start with the path of the binary
//! that is running. When PATH's `scimd` is this very file, they say `scimd`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The program to start printed commands with: `scimd`, or this binary's path.
pub fn program() -> &'static str {
    static PROGRAM: OnceLock<String> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let path = std::env::var_os("PATH");
        name_for(std::env::current_exe().ok(), path.as_deref())
    })
}

/// `scimd` when the first `scimd` on `path` is `exe`, otherwise `exe`'s path (quoted for a
/// POSIX shell when it needs it).
fn name_for(exe: Option<PathBuf>, path: Option<&OsStr>) -> String {
    let Some(exe) = exe else {
        return "scimd".into();
    };
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    let on_path = path
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("scimd"))
        .find(|candidate| is_executable(candidate));
    match on_path.and_then(|p| std::fs::canonicalize(p).ok()) {
        Some(found) if found == exe => "scimd".into(),
        _ => shell_word(&exe.to_string_lossy()),
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// `s` as one word of a POSIX shell command line.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%,".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("scimd-invocation-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[cfg(unix)]
    fn executable(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[cfg(unix)]
    #[test]
    fn this_binary_on_path_is_called_scimd_and_any_other_by_its_path() {
        let bin = dir("bin");
        let target = dir("target with space");
        let installed = bin.join("scimd");
        executable(&installed);
        let built = target.join("scimd");
        executable(&built);
        let path = std::env::join_paths([&bin]).expect("path");
        assert_eq!(name_for(Some(installed.clone()), Some(&path)), "scimd");
        let other = name_for(Some(built.clone()), Some(&path));
        assert_eq!(
            other,
            format!("'{}'", std::fs::canonicalize(&built).expect("c").display())
        );
        // No scimd on PATH at all: the path, too.
        let empty = std::env::join_paths([&target.join("none")]).expect("path");
        assert!(name_for(Some(installed.clone()), Some(&empty)).ends_with("/scimd"));
        assert!(name_for(Some(installed), None).ends_with("/scimd"));
        let _ = std::fs::remove_dir_all(bin);
        let _ = std::fs::remove_dir_all(target);
    }

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(
            shell_word("/work/target/debug/scimd"),
            "/work/target/debug/scimd"
        );
        assert_eq!(shell_word("/a b/scimd"), "'/a b/scimd'");
        assert_eq!(shell_word("/it's/scimd"), r"'/it'\''s/scimd'");
    }
}

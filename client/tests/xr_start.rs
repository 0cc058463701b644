//! Starting `vitrine` where there is no headset, for real: the binary loads
//! the system's OpenXR loader (`libopenxr-loader1`, which `cargo xtask
//! test` installs) and finds no runtime, because `XR_RUNTIME_JSON` points
//! at none, or at a broken one. These runs never need a display: the
//! forced run stops before any window, and the fallback run renders its
//! picture offscreen.

use std::process::Command;

fn vitrine() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vitrine"));
    cmd.env_remove("VITRINE_SERVER").env("RUST_LOG", "error");
    cmd
}

#[test]
fn forced_xr_without_a_runtime_exits_with_a_clear_error() {
    let dir = tempfile_dir("forced");
    let broken = dir.join("broken_runtime.json");
    std::fs::write(&broken, b"{ not a runtime manifest").unwrap();
    for manifest in [dir.join("missing.json"), broken] {
        let out = vitrine()
            .arg("--xr")
            .env("XR_RUNTIME_JSON", &manifest)
            .output()
            .expect("vitrine runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{manifest:?}: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("vitrine: "))
            .unwrap_or_else(|| panic!("no error line: {stderr}"));
        assert!(
            line.contains("--xr was given but no OpenXR runtime")
                || line.contains("--xr was given but no OpenXR loader"),
            "{line}"
        );
        // One line: the loader's own complaints are kept quiet.
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn the_default_falls_back_to_the_desktop_in_one_line() {
    let dir = tempfile_dir("fallback");
    let picture = dir.join("desktop.png");
    let out = vitrine()
        .args(["--screenshot"])
        .arg(&picture)
        .args(["--frames", "1", "--width", "320", "--height", "180"])
        .env("XR_RUNTIME_JSON", dir.join("missing.json"))
        .output()
        .expect("vitrine runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("XR: ")).collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(notes[0].ends_with("running on the desktop"), "{}", notes[0]);
    assert!(!stderr.contains("OpenXR-Loader"), "{stderr}");
    let size = std::fs::metadata(&picture)
        .expect("the desktop's picture")
        .len();
    assert!(size > 1000, "a picture of {size} bytes");

    // --no-xr does not look at all.
    let out = vitrine()
        .args(["--no-xr", "--screenshot"])
        .arg(dir.join("plain.png"))
        .args(["--frames", "1", "--width", "320", "--height", "180"])
        .output()
        .expect("vitrine runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.lines().any(|l| l.starts_with("XR: ")), "{stderr}");
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("xr-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

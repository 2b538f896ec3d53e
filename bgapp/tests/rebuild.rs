//! What the attribute takes from `Cargo.toml` (the package's description
//! and name, as task defaults) reaches the binary at the next build, without
//! touching the source: cargo must know the expansion depends on them.

use std::process::Command;

mod scratch;

fn help(scratch: &scratch::Scratch) -> String {
    let out = scratch.cargo(&["build", "--quiet"]);
    assert!(
        out.status.success(),
        "the scratch app does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(scratch.bin("rebuild-app"))
        .arg("--bgapp-help")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_changed_description_reaches_the_manifest_at_the_next_build() {
    let scratch = scratch::Scratch::new("rebuild-app", "description = \"Alpha readings 7f3\"", "");
    std::fs::create_dir_all(scratch.dir.join("src")).unwrap();
    std::fs::write(
        scratch.dir.join("src/main.rs"),
        "#[bgapp::background_task]\nasync fn main(_task: bgapp::TaskInstance) {}\n",
    )
    .unwrap();
    let before = help(&scratch);
    assert!(before.contains("Alpha readings 7f3"), "{before}");

    scratch.write_manifest("rebuild-app", "description = \"Beta readings 19c\"", "");
    let after = help(&scratch);
    assert!(
        after.contains("Beta readings 19c"),
        "the old description stayed:\n{after}"
    );
}

//! `cip --demo` in a console built without the `demo` feature: it holds no daemon to start, so it
//! says how to build one that does.

use crate::app::DemoLogin;
use std::path::Path;

/// Never made: this build has no daemon inside.
pub enum PrivateDaemon {}

impl PrivateDaemon {
    pub fn socket(&self) -> &Path {
        match *self {}
    }

    pub fn logins(&self) -> &[DemoLogin] {
        match *self {}
    }

    pub fn http_url(&self) -> Option<&str> {
        match *self {}
    }
}

/// Refuses, whether or not a daemon answers: `--demo` asks for what this build cannot give.
pub async fn start(_socket: &Path) -> anyhow::Result<Option<PrivateDaemon>> {
    anyhow::bail!(
        "this cip was built without the demo daemon: build it with the `demo` feature \
         (cargo build --release -p cip-console, which has it by default), or leave out --demo \
         and attach to a running cipd"
    )
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn demo_is_refused_saying_how_to_build_it() {
        let refused = super::start(std::path::Path::new("/nowhere/cipd.sock"))
            .await
            .err()
            .expect("no demo daemon in this build");
        let told = refused.to_string();
        assert!(told.contains("without the demo daemon"), "{told}");
        assert!(told.contains("`demo` feature"), "{told}");
    }
}

//! `cip --demo`: a private daemon on a fresh demo database in a temporary data dir, started when
//! no daemon answers, and stopped with the console. Built with the `demo` feature only, as it
//! links the whole daemon.

use crate::app::DemoLogin;
use anyhow::Context;
use cip_config::{Resolved, Settings};
use cip_daemon::admin::{Admin, Operator};
use cip_daemon::clock::Entropy;
use cip_daemon::serve::{Daemon, store_limits};
use cip_daemon::store::Store;
use std::path::Path;
use tokio::sync::oneshot;

/// A daemon running inside the console; dropping it stops it and removes its data.
/// Where the demo serves the agency API and the payment pages, or the next free port.
const DEMO_HTTP: &str = "127.0.0.1:8480";

pub struct PrivateDaemon {
    resolved: Resolved,
    logins: Vec<DemoLogin>,
    /// The agency API and the hosted payment pages.
    http_url: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl PrivateDaemon {
    /// Where the private daemon listens.
    pub fn socket(&self) -> &Path {
        &self.resolved.socket
    }

    /// The demo's users, shown on the sign-in screen.
    pub fn logins(&self) -> &[DemoLogin] {
        &self.logins
    }

    /// The agency API and the hosted payment pages, when they are served.
    pub fn http_url(&self) -> Option<&str> {
        self.http_url.as_deref()
    }
}

/// A private daemon, unless one already answers on `socket`.
pub async fn start(socket: &Path) -> anyhow::Result<Option<PrivateDaemon>> {
    if tokio::net::UnixStream::connect(socket).await.is_ok() {
        return Ok(None);
    }
    start_private().await.map(Some)
}

async fn start_private() -> anyhow::Result<PrivateDaemon> {
    let dir = tempfile::Builder::new()
        .prefix("cip-demo-")
        .tempdir()
        .context("cannot make a temporary data dir for the demo")?;
    let mut settings = Settings::default();
    settings.http.listen = DEMO_HTTP.to_owned();
    let resolved = Resolved {
        data_dir: dir.path().to_path_buf(),
        socket: dir.path().join("cipd.sock"),
        settings,
        file: None,
    };
    let admin = Admin {
        store: Store::open(&resolved.database(), store_limits(&resolved))?,
        operator: Operator::from_env(),
        entropy: Entropy::from_os(),
    };
    let demo_users = admin.load_demo().await?;
    drop(admin);
    let logins = demo_users
        .into_iter()
        .map(|u| DemoLogin {
            user: u.id.clone(),
            role: u.role.code().to_owned(),
            password: u.password.clone(),
        })
        .collect();
    let daemon = Daemon::start(&resolved, true).await?;
    let http_url = daemon.http_url().map(str::to_owned);
    let (stop, stopped) = oneshot::channel::<()>();
    let socket = resolved.socket.clone();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        let _ = daemon.serve(&socket, shutdown).await;
    });
    Ok(PrivateDaemon {
        resolved,
        logins,
        http_url,
        stop: Some(stop),
        _dir: dir,
    })
}

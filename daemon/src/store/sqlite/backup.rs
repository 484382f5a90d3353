//! `cipd backup` and `cipd restore`: a consistent copy of the database through SQLite's online
//! backup API, taken while payments flow, and its return into place while no daemon runs.
//!
//! The copy is one step of the backup API inside one read transaction, so it is the database as
//! of one commit, and (in WAL mode) writers go on meanwhile. It is checked, fsynced and renamed
//! into place, so a file of that name is always a whole, checked backup. The fingerprint key
//! (`fingerprint.key`, beside the database) is not in it: keep that file too, apart.

use anyhow::{Context, bail};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a backup or restore copied.
#[derive(Debug)]
pub struct Copied {
    pub payments: i64,
    pub bytes: u64,
}

/// Refuses while a daemon answers on `socket`: what it takes meanwhile would be lost.
pub(in crate::store) fn refuse_while_served(socket: &Path, doing: &str) -> anyhow::Result<()> {
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        bail!(
            "cipd is serving on {}: stop it before {doing}",
            socket.display()
        );
    }
    Ok(())
}

/// Copies `from` into a new database at `part`, in one step; checks it.
fn copy(from: &Connection, part: &Path) -> anyhow::Result<Copied> {
    let _ = std::fs::remove_file(part);
    let mut to =
        Connection::open(part).with_context(|| format!("cannot write {}", part.display()))?;
    {
        let backup = Backup::new(from, &mut to)?;
        // One step holds one read transaction: the copy is the database as of one commit.
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    let check: String = to.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        bail!("the copy failed its integrity check: {check}");
    }
    let payments = to.query_row("SELECT count(*) FROM payments", [], |r| r.get(0))?;
    to.close().map_err(|(_, e)| e)?;
    let file = std::fs::File::open(part)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.sync_all()?;
    Ok(Copied {
        payments,
        bytes: file.metadata()?.len(),
    })
}

/// `.<name>.part` beside `path`.
fn part_of(path: &Path) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    Ok(path.with_file_name(format!(".{}.part", name.to_string_lossy())))
}

/// Renames `part` to `path` and makes the rename durable.
fn put_in_place(part: &Path, path: &Path) -> anyhow::Result<()> {
    std::fs::rename(part, path)
        .with_context(|| format!("cannot rename {} to {}", part.display(), path.display()))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Backs `database` up to `to` (which must not exist), while a daemon may be serving.
pub fn backup(database: &Path, to: &Path) -> anyhow::Result<Copied> {
    if to.exists() {
        bail!("{} exists already: name a new file", to.display());
    }
    let from = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open the database {}", database.display()))?;
    from.busy_timeout(Duration::from_secs(10))?;
    let part = part_of(to)?;
    let copied = copy(&from, &part).inspect_err(|_| {
        let _ = std::fs::remove_file(&part);
    })?;
    put_in_place(&part, to)?;
    Ok(copied)
}

/// Puts the backup `from` in place of `database`. Refuses while a daemon answers on `socket`,
/// and a backup that fails its check or comes from a newer cipd.
pub fn restore(from: &Path, database: &Path, socket: &Path) -> anyhow::Result<Copied> {
    refuse_while_served(socket, "restoring")?;
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open the backup {}", from.display()))?;
    let version: i64 = source
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .with_context(|| format!("{} is not a CIP database", from.display()))?;
    if usize::try_from(version).map_or(true, |v| v > super::schema_version()) {
        bail!(
            "{} was written by a newer cipd (schema {version}); restore it with that version",
            from.display()
        );
    }
    let part = part_of(database)?;
    let copied = copy(&source, &part).inspect_err(|_| {
        let _ = std::fs::remove_file(&part);
    })?;
    // The old database's write-ahead log belongs to it alone: it must not be replayed onto
    // the restored one.
    for suffix in ["-wal", "-shm"] {
        let mut stale = database.as_os_str().to_owned();
        stale.push(suffix);
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {stale:?}")),
        }
    }
    put_in_place(&part, database)?;
    Ok(copied)
}

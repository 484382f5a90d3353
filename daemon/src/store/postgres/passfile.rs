//! The password file PostgreSQL's own clients read (libpq's `~/.pgpass`), so a database's
//! password can live in a file only the daemon's account may read rather than in `[store] url`,
//! which every account on the machine may read. Read as libpq reads it: the file `PGPASSFILE`
//! names, else `.pgpass` in the account's home; ignored when it is missing or when its group or
//! others may read it; lines `host:port:database:user:password`, `*` matching anything, `\:` and
//! `\\` a colon and a backslash, `#` a comment; the first line that matches counts. A Unix
//! socket's host is its directory, or `localhost`.

use crate::store::StoreError;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use tokio_postgres::config::Host;

/// The port a URL without one means.
const DEFAULT_PORT: u16 = 5432;

/// Gives `config` the password the password file `path` ([`path`]) holds for it, when the URL
/// gave none.
pub(super) fn fill_in(
    config: &mut tokio_postgres::Config,
    path: Option<PathBuf>,
) -> Result<(), StoreError> {
    let Some(path) = path.filter(|_| config.get_password().is_none()) else {
        return Ok(());
    };
    let Ok(metadata) = std::fs::metadata(&path) else {
        return Ok(());
    };
    if !metadata.is_file() {
        return Ok(());
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "{} is ignored: its group or others may read it (chmod 0600 it, as PostgreSQL asks)",
            path.display()
        );
        return Ok(());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| StoreError::Setup(format!("cannot read {}: {e}", path.display())))?;
    let user = match config.get_user() {
        Some(user) => user.to_owned(),
        None => whoami::username().unwrap_or_default(),
    };
    let wanted = Wanted {
        hosts: config.get_hosts().iter().map(host_name).collect(),
        port: config.get_ports().first().copied().unwrap_or(DEFAULT_PORT),
        database: config.get_dbname().unwrap_or(&user).to_owned(),
        user,
    };
    if let Some(password) = password_in(&text, &wanted) {
        config.password(password);
    }
    Ok(())
}

/// A first connection refused for want of a password, or for a wrong one, with where the
/// password goes.
pub(super) fn with_hint(e: StoreError) -> StoreError {
    match e {
        StoreError::Unreachable(said) if said.contains("password") => {
            StoreError::Unreachable(format!(
                "{said} (the role's password goes in the password file, PGPASSFILE or \
                 ~/.pgpass of the daemon's account, mode 0600, as \
                 host:port:database:user:password)"
            ))
        }
        e => e,
    }
}

/// `PGPASSFILE`, else `~/.pgpass`.
pub(super) fn path() -> Option<PathBuf> {
    std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|home| home.join(".pgpass")))
}

fn host_name(host: &Host) -> String {
    match host {
        Host::Tcp(name) => name.clone(),
        Host::Unix(dir) => dir.to_string_lossy().into_owned(),
    }
}

/// What a connection is to, as the file's lines name it.
struct Wanted {
    hosts: Vec<String>,
    port: u16,
    database: String,
    user: String,
}

impl Wanted {
    fn host_matches(&self, field: &str) -> bool {
        field == "*"
            || self.hosts.iter().any(|host| host == field)
            || (field == "localhost" && self.hosts.iter().any(|host| host.starts_with('/')))
            || (field == "localhost" && self.hosts.is_empty())
    }
}

/// The password of the first line of `text` that matches `wanted`.
fn password_in(text: &str, wanted: &Wanted) -> Option<String> {
    let port = wanted.port.to_string();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| fields(line.trim_end_matches('\r')))
        .find(|[host, line_port, database, user, _]| {
            wanted.host_matches(host)
                && (line_port == "*" || *line_port == port)
                && (database == "*" || *database == wanted.database)
                && (user == "*" || *user == wanted.user)
        })
        .map(|[.., password]| password)
}

/// A line's five fields, unescaped; `None` for a line with fewer.
fn fields(line: &str) -> Option<[String; 5]> {
    let mut fields: [String; 5] = Default::default();
    let mut at = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields[at].push(chars.next().unwrap_or('\\')),
            ':' if at < 4 => at += 1,
            c => fields[at].push(c),
        }
    }
    (at == 4).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(host: &str, port: u16) -> Wanted {
        Wanted {
            hosts: vec![host.to_owned()],
            port,
            database: "cip".to_owned(),
            user: "cip".to_owned(),
        }
    }

    #[test]
    fn the_first_line_that_matches_gives_the_password() {
        let text = "\
# host:port:database:user:password
db1:5432:other:cip:not-this
db1:5432:cip:cip:s3cret
*:*:*:*:fallback
";
        assert_eq!(
            password_in(text, &wanted("db1", 5432)).as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            password_in(text, &wanted("db2", 5433)).as_deref(),
            Some("fallback")
        );
        assert_eq!(
            password_in("db1:5432:cip:cip:x\n", &wanted("db1", 5433)),
            None
        );
    }

    #[test]
    fn escaped_colons_and_backslashes_are_part_of_a_field() {
        let text = "db1:5432:cip:cip:a\\:b\\\\c:d\n";
        assert_eq!(
            password_in(text, &wanted("db1", 5432)).as_deref(),
            Some("a:b\\c:d")
        );
        assert_eq!(password_in("db1:5432:cip\n", &wanted("db1", 5432)), None);
    }

    #[test]
    fn a_unix_socket_is_its_directory_or_localhost() {
        let socket = wanted("/run/postgresql", 5432);
        assert_eq!(
            password_in("localhost:5432:cip:cip:local\n", &socket).as_deref(),
            Some("local")
        );
        assert_eq!(
            password_in("/run/postgresql:*:cip:cip:dir\n", &socket).as_deref(),
            Some("dir")
        );
        assert_eq!(
            password_in("localhost:5432:cip:cip:x\n", &wanted("db1", 5432)),
            None
        );
    }

    #[test]
    fn a_file_others_may_read_is_ignored_and_one_only_its_owner_may_is_read() {
        let dir = tempfile::tempdir().expect("a dir");
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:cip:cip:from-the-file\n").expect("written");
        let url = "host=db1 dbname=cip user=cip";
        let read = |mode: u32| {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let mut config: tokio_postgres::Config = url.parse().expect("a URL");
            fill_in(&mut config, Some(file.clone())).expect("read");
            config.get_password().map(<[u8]>::to_vec)
        };
        assert_eq!(read(0o644), None);
        assert_eq!(read(0o600), Some(b"from-the-file".to_vec()));
        let mut given: tokio_postgres::Config = "host=db1 dbname=cip user=cip password=given"
            .parse()
            .expect("a URL");
        fill_in(&mut given, Some(file.clone())).expect("read");
        assert_eq!(given.get_password(), Some(&b"given"[..]));
    }
}

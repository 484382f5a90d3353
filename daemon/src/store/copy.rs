//! Moving up: `cipd store copy` puts every row of a stopped SQLite store into an empty
//! PostgreSQL database in one transaction, then reads it all back. Table by table, the count and
//! a hash of the rows (in whatever order) must equal what was read from SQLite, or nothing is
//! kept and the database stays empty, ready for another try.

use super::{postgres, sqlite};
use anyhow::{Context, bail};
use futures::{StreamExt, pin_mut};
use rusqlite::types::ValueRef;
use std::collections::BTreeSet;
use std::path::Path;
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutRow, BinaryCopyOutStream};
use tokio_postgres::types::{ToSql, Type};

/// Every table, each after the tables it refers to.
const TABLES: [&str; 16] = [
    "applications",
    "users",
    "user_applications",
    "sessions",
    "password_history",
    "batches",
    "payments",
    "confirmations",
    "idempotency_keys",
    "refunds",
    "events",
    "audit_log",
    "handoffs",
    "handoff_deliveries",
    "refund_deliveries",
    "store_settings",
];

/// Rows read ahead of the copy into PostgreSQL.
const ROWS_AHEAD: usize = 1_024;

/// One table's rows as copied and as read back.
pub struct TableCopied {
    pub table: &'static str,
    pub rows: u64,
    pub hash: RowsHash,
}

/// A hash of a table's rows in whatever order: the sum of each row's blake3, lane by lane.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct RowsHash([u64; 4]);

impl RowsHash {
    fn add(&mut self, row: &[Value]) {
        let mut hasher = blake3::Hasher::new();
        for value in row {
            value.hash_into(&mut hasher);
        }
        let digest = hasher.finalize();
        for (lane, bytes) in self.0.iter_mut().zip(digest.as_bytes().chunks_exact(8)) {
            let word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
            *lane = lane.wrapping_add(word);
        }
    }
}

impl std::fmt::Display for RowsHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|lane| write!(f, "{lane:016x}"))
    }
}

/// A value as both stores hold it, typed by the PostgreSQL column it goes to (so is a NULL).
#[derive(Debug)]
enum Value {
    Integer(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Bool(Option<bool>),
}

impl Value {
    /// Reads SQLite's `value` for a PostgreSQL column of type `ty`.
    fn from_sqlite(value: ValueRef<'_>, ty: &Type, column: &str) -> anyhow::Result<Value> {
        Ok(match (value, ty) {
            (ValueRef::Null, _) => Value::null(ty)?,
            (ValueRef::Integer(n), &Type::INT8) => Value::Integer(Some(n)),
            (ValueRef::Integer(n @ (0 | 1)), &Type::BOOL) => Value::Bool(Some(n == 1)),
            (ValueRef::Text(t), &Type::TEXT) => Value::Text(Some(
                std::str::from_utf8(t)
                    .with_context(|| format!("{column} holds text that is not UTF-8"))?
                    .to_owned(),
            )),
            (ValueRef::Blob(b), &Type::BYTEA) => Value::Bytes(Some(b.to_vec())),
            (other, _) => bail!(
                "{column} holds a {:?} where PostgreSQL takes {ty}",
                other.data_type()
            ),
        })
    }

    fn null(ty: &Type) -> anyhow::Result<Value> {
        Ok(match *ty {
            Type::INT8 => Value::Integer(None),
            Type::TEXT => Value::Text(None),
            Type::BYTEA => Value::Bytes(None),
            Type::BOOL => Value::Bool(None),
            _ => bail!("a column of type {ty}, which the copy does not know"),
        })
    }

    /// Reads column `i` of a row read back from PostgreSQL.
    fn from_postgres(row: &BinaryCopyOutRow, i: usize, ty: &Type) -> anyhow::Result<Value> {
        Ok(match *ty {
            Type::INT8 => Value::Integer(row.try_get(i)?),
            Type::TEXT => Value::Text(row.try_get(i)?),
            Type::BYTEA => Value::Bytes(row.try_get(i)?),
            Type::BOOL => Value::Bool(row.try_get(i)?),
            _ => bail!("a column of type {ty}, which the copy does not know"),
        })
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Integer(n) => n,
            Value::Text(t) => t,
            Value::Bytes(b) => b,
            Value::Bool(b) => b,
        }
    }

    fn hash_into(&self, hasher: &mut blake3::Hasher) {
        match self {
            Value::Integer(None) | Value::Text(None) | Value::Bytes(None) | Value::Bool(None) => {
                hasher.update(&[0]);
            }
            Value::Integer(Some(n)) => {
                hasher.update(&[1]).update(&n.to_le_bytes());
            }
            Value::Text(Some(t)) => {
                hasher
                    .update(&[2])
                    .update(&(t.len() as u64).to_le_bytes())
                    .update(t.as_bytes());
            }
            Value::Bytes(Some(b)) => {
                hasher
                    .update(&[3])
                    .update(&(b.len() as u64).to_le_bytes())
                    .update(b);
            }
            Value::Bool(Some(b)) => {
                hasher.update(&[4, u8::from(*b)]);
            }
        }
    }
}

/// A table's columns on PostgreSQL, by name and type.
struct Columns {
    names: Vec<String>,
    types: Vec<Type>,
}

impl Columns {
    async fn of(tx: &tokio_postgres::Transaction<'_>, table: &str) -> anyhow::Result<Columns> {
        let statement = tx.prepare(&format!("SELECT * FROM {table}")).await?;
        Ok(Columns {
            names: statement
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
            types: statement
                .columns()
                .iter()
                .map(|c| c.type_().clone())
                .collect(),
        })
    }

    fn list(&self) -> String {
        self.names.join(", ")
    }
}

/// Copies the SQLite store at `database` (its daemon stopped: nothing answers on `socket`)
/// into the empty PostgreSQL database `to`, and checks every table read back.
pub async fn sqlite_to_postgres(
    database: &Path,
    socket: &Path,
    to: postgres::Database<'_>,
) -> anyhow::Result<Vec<TableCopied>> {
    sqlite::backup::refuse_while_served(socket, "copying its store")?;
    if !database.exists() {
        bail!("there is no SQLite store at {}", database.display());
    }
    let mut source = sqlite::up_to_date(database)?;
    let mut target = postgres::connect_up_to_date(to).await?;
    let tx = target.transaction().await?;
    same_tables(&source, &tx).await?;
    for table in TABLES {
        let held: bool = tx
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await?
            .get(0);
        if held {
            bail!(
                "the PostgreSQL database already holds CIP data (in {table}): copy into an \
                 empty database"
            );
        }
    }
    // One read transaction: every table as of one moment.
    source.execute_batch("BEGIN")?;
    let mut copied = Vec::new();
    for table in TABLES {
        let columns = Columns::of(&tx, table).await?;
        same_columns(&source, table, &columns)?;
        let (rows, hash);
        (source, rows, hash) = copy_table(source, &tx, table, &columns).await?;
        copied.push(TableCopied { table, rows, hash });
    }
    source.execute_batch("COMMIT")?;
    // New audit entries are numbered after the copied ones.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), coalesce(max(id), 0) + 1, false)
         FROM audit_log",
        &[],
    )
    .await?;
    let behind: bool = tx
        .query_one(
            &format!(
                "SELECT coalesce(max(seq), 0) >= {} FROM events",
                postgres::events::FIRST_SEQ
            ),
            &[],
        )
        .await?
        .get(0);
    if behind {
        bail!("the database's transaction ids are too young for the copied events' places");
    }
    for done in &copied {
        let columns = Columns::of(&tx, done.table).await?;
        let (rows, hash) = read_back(&tx, done.table, &columns).await?;
        if (rows, hash) != (done.rows, done.hash) {
            bail!(
                "{} read back as {rows} rows (hash {hash}), not the {} copied (hash {}): \
                 nothing was kept",
                done.table,
                done.rows,
                done.hash
            );
        }
    }
    tx.commit().await?;
    Ok(copied)
}

/// Both stores have exactly [`TABLES`].
async fn same_tables(
    source: &rusqlite::Connection,
    tx: &tokio_postgres::Transaction<'_>,
) -> anyhow::Result<()> {
    let expected: BTreeSet<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    let on_sqlite: BTreeSet<String> = source
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let on_postgres: BTreeSet<String> = tx
        .query(
            "SELECT tablename::text FROM pg_tables
             WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (store, tables) in [("SQLite", on_sqlite), ("PostgreSQL", on_postgres)] {
        if tables != expected {
            bail!(
                "the {store} store's tables are {tables:?}, not the {expected:?} this cipd copies"
            );
        }
    }
    Ok(())
}

/// `table` has the same columns on SQLite as on PostgreSQL: none is left behind.
fn same_columns(
    source: &rusqlite::Connection,
    table: &str,
    columns: &Columns,
) -> anyhow::Result<()> {
    let on_sqlite: BTreeSet<String> = source
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let on_postgres: BTreeSet<String> = columns.names.iter().cloned().collect();
    if on_sqlite != on_postgres {
        bail!("{table} has the columns {on_sqlite:?} on SQLite but {on_postgres:?} on PostgreSQL");
    }
    Ok(())
}

/// Copies `table`'s rows from `source` into `tx`; gives the connection back with the rows'
/// count and hash.
async fn copy_table(
    source: rusqlite::Connection,
    tx: &tokio_postgres::Transaction<'_>,
    table: &'static str,
    columns: &Columns,
) -> anyhow::Result<(rusqlite::Connection, u64, RowsHash)> {
    let (rows_tx, mut rows) = tokio::sync::mpsc::channel::<Vec<Value>>(ROWS_AHEAD);
    let select = format!("SELECT {} FROM {table}", columns.list());
    let (names, types) = (columns.names.clone(), columns.types.clone());
    let reading = tokio::task::spawn_blocking(move || {
        let read = (|| -> anyhow::Result<()> {
            let mut statement = source.prepare(&select)?;
            let mut found = statement.query([])?;
            while let Some(row) = found.next()? {
                let values = (0..names.len())
                    .map(|i| {
                        Value::from_sqlite(
                            row.get_ref(i)?,
                            &types[i],
                            &format!("{table}.{}", names[i]),
                        )
                    })
                    .collect::<anyhow::Result<Vec<Value>>>()?;
                if rows_tx.blocking_send(values).is_err() {
                    break;
                }
            }
            Ok(())
        })();
        (source, read)
    });
    let sink = tx
        .copy_in(&format!(
            "COPY {table} ({}) FROM STDIN (FORMAT binary)",
            columns.list()
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &columns.types);
    pin_mut!(writer);
    let (mut count, mut hash) = (0u64, RowsHash::default());
    while let Some(row) = rows.recv().await {
        hash.add(&row);
        count += 1;
        let values: Vec<&(dyn ToSql + Sync)> = row.iter().map(Value::as_sql).collect();
        writer.as_mut().write(&values).await?;
    }
    let (source, read) = reading.await?;
    read?;
    let written = writer.as_mut().finish().await?;
    if written != count {
        bail!("{table}: {written} rows went in, of {count} read");
    }
    Ok((source, count, hash))
}

/// `table`'s rows as PostgreSQL holds them: their count and hash.
async fn read_back(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &Columns,
) -> anyhow::Result<(u64, RowsHash)> {
    let stream = tx
        .copy_out(&format!(
            "COPY (SELECT {} FROM {table}) TO STDOUT (FORMAT binary)",
            columns.list()
        ))
        .await?;
    let rows = BinaryCopyOutStream::new(stream, &columns.types);
    pin_mut!(rows);
    let (mut count, mut hash) = (0u64, RowsHash::default());
    while let Some(row) = rows.next().await {
        let row = row?;
        let values = columns
            .types
            .iter()
            .enumerate()
            .map(|(i, ty)| Value::from_postgres(&row, i, ty))
            .collect::<anyhow::Result<Vec<Value>>>()?;
        hash.add(&values);
        count += 1;
    }
    Ok((count, hash))
}

import Store

/// An embedding store in format 1, as llatte wrote it before format 2: version `old` (active,
/// table `emb_2`, K = 2, D = 2) with user 77's row, and format 1's runs table. Migration and
/// reader tests start from it.
public func writeFormatOneEmbeddingStore(_ path: String) throws {
    let db = try Database(path: path)
    try db.execute("""
        CREATE TABLE store_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO store_meta VALUES ('format_version', '1');
        CREATE TABLE model_versions(version TEXT PRIMARY KEY, identity TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('building', 'active', 'retired')), table_name TEXT NOT NULL UNIQUE,
            interests INTEGER NOT NULL, interest_dim INTEGER NOT NULL, coverage INTEGER NOT NULL DEFAULT 0,
            created INTEGER NOT NULL, updated INTEGER NOT NULL);
        INSERT INTO model_versions VALUES ('old', 'id', 'active', 'emb_2', 2, 2, 1, 5, 5);
        CREATE TABLE emb_2(user_id INTEGER PRIMARY KEY, codes BLOB NOT NULL, scales BLOB NOT NULL, n_events INTEGER NOT NULL,
            as_of INTEGER, history_version INTEGER NOT NULL, computed_at INTEGER NOT NULL, run_id INTEGER NOT NULL);
        INSERT INTO emb_2 VALUES (77, x'01ff0203', x'0000803f0000003f', 3, 100, 42, 200, 1);
        CREATE TABLE tombstones(user_id INTEGER PRIMARY KEY, forgotten_at INTEGER NOT NULL);
        CREATE TABLE failed_users(version TEXT NOT NULL, user_id INTEGER NOT NULL, history_version INTEGER NOT NULL,
            reason TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (version, user_id));
        CREATE TABLE runs(run_id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, shard TEXT NOT NULL, model_version TEXT NOT NULL,
            checkpoint_identity TEXT NOT NULL, inputs TEXT NOT NULL, catalog_sha256 TEXT NOT NULL, cpu_kernel TEXT NOT NULL,
            status TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, started INTEGER NOT NULL, finished INTEGER,
            selected INTEGER NOT NULL DEFAULT 0, written INTEGER NOT NULL DEFAULT 0, failed_users INTEGER NOT NULL DEFAULT 0,
            files_rejected INTEGER NOT NULL DEFAULT 0, records_quarantined INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0, message TEXT);
        CREATE TABLE run_progress(run_id INTEGER NOT NULL, batch INTEGER NOT NULL, next_user TEXT NOT NULL, selected INTEGER NOT NULL,
            written INTEGER NOT NULL, failed_users INTEGER NOT NULL, committed_at INTEGER NOT NULL, PRIMARY KEY (run_id, batch));
        INSERT INTO runs VALUES (1, 'backfill', '0/1', 'old', 'id', 'events\ta\t1\t2\tff\n', 'cc', 'k', 'ok', 'h', 1, 10, 20, 1, 1, 0, 0, 0, 1.5, NULL);
        """)
}

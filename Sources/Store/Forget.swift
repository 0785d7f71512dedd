import Support

// Forgetting a user (`llatte forget`): the deletion and the tombstone that ingest honours.

extension HistoryStore {
    /// Deletes the user's history, versions and features, and records a tombstone that ingest
    /// honours, so a re-delivered file cannot bring the user back. Returns whether anything was held.
    public func forget(_ user: UInt64) throws -> Bool {
        let key = Int64(bitPattern: user)
        return try db.transaction { () throws -> Bool in
            var held = false
            for sql in ["DELETE FROM history_chunks WHERE user_id = ?", "DELETE FROM users WHERE user_id = ?", "DELETE FROM user_features WHERE user_id = ?"] {
                try db.prepare(sql).run([.int(key)])
                held = held || db.changes > 0
            }
            try db.prepare("INSERT OR IGNORE INTO tombstones(user_id, forgotten_at) VALUES (?, ?)").run([.int(key), .int(wallClockSeconds())])
            return held
        }
    }
}

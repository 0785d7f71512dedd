#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Store
import Support
import Testing
import TestSupport

/// llatte's readers (`get`, `model list|log`, `stats`, `catalog info`) on the real binary: they
/// never wait for a writer's transaction, never write, and refuse a file that is not their store.
@Suite struct ReadOnlyStoreTests {
    /// Runs the llatte binary (as `nobody` when `asNobody`), returning its exit code, output and wall time.
    static func llatte(_ args: [String], _ dir: TempDirectory, _ tag: String, asNobody: Bool = false) throws -> (code: Int32, out: String, err: String, seconds: Double) {
        let start = monotonicSeconds()
        let p = asNobody
            ? try ChildProcess("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", ChildProcess.llatte] + args,
                               outputPrefix: dir.file(tag))
            : try ChildProcess(ChildProcess.llatte, args, outputPrefix: dir.file(tag))
        let code = p.wait()
        return (code, p.stdout, p.stderr, monotonicSeconds() - start)
    }

    /// The names beside a file that SQLite may create (`-wal`, `-shm`, `-journal`) and exist now.
    static func sidecars(_ path: String) -> Set<String> {
        Set(["-wal", "-shm", "-journal"].filter { Files.exists(path + $0) })
    }

    /// The active version's history_version of a user, read through SQLite directly.
    static func storedHistoryVersion(_ store: String, _ user: UInt64) throws -> Int64? {
        let s = try EmbeddingStore(readingAt: store)
        return try s.row(user, version: try #require(try s.activeVersion()).version)?.historyVersion
    }

    @Test func readersAnswerAtOnceWithCommittedDataWhileWritersHoldTransactions() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let store = w.dir.file("out/embeddings.db"), history = w.dir.file("out/history.db")
        let user = PipelineWorld.userID(3)
        let committed = try #require(try ReadOnlyStoreTests.storedHistoryVersion(store, user))
        // A writer on each store: BEGIN IMMEDIATE and an uncommitted change, held for 30 s.
        let script = w.dir.write("hold.py", text: """
            import sqlite3, sys, time
            e = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
            e.execute("BEGIN IMMEDIATE")
            table = e.execute("SELECT table_name FROM model_versions WHERE status = 'active'").fetchone()[0]
            e.execute(f"UPDATE {table} SET history_version = history_version + 1000")
            h = sqlite3.connect(sys.argv[2], isolation_level=None, timeout=10)
            h.execute("BEGIN IMMEDIATE")
            h.execute("UPDATE users SET history_version = history_version + 1000")
            print("holding", flush=True)
            time.sleep(30)
            """)
        let holder = try ChildProcess("/usr/bin/env", ["python3", script, store, history], outputPrefix: w.dir.file("holder"))
        defer { holder.kill(); holder.wait() }
        let deadline = monotonicSeconds() + 20
        while !holder.stdout.contains("holding") && !holder.hasExited() && monotonicSeconds() < deadline { usleep(20_000) }
        try #require(holder.stdout.contains("holding"), "the holder did not take its locks: \(holder.stderr)")

        // A reader that waited on the holder would take the 10-s busy timeout and then fail with
        // "database is locked"; unloaded these answer in ~25 ms. The bound leaves room for a
        // loaded 2-core CI machine without letting a 10-s wait pass.
        let bound = 3.0
        let get = try ReadOnlyStoreTests.llatte(["get", String(user), "--embedding-store", store, "--json"], w.dir, "get")
        #expect(get.code == 0 && get.seconds < bound, "get: exit \(get.code) after \(get.seconds) s: \(get.err)")
        #expect(get.out.contains("\"history_version\":\(committed)"), "\(get.out)")
        let list = try ReadOnlyStoreTests.llatte(["model", "list", "--embedding-store", store], w.dir, "list")
        #expect(list.code == 0 && list.seconds < bound, "model list: exit \(list.code) after \(list.seconds) s: \(list.err)")
        #expect(list.out.contains("golden-small") && list.out.contains("active"), "\(list.out)")
        let log = try ReadOnlyStoreTests.llatte(["model", "log", "--embedding-store", store], w.dir, "log")
        #expect(log.code == 0 && log.seconds < bound, "model log: exit \(log.code) after \(log.seconds) s: \(log.err)")
        let stats = try ReadOnlyStoreTests.llatte(["stats", "--history-store", history, "--user", String(user), "--json"], w.dir, "stats")
        #expect(stats.code == 0 && stats.seconds < bound, "stats: exit \(stats.code) after \(stats.seconds) s: \(stats.err)")
        #expect(stats.out.contains("\"history_version\":\(committed)"), "\(stats.out)")
        #expect(!holder.hasExited(), "the holder let go early: \(holder.stderr)")
    }

    @Test func readersRefuseAFileThatIsNotTheirStoreAndLeaveItUntouched() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let store = w.dir.file("out/embeddings.db")
        let newer = w.dir.file("newer.db")
        try Files.writeAtomically(newer, try Files.readAll(store))
        let setup = try ChildProcess("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            n = sqlite3.connect(sys.argv[1]); n.execute("UPDATE store_meta SET value = '99' WHERE key = 'format_version'"); n.commit(); n.close()
            o = sqlite3.connect(sys.argv[2]); o.execute("CREATE TABLE alpha(x)"); o.execute("CREATE TABLE beta(y)"); o.commit(); o.close()
            """, newer, w.dir.file("other.db")], outputPrefix: w.dir.file("setup"))
        #expect(setup.wait() == 0, "\(setup.stderr)")
        w.dir.write("notes.txt", text: "not a database\n")
        w.dir.write("empty.db", [])
        try Files.makeDirectories(w.dir.file("adir"))
        #expect(ReadOnlyStoreTests.sidecars(w.dir.file("out/history.db")).isEmpty)   // at rest: the refusal below must not add any

        let cases: [(file: String, says: String)] = [
            (w.dir.file("out/history.db"), "it is an llatte history store"), (w.dir.file("catalog.db"), "it is an llatte item catalog"),
            (w.dir.file("notes.txt"), "it is not a SQLite file"), (w.dir.file("empty.db"), "it is an empty file"),
            (w.dir.file("other.db"), "another SQLite database (tables alpha, beta)"), (newer, "embedding store of format 99, newer than this llatte reads"),
            (w.dir.file("adir"), "it is a directory"),
        ]
        for (k, c) in cases.enumerated() {
            let bytes = Files.isDirectory(c.file) ? [] : try Files.readAll(c.file)
            let beside = ReadOnlyStoreTests.sidecars(c.file)
            for args in [["get", String(PipelineWorld.userID(0)), "--embedding-store", c.file], ["model", "list", "--embedding-store", c.file],
                         ["model", "log", "--embedding-store", c.file]] {
                let r = try ReadOnlyStoreTests.llatte(args, w.dir, "refuse\(k)-\(args[1])")
                #expect(r.code == 1, "\(args.joined(separator: " ")): exit \(r.code): \(r.err)")
                #expect(r.err.contains(c.file) && r.err.contains(c.says), "\(args.joined(separator: " ")): \(r.err)")
            }
            let after = Files.isDirectory(c.file) ? [] : try Files.readAll(c.file)
            #expect(after == bytes, "\(c.file) changed")
            #expect(ReadOnlyStoreTests.sidecars(c.file) == beside, "files appeared beside \(c.file)")
        }
        // And the other way round: the history store and catalog readers refuse an embedding store.
        let before = try Files.readAll(store), beside = ReadOnlyStoreTests.sidecars(store)
        let stats = try ReadOnlyStoreTests.llatte(["stats", "--history-store", store], w.dir, "stats-embeddings")
        #expect(stats.code == 1 && stats.err.contains("not a history store: it is an llatte embedding store"), "\(stats.err)")
        let info = try ReadOnlyStoreTests.llatte(["catalog", "info", store], w.dir, "info-embeddings")
        #expect(info.code != 0 && info.err.contains("not an item catalog: it is an llatte embedding store"), "\(info.err)")
        #expect(try Files.readAll(store) == before && ReadOnlyStoreTests.sidecars(store) == beside)
    }

    @Test func aFormatOneStoreIsReadAsItIsWithoutMigratingIt() throws {
        let dir = TempDirectory()
        let path = dir.file("e1.db")
        try writeFormatOneEmbeddingStore(path)
        let before = try Files.readAll(path)
        let get = try ReadOnlyStoreTests.llatte(["get", "77", "--embedding-store", path, "--json"], dir, "get")
        #expect(get.code == 0 && get.out.contains("\"history_version\":42") && get.out.contains("\"codes\":[1,-1,2,3]"), "\(get.out) \(get.err)")
        let list = try ReadOnlyStoreTests.llatte(["model", "list", "--embedding-store", path], dir, "list")
        #expect(list.code == 0 && list.out.contains("old") && list.out.contains("checkpoint -"), "\(list.out) \(list.err)")
        let log = try ReadOnlyStoreTests.llatte(["model", "log", "--embedding-store", path], dir, "log")
        #expect(log.code == 0 && log.out.isEmpty, "\(log.out) \(log.err)")
        let runs = try ReadOnlyStoreTests.llatte(["runs", "--embedding-store", path], dir, "runs")
        #expect(runs.code == 0 && runs.out.hasPrefix("run 1  backfill 0/1  1970-01-01T00:00:10Z → 1970-01-01T00:00:20Z  1.5 s  ok  exit -"), "\(runs.out) \(runs.err)")
        #expect(try Files.readAll(path) == before)
        #expect(try EmbeddingStore(readingAt: path).storedFormatVersion() == 1)
    }

    @Test func aReadOnlyStoreInAReadOnlyDirectoryIsReadByAnotherUser() throws {
        try #require(getuid() == 0 && Files.exists("/usr/bin/setpriv"), "needs root and setpriv to run llatte as nobody")
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let user = PipelineWorld.userID(7)
        let committed = try #require(try ReadOnlyStoreTests.storedHistoryVersion(w.dir.file("out/embeddings.db"), user))
        // Three read-only directories nobody can traverse but not write: a store at rest (all in
        // the main file), one whose -wal holds an uncheckpointed commit (+1000) with its -shm, and
        // the same without the -shm.
        let top = TempDirectory("llatte-ro")
        chmod(top.path, 0o755)
        let copy = w.dir.write("copy.py", text: """
            import os, shutil, sqlite3, sys
            src, top = sys.argv[1], sys.argv[2]
            for d in ("rest", "wal", "walnoshm"): os.makedirs(f"{top}/{d}")
            shutil.copy(src, f"{top}/rest/embeddings.db")
            db = sqlite3.connect(src, isolation_level=None)
            db.execute("PRAGMA wal_autocheckpoint = 0")
            table = db.execute("SELECT table_name FROM model_versions WHERE status = 'active'").fetchone()[0]
            db.execute(f"UPDATE {table} SET history_version = history_version + 1000")
            for d, sides in (("wal", ("", "-wal", "-shm")), ("walnoshm", ("", "-wal"))):
                for s in sides: shutil.copy(src + s, f"{top}/{d}/embeddings.db" + s)
            os._exit(0)   # no close: the commit stays in the -wal
            """)
        // Every commit is in the main file (a reader, like the one above, may leave an empty -wal).
        #expect(((try? Files.status(w.dir.file("out/embeddings.db-wal")))?.size ?? 0) == 0)
        let py = try ChildProcess("/usr/bin/env", ["python3", copy, w.dir.file("out/embeddings.db"), top.path], outputPrefix: w.dir.file("copy"))
        #expect(py.wait() == 0, "\(py.stderr)")
        try Files.writeAtomically(top.file("rest/history.db"), try Files.readAll(w.dir.file("out/history.db")))
        for d in ["rest", "wal", "walnoshm"] {
            for name in try Files.list(top.file(d)) { chmod(top.file("\(d)/\(name)"), 0o444) }
            chmod(top.file(d), 0o555)
        }
        defer { for d in ["rest", "wal", "walnoshm"] { chmod(top.file(d), 0o755) } }

        for (d, expected) in [("rest", committed), ("wal", committed + 1000)] {
            let store = top.file("\(d)/embeddings.db")
            let files = try Files.list(top.file(d)), bytes = try files.map { try Files.readAll(top.file("\(d)/\($0)")) }
            let get = try ReadOnlyStoreTests.llatte(["get", String(user), "--embedding-store", store, "--json"], w.dir, "ro-get-\(d)", asNobody: true)
            #expect(get.code == 0 && get.out.contains("\"history_version\":\(expected)"), "\(d): exit \(get.code): \(get.out) \(get.err)")
            let list = try ReadOnlyStoreTests.llatte(["model", "list", "--embedding-store", store], w.dir, "ro-list-\(d)", asNobody: true)
            #expect(list.code == 0 && list.out.contains("golden-small"), "\(d): exit \(list.code): \(list.err)")
            #expect(try Files.list(top.file(d)) == files && files.map { try Files.readAll(top.file("\(d)/\($0)")) } == bytes, "\(d) changed")
        }
        let stats = try ReadOnlyStoreTests.llatte(["stats", "--history-store", top.file("rest/history.db")], w.dir, "ro-stats", asNobody: true)
        #expect(stats.code == 0 && stats.out.contains("users"), "exit \(stats.code): \(stats.err)")
        // A live writer with write access (root) commits while nobody reads: read through the -shm, read-only.
        try Files.makeDirectories(top.file("live"))
        try Files.writeAtomically(top.file("live/embeddings.db"), try Files.readAll(top.file("rest/embeddings.db")))
        chmod(top.file("live/embeddings.db"), 0o444)
        chmod(top.file("live"), 0o555)
        defer { chmod(top.file("live"), 0o755) }
        let writer = try ChildProcess("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            table = db.execute("SELECT table_name FROM model_versions WHERE status = 'active'").fetchone()[0]
            db.execute(f"UPDATE {table} SET history_version = history_version + 2000")
            print("committed", flush=True)
            time.sleep(30)
            """, top.file("live/embeddings.db")], outputPrefix: w.dir.file("live-writer"))
        defer { writer.kill(); writer.wait() }
        let deadline = monotonicSeconds() + 20
        while !writer.stdout.contains("committed") && !writer.hasExited() && monotonicSeconds() < deadline { usleep(20_000) }
        try #require(writer.stdout.contains("committed"), "the writer did not commit: \(writer.stderr)")
        let live = try ReadOnlyStoreTests.llatte(["get", String(user), "--embedding-store", top.file("live/embeddings.db"), "--json"], w.dir,
                                                 "ro-get-live", asNobody: true)
        #expect(live.code == 0 && live.out.contains("\"history_version\":\(committed + 2000)"), "exit \(live.code): \(live.out) \(live.err)")
        // Commits only in the -wal, and no -shm to read them through: refused, saying why (immutable would silently drop them).
        let noShm = try ReadOnlyStoreTests.llatte(["get", String(user), "--embedding-store", top.file("walnoshm/embeddings.db")], w.dir,
                                                  "ro-get-noshm", asNobody: true)
        #expect(noShm.code == 1 && noShm.err.contains("embeddings.db-shm"), "exit \(noShm.code): \(noShm.err)")
        #expect(try Files.list(top.file("walnoshm")) == ["embeddings.db", "embeddings.db-wal"])
    }
}

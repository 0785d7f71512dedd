#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Store
import Support
import Testing
import TestSupport

/// A backfilled PipelineWorld (40 users, a quarter of them ≥ 2^63, and one with features only)
/// and the commands to export it and read it back.
struct ExportWorld {
    let w: PipelineWorld
    var dir: TempDirectory { w.dir }
    var store: String { w.dir.file("out/embeddings.db") }
    /// Every user the backfill encodes, ascending.
    let users: [UInt64]
    /// A user with features and no events: its row's as_of is NULL.
    static let featuresOnly: UInt64 = (1 << 63) + 424_242

    init() throws {
        w = try PipelineWorld()
        let features = String(decoding: try Files.readAll(w.dir.file("users.jsonl")), as: UTF8.self)
        w.dir.write("users.jsonl", text: features + "{\"user_id\":\(ExportWorld.featuresOnly),\"country\":\"BR\",\"log_account_age_days\":1.5}\n")
        users = ((0..<w.users).map(PipelineWorld.userID) + [ExportWorld.featuresOnly]).sorted()
        let p = try w.run("backfill")
        #expect(p.wait() == 0, "\(p.stderr)")
    }

    func export(_ args: [String], env: [String: String] = [:], tag: String = "export") throws -> ChildProcess {
        try ChildProcess(ChildProcess.llatte, ["export", "--embedding-store", store] + args, environment: env,
                         outputPrefix: dir.file("\(tag)-\(UUID().uuidString.prefix(8))"))
    }

    /// `llatte get USER --json`: the parsed object and the line as printed.
    func get(_ user: UInt64) throws -> (object: [String: Any], line: String) {
        let p = try ChildProcess(ChildProcess.llatte, ["get", String(user), "--embedding-store", store, "--json"],
                                 outputPrefix: dir.file("get-\(user)"))
        #expect(p.wait() == 0, "\(p.stderr)")
        let line = p.stdout.trimmingCharacters(in: .newlines)
        return (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any], line)
    }

    /// Runs a Python program (numpy) and returns its stdout lines.
    func python(_ name: String, _ program: String, _ args: [String]) throws -> [Substring] {
        let script = dir.write(name, text: program)
        let p = try ChildProcess("/usr/bin/env", ["python3", script] + args, outputPrefix: dir.file(name))
        #expect(p.wait() == 0, "python3 with numpy is needed (`python3 -m pip install numpy`, done by make test-deps): \(p.stderr)")
        return p.stdout.split(separator: "\n")
    }
}

/// The text inside `"key":[…]` of a JSON line (a flat array of numbers), element by element.
func jsonArrayText(_ line: String, _ key: String) -> [Substring] {
    guard let start = line.range(of: "\"\(key)\":[") , let end = line.range(of: "]", range: start.upperBound..<line.endIndex) else { return [] }
    return line[start.upperBound..<end.lowerBound].split(separator: ",")
}

func ints(_ x: Any?) -> [Int] { ((x as? [Any]) ?? []).flatMap { ($0 as? [NSNumber]).map { $0.map(\.intValue) } ?? [($0 as! NSNumber).intValue] } }

/// `llatte export`: every exported user equals `llatte get`, in every format; users files; one snapshot.
@Suite struct ExportTests {
    /// A block of docs/store.md's "Exporting" section: the first fence opening with `fence`.
    static func exportingDocBlock(_ fence: String) throws -> String {
        let doc = try String(contentsOfFile: StoreCommandTests.repoRoot + "/docs/store.md", encoding: .utf8)
        guard let section = doc.range(of: "## Exporting"), let start = doc.range(of: fence + "\n", range: section.upperBound..<doc.endIndex),
              let end = doc.range(of: "```", range: start.upperBound..<doc.endIndex) else { throw POSIXError(.ENOENT) }
        return String(doc[start.upperBound..<end.lowerBound])
    }

    /// Prints one JSON line per exported user, from arrays loaded by the documented loader.
    static let dumpNpy = #"""
        import json, sys
        import numpy as np
        sys.path.insert(0, sys.argv[1])
        from export_loader import load_export
        meta, arrays = load_export(sys.argv[2])
        print(json.dumps({"count": meta["count"], "model_version": meta["model_version"],
                          "dtypes": {k: str(a.dtype) for k, a in arrays.items()}, "shapes": {k: list(a.shape) for k, a in arrays.items()}}))
        for i, u in enumerate(arrays["user_ids"]):
            row = {"user_id": int(u), "as_of": int(arrays["as_of"][i]), "history_version": int(arrays["history_version"][i]),
                   "n_events": int(arrays["n_events"][i])}
            if "codes" in arrays:
                row["codes"] = arrays["codes"][i].reshape(-1).tolist()
                row["scale_bits"] = arrays["scales"][i].view(np.uint32).tolist()
            else:
                row["embedding_bits"] = arrays["embeddings"][i].reshape(-1).view(np.uint32).tolist()
            print(json.dumps(row))
        """#

    @Test func everyUserOfAnNpyExportEqualsLlatteGet() throws {
        let e = try ExportWorld()
        let p = try e.export(["--out", e.dir.file("npy"), "--format", "npy"])
        #expect(p.wait() == 0, "\(p.stderr)")
        #expect(p.stdout.hasPrefix("export: model_version=golden-small format=npy rows=41 "), "\(p.stdout)")
        e.dir.write("export_loader.py", text: try ExportTests.exportingDocBlock("```python"))
        let lines = try e.python("dump.py", ExportTests.dumpNpy, [e.dir.path, e.dir.file("npy")])
        try #require(lines.count == 42)
        let head = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(head["count"] as? Int == 41 && head["model_version"] as? String == "golden-small")
        #expect(head["dtypes"] as? [String: String] == ["user_ids": "uint64", "codes": "int8", "scales": "float32", "as_of": "int64",
                                                        "history_version": "int64", "n_events": "int32"])
        let (first, _) = try e.get(e.users[0])
        let k = (first["interests"] as! NSNumber).intValue, d = (first["interest_dim"] as! NSNumber).intValue
        #expect((head["shapes"] as? [String: [Int]])?["codes"] == [41, k, d])
        var ids: [UInt64] = []
        for line in lines.dropFirst() {
            let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let user = (row["user_id"] as! NSNumber).uint64Value
            ids.append(user)
            let (get, getLine) = try e.get(user)
            #expect(ints(row["codes"]) == ints(get["codes"]), "user \(user)")
            #expect((row["scale_bits"] as! [NSNumber]).map(\.uint32Value) == jsonArrayText(getLine, "scales").map { Float(String($0))!.bitPattern }, "user \(user)")
            #expect((row["as_of"] as! NSNumber).int64Value == ((get["as_of"] as? NSNumber)?.int64Value ?? -1), "user \(user)")
            #expect((row["history_version"] as! NSNumber).int64Value == (get["history_version"] as! NSNumber).int64Value)
            #expect((row["n_events"] as! NSNumber).intValue == (get["n_events"] as! NSNumber).intValue)
        }
        // Ascending as unsigned ids: every user once, those ≥ 2^63 last (their keys are negative).
        #expect(ids == e.users)
        #expect(ids.contains(ExportWorld.featuresOnly) && ids.filter { $0 >= 1 << 63 }.count == 11)
        #expect(lines.contains { $0.contains("\"user_id\": \(ExportWorld.featuresOnly), \"as_of\": -1,") }, "the no-events sentinel")
        // The documented loader, run as a program on one user, prints that user's first interest.
        let run = try e.python("export_loader.py", try ExportTests.exportingDocBlock("```python"), [e.dir.file("npy"), String(e.users[5])])
        let (get, getLine) = try e.get(e.users[5])
        let scale0 = Float(String(jsonArrayText(getLine, "scales")[0]))!
        let expected = ints(get["codes"]).prefix(d).map { String(format: "%.6g", Double(Float($0) * scale0)) }.joined(separator: " ")
        #expect(run.map(String.init) == ["golden-small 41 \(k) \(d) " + expected])
    }

    @Test func jsonlAndDequantizedExportsEqualLlatteGet() throws {
        let e = try ExportWorld()
        for dequantize in [false, true] {
            let p = try e.export(["--out", e.dir.file("jsonl"), "--format", "jsonl"] + (dequantize ? ["--dequantize"] : []))
            #expect(p.wait() == 0, "\(p.stderr)")
            let lines = String(decoding: try Files.readAll(e.dir.file("jsonl/embeddings.jsonl")), as: UTF8.self).split(separator: "\n").map(String.init)
            var ids: [UInt64] = []
            for line in lines {
                let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                let user = (row["user_id"] as! NSNumber).uint64Value
                ids.append(user)
                let (get, getLine) = try e.get(user)
                let scales = jsonArrayText(getLine, "scales")
                let k = (get["interests"] as! NSNumber).intValue, d = (get["interest_dim"] as! NSNumber).intValue
                if dequantize {
                    // Each value as Swift spells code × scale in float32: the same text, so the same float.
                    let expected = ints(get["codes"]).enumerated().map { "\(Float($1) * Float(String(scales[$0 / d]))!)" }
                    #expect((row["embedding"] as! [[Any]]).map(\.count) == Array(repeating: d, count: k) && row["codes"] == nil && row["scales"] == nil)
                    #expect(line.components(separatedBy: "\"embedding\":[[")[1].components(separatedBy: "]]")[0]
                        .replacingOccurrences(of: "],[", with: ",").split(separator: ",").map(String.init) == expected, "user \(user)")
                } else {
                    #expect((row["codes"] as! [[Any]]).map(\.count) == Array(repeating: d, count: k))
                    #expect(ints(row["codes"]) == ints(get["codes"]), "user \(user)")
                    #expect(jsonArrayText(line, "scales") == scales, "user \(user)")
                }
                #expect(row["as_of"] as? NSNumber == get["as_of"] as? NSNumber && (row["as_of"] is NSNull) == (get["as_of"] is NSNull))
                #expect((row["history_version"] as! NSNumber) == (get["history_version"] as! NSNumber))
                #expect((row["n_events"] as! NSNumber) == (get["n_events"] as! NSNumber))
            }
            #expect(ids == e.users)
            #expect(lines.contains { $0.hasPrefix("{\"user_id\":\(ExportWorld.featuresOnly),") && $0.contains("\"as_of\":null,") })
        }
        // npy --dequantize: embeddings.npy holds code × scale as float32, bit for bit.
        let p = try e.export(["--out", e.dir.file("npy"), "--format", "npy", "--dequantize"])
        #expect(p.wait() == 0, "\(p.stderr)")
        e.dir.write("export_loader.py", text: try ExportTests.exportingDocBlock("```python"))
        let lines = try e.python("dump.py", ExportTests.dumpNpy, [e.dir.path, e.dir.file("npy")])
        try #require(lines.count == 42)
        #expect(lines[0].contains("\"embeddings\": \"float32\""), "\(lines[0])")
        for line in lines.dropFirst() {
            let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let user = (row["user_id"] as! NSNumber).uint64Value
            let (get, getLine) = try e.get(user)
            let scales = jsonArrayText(getLine, "scales").map { Float(String($0))! }
            let d = (get["interest_dim"] as! NSNumber).intValue
            let expected = ints(get["codes"]).enumerated().map { (Float($1) * scales[$0 / d]).bitPattern }
            #expect((row["embedding_bits"] as! [NSNumber]).map(\.uint32Value) == expected, "user \(user)")
        }
    }

    @Test func aUsersFileExportsOnlyItsUsersAndAMissingOneExitsTwo() throws {
        let e = try ExportWorld()
        let wanted = [e.users[30], e.users[2], e.users[40], e.users[2]]   // unsorted, a duplicate, two ≥ 2^63
        let absent: UInt64 = 777
        let file = e.dir.write("users.txt", text: "# users for the trainer\n\n" + wanted.map { "\($0)\n" }.joined() + "\(absent)   \n")
        let p = try e.export(["--users-file", file, "--out", e.dir.file("some"), "--format", "jsonl"])
        #expect(p.wait() == 2, "\(p.stderr)")
        #expect(p.stderr.contains("llatte export: 1 of 4 users in \(file) have no row in model version golden-small: 777"), "\(p.stderr)")
        #expect(p.stdout.contains("rows=3 requested=4 missing=1"), "\(p.stdout)")
        let lines = String(decoding: try Files.readAll(e.dir.file("some/embeddings.jsonl")), as: UTF8.self).split(separator: "\n")
        #expect(lines.map { ($0.split(separator: ",")[0]).dropFirst("{\"user_id\":".count) } == [e.users[2], e.users[30], e.users[40]].map { Substring(String($0)) })
        let meta = try JSONSerialization.jsonObject(with: Data(try Files.readAll(e.dir.file("some/meta.json")))) as! [String: Any]
        #expect(meta["missing"] as? [Int] == [777] && meta["missing_count"] as? Int == 1 && meta["requested"] as? Int == 4 && meta["count"] as? Int == 3)
        #expect(meta["users_file"] as? String == file)
        // All found: exit 0.
        let all = e.dir.write("found.txt", text: "\(e.users[0])\n\(e.users[39])\n")
        let ok = try e.export(["--users-file", all, "--out", e.dir.file("found"), "--format", "npy"])
        #expect(ok.wait() == 0, "\(ok.stderr)")
        // A bad line, an unknown version, no active version: exit 1 naming what is wrong.
        let bad = e.dir.write("bad.txt", text: "\(e.users[0])\n# ok\n12 13\n")
        let b = try e.export(["--users-file", bad, "--out", e.dir.file("bad"), "--format", "npy"])
        #expect(b.wait() == 1 && b.stderr.contains("llatte export: \(bad):3:"), "\(b.stderr)")
        let v = try e.export(["--model-version", "nope", "--out", e.dir.file("v"), "--format", "npy"])
        #expect(v.wait() == 1 && v.stderr.contains("llatte export: \(e.store): no model version nope"), "\(v.stderr)")
        let empty = e.dir.file("empty.db")
        _ = try EmbeddingStore(path: empty).ensureVersion("v0", identity: "x", interests: 1, interestDim: 1)
        let n = try ChildProcess(ChildProcess.llatte, ["export", "--embedding-store", empty, "--out", e.dir.file("n"), "--format", "npy"],
                                 outputPrefix: e.dir.file("noactive"))
        #expect(n.wait() == 1 && n.stderr.contains("llatte export: \(empty): no active model version"), "\(n.stderr)")
        let usage = try e.export(["--out", e.dir.file("u"), "--format", "csv"])
        #expect(usage.wait() == 64)
    }

    /// The exported rows of a jsonl export: user → (codes, history_version).
    func exported(_ path: String) throws -> [(user: UInt64, codes: [Int], historyVersion: Int64)] {
        try String(decoding: try Files.readAll(path), as: UTF8.self).split(separator: "\n").map { line in
            let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return ((row["user_id"] as! NSNumber).uint64Value, ints(row["codes"]), (row["history_version"] as! NSNumber).int64Value)
        }
    }

    @Test func anExportReadsOneSnapshotWhileAnotherProcessWrites() throws {
        let e = try ExportWorld()
        let before = try e.w.store().rows(version: "golden-small").sorted { $0.userID < $1.userID }
        func changed(_ r: EmbeddingRow) -> EmbeddingRow {
            var r = r
            r.codes = r.codes.reversed()
            r.historyVersion += 1
            return r
        }
        let newcomer = EmbeddingRow(userID: 5, codes: [Int8](repeating: 1, count: before[0].codes.count), scales: before[0].scales, nEvents: 1,
                                    asOf: 1, historyVersion: 1, computedAt: 1, runID: 1)
        func sameAsBefore(_ rows: [(user: UInt64, codes: [Int], historyVersion: Int64)]) -> Bool {
            rows.count == before.count && zip(rows, before).allSatisfy { $0.user == $1.userID && $0.codes == $1.codes.map(Int.init) && $0.historyVersion == $1.historyVersion }
        }

        // 1. A write transaction open in this process, rows written but not committed: not seen, not waited for.
        let writer = try e.w.store()
        let v = try #require(try writer.version("golden-small"))
        try writer.database.execute("BEGIN IMMEDIATE")
        _ = try writer.upsert((before.map(changed) + [newcomer]).sorted { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }, into: v)
        let during = try e.export(["--out", e.dir.file("during"), "--format", "jsonl"])
        #expect(during.wait() == 0, "\(during.stderr)")
        #expect(sameAsBefore(try exported(e.dir.file("during/embeddings.jsonl"))))
        try writer.database.execute("ROLLBACK")

        // 2. An export paused after 5 rows while this process commits changes to every row, a new
        //    user and a forgotten one, and checkpoints the WAL: it still writes the rows as they were.
        let hold = e.dir.write("hold", text: "")
        let paused = try e.export(["--out", e.dir.file("paused"), "--format", "jsonl"],
                                  env: ["LLATTE_TEST_EXPORT_PAUSE_AFTER": "5", "LLATTE_TEST_HOLD": hold, "LLATTE_TEST_MARKERS": e.dir.file("markers")])
        var waited = 0
        while !Files.exists(e.dir.file("markers/export.paused")) && !paused.hasExited() && waited < 3000 { usleep(10_000); waited += 1 }
        try #require(Files.exists(e.dir.file("markers/export.paused")), "\(paused.stderr)")
        _ = try writer.database.transaction {
            try writer.upsert((before.map(changed) + [newcomer]).sorted { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }, into: v)
        }
        try writer.forget(e.users[40])
        try writer.database.execute("PRAGMA wal_checkpoint(PASSIVE)")
        unlink(hold)
        #expect(paused.wait() == 0, "\(paused.stderr)")
        #expect(sameAsBefore(try exported(e.dir.file("paused/embeddings.jsonl"))))

        // 3. The next export sees the committed state.
        let after = try e.export(["--out", e.dir.file("after"), "--format", "jsonl"])
        #expect(after.wait() == 0, "\(after.stderr)")
        let rows = try exported(e.dir.file("after/embeddings.jsonl"))
        #expect(rows.count == 41 && rows.first?.user == 5 && !rows.contains { $0.user == e.users[40] })
        #expect(rows.dropFirst().map(\.historyVersion) == before.dropLast().map { $0.historyVersion + 1 })
    }

    @Test func theDocumentedDuckDBOneLinerTurnsTheJSONLExportIntoParquet() throws {
        let scratch = TempDirectory()
        let check = try ChildProcess("/usr/bin/env", ["python3", "-c", "import duckdb, numpy"], outputPrefix: scratch.file("import"))
        guard check.wait() == 0 else {
            Issue.record("duckdb (and numpy) must be importable by python3 for this test: python3 -m pip install duckdb numpy (make test-deps installs them)")
            return
        }
        let e = try ExportWorld()
        for (format, dir) in [("jsonl", "export-jsonl"), ("npy", "export")] {
            let p = try e.export(["--out", e.dir.file("out/\(dir)"), "--format", format])
            #expect(p.wait() == 0, "\(p.stderr)")
        }
        // The one-liner as documented, with its paths under this world's out/.
        let doc = try String(contentsOfFile: StoreCommandTests.repoRoot + "/docs/store.md", encoding: .utf8).components(separatedBy: "## Exporting")
        let oneLiner = try #require(doc.last?.split(separator: "\n").first { $0.hasPrefix("python3 -c \"import duckdb") })
        let command = oneLiner.replacingOccurrences(of: "out/", with: e.dir.file("out/"))
        let p = try ChildProcess("/bin/sh", ["-c", command], outputPrefix: e.dir.file("duckdb"))
        #expect(p.wait() == 0, "\(p.stderr)")
        let lines = try e.python("parquet.py", #"""
            import sys
            import duckdb, numpy as np
            d = sys.argv[1]
            types = dict(duckdb.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{d}/export-jsonl/embeddings.parquet')").fetchall())
            print(" ".join(f"{k}={types[k]}" for k in ["user_id", "codes", "scales", "n_events", "as_of", "history_version"]))
            rows = duckdb.sql(f"SELECT user_id, codes, scales, n_events, as_of, history_version FROM '{d}/export-jsonl/embeddings.parquet'").fetchall()
            a = {k: np.load(f"{d}/export/{k}.npy") for k in ["user_ids", "codes", "scales", "n_events", "as_of", "history_version"]}
            bad = 0
            for i, (u, codes, scales, n, as_of, hv) in enumerate(rows):
                same = (u == int(a["user_ids"][i]) and np.array_equal(np.array(codes, dtype=np.int8), a["codes"][i])
                        and np.array_equal(np.array(scales, dtype=np.float32).view(np.uint32), a["scales"][i].view(np.uint32))
                        and n == a["n_events"][i] and (-1 if as_of is None else as_of) == a["as_of"][i] and hv == a["history_version"][i])
                bad += not same
            print(f"rows={len(rows)} mismatches={bad}")
            """#, [e.dir.file("out")])
        #expect(lines.map(String.init) == ["user_id=UBIGINT codes=TINYINT[][] scales=FLOAT[] n_events=INTEGER as_of=BIGINT history_version=BIGINT",
                          "rows=41 mismatches=0"])
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Store
import Support
import Testing
import TestSupport

/// `EmbeddingStore.export` in-process: order over the signed keys, users files, errors that name
/// what is wrong, and a failed export leaving the previous one untouched.
@Suite struct EmbeddingExportTests {
    /// Users on both sides of 2^63 (stored under positive and negative keys).
    static let users: [UInt64] = [5, 1 << 62, (1 << 63) - 1, 1 << 63, (1 << 63) + 9, UInt64.max]

    func store(_ dir: TempDirectory, active: Bool = true) throws -> String {
        let path = dir.file("e.db")
        let s = try EmbeddingStore(path: path)
        let v = try s.ensureVersion("v1", identity: "id-v1", interests: 2, interestDim: 3)
        let rows = EmbeddingExportTests.users.enumerated().map { i, u in
            EmbeddingRow(userID: u, codes: (0..<6).map { Int8($0 * 20 - 60 + i) }, scales: [0.5, Float(i) / 64], nEvents: i,
                         asOf: i == 2 ? nil : 1_790_000_000 + Int64(i), historyVersion: Int64(10 + i), computedAt: 1, runID: 1)
        }
        _ = try s.database.transaction { try s.upsert(rows.sorted { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }, into: v) }
        if active { try s.activate("v1", forced: true, by: "test", reason: nil) }
        return path
    }

    func request(_ dir: TempDirectory, _ format: ExportFormat = .npy) -> ExportRequest {
        ExportRequest(directory: dir.file("out"), format: format, exportedAt: "2026-12-01T00:00:00Z")
    }

    /// A little-endian u64 vector from an .npy file written by NpyWriter (128-byte header).
    func u64s(_ path: String) throws -> [UInt64] {
        let b = try Files.readAll(path)
        return stride(from: 128, to: b.count, by: 8).map { o in (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
    }

    @Test func rowsComeOutAscendingAsUnsignedIdsWithTheNoEventsSentinel() throws {
        let dir = TempDirectory()
        let s = try EmbeddingStore(readingAt: try store(dir))
        let summary = try s.export(request(dir))
        #expect(summary.rows == 6 && summary.missing.isEmpty && summary.version.version == "v1")
        #expect(try u64s(dir.file("out/user_ids.npy")) == EmbeddingExportTests.users)
        #expect(try u64s(dir.file("out/as_of.npy")).map { Int64(bitPattern: $0) } == [1_790_000_000, 1_790_000_001, -1, 1_790_000_003, 1_790_000_004, 1_790_000_005])
        let meta = String(decoding: try Files.readAll(dir.file("out/meta.json")), as: UTF8.self)
        #expect(meta.contains("\"codes.npy\": {\"dtype\": \"|i1\", \"shape\": [6, 2, 3]}"), "\(meta)")
        #expect(meta.contains("\"exported_at\": \"2026-12-01T00:00:00Z\"") && meta.contains("\"checkpoint_identity\": \"id-v1\""))
        #expect(try Files.list(dir.file("out")) == ["as_of.npy", "codes.npy", "history_version.npy", "meta.json", "n_events.npy", "scales.npy", "user_ids.npy"])
    }

    @Test func aUsersFileSelectsSortsAndReportsTheMissing() throws {
        let dir = TempDirectory()
        let s = try EmbeddingStore(readingAt: try store(dir))
        let file = dir.write("users.txt", text: "# wanted\n\(UInt64.max)\n\n5\n  42  \n\(UInt64(1) << 63)\n5\n")
        var r = request(dir, .jsonl)
        r.usersFile = file
        let summary = try s.export(r)
        #expect(summary.rows == 3 && summary.requested == 4 && summary.missing == [42])
        let lines = String(decoding: try Files.readAll(dir.file("out/embeddings.jsonl")), as: UTF8.self).split(separator: "\n")
        #expect(lines.map { $0.split(separator: ",")[0] } == ["{\"user_id\":5", "{\"user_id\":\(UInt64(1) << 63)", "{\"user_id\":\(UInt64.max)"])
        #expect(lines[0] == "{\"user_id\":5,\"codes\":[[-60,-40,-20],[0,20,40]],\"scales\":[0.5,0.0],\"n_events\":0,\"as_of\":1790000000,\"history_version\":10}")
        let meta = String(decoding: try Files.readAll(dir.file("out/meta.json")), as: UTF8.self)
        #expect(meta.contains("\"missing\": [42]") && meta.contains("\"requested\": 4") && meta.contains("\"embeddings.jsonl\": {\"lines\": 3}"), "\(meta)")
    }

    @Test func errorsNameTheStoreTheVersionOrTheLine() throws {
        let dir = TempDirectory()
        let path = try store(dir, active: false)
        let s = try EmbeddingStore(readingAt: path)
        #expect { try s.export(request(dir)) } throws: { "\($0)" == "\(path): no active model version (name one with --model-version; `llatte model list` shows them)" }
        var r = request(dir)
        r.version = "v9"
        #expect { try s.export(r) } throws: { "\($0)".hasPrefix("\(path): no model version v9") }
        r.version = "v1"
        r.usersFile = dir.write("bad.txt", text: "5\n# fine\n12x\n")
        #expect { try s.export(r) } throws: { "\($0)".contains("bad.txt:3:") }
        r.usersFile = dir.file("absent.txt")
        #expect { try s.export(r) } throws: { "\($0)".contains("absent.txt") }
        #expect(!Files.exists(dir.file("out/meta.json")))
    }

    @Test func aFailedExportLeavesThePreviousOneAndNoTempFiles() throws {
        let dir = TempDirectory()
        let path = try store(dir)
        _ = try EmbeddingStore(readingAt: path).export(request(dir))
        let before = try Files.readAll(dir.file("out/codes.npy"))
        // A corrupt row (a short codes blob) after the first rows in key order.
        let w = try EmbeddingStore(path: path)
        try w.database.execute("UPDATE emb_1 SET codes = x'0102' WHERE user_id = \(Int64(bitPattern: UInt64.max))")
        #expect { try EmbeddingStore(readingAt: path).export(request(dir)) } throws: {
            "\($0)" == "\(path): model version v1, user \(UInt64.max), codes/scales: blob sizes 2/8 do not match 2×3"
        }
        #expect(try Files.readAll(dir.file("out/codes.npy")) == before)
        #expect(try Files.list(dir.file("out")).allSatisfy { !$0.contains(".tmp") })
    }

    @Test func aDequantizedExportReplacesTheCodesAndScales() throws {
        let dir = TempDirectory()
        let s = try EmbeddingStore(readingAt: try store(dir))
        _ = try s.export(request(dir))
        var r = request(dir)
        r.dequantize = true
        _ = try s.export(r)
        #expect(try Files.list(dir.file("out")) == ["as_of.npy", "embeddings.npy", "history_version.npy", "meta.json", "n_events.npy", "user_ids.npy"])
        // User 5: codes -60…40 by 20, scales 0.5 and 0: row 0 of [6, 2, 3] float32.
        let b = try Files.readAll(dir.file("out/embeddings.npy"))
        let first = (0..<6).map { k in Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[128 + 4 * k + $1]) << (8 * UInt32($1)) }) }
        #expect(first == [-30, -20, -10, 0, 0, 0])
    }
}

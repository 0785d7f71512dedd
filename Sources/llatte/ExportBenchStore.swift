import ArgumentParser
import Pipeline
import Store
import Support
#if canImport(Glibc)
import Glibc
#endif

/// `llatte bench export-store`: a fresh embedding store of N synthetic rows written through
/// `EmbeddingStore`, for `scripts/bench-export.sh` to export and measure; with `--shard k/n`, the
/// rows of that shard's users only and the shard's build, as a sharded backfill leaves them, for
/// `scripts/bench-merge.sh` to merge.
struct BenchExportStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-store",
        abstract: "Write a fresh embedding store of synthetic rows for the export and merge benchmarks.")

    @Option(name: .customLong("users"), help: "Rows to write.") var users: Int
    @Option(name: .customLong("store"), help: "The store to create (replaced if it exists).") var store: String
    @Option(name: .customLong("interests"), help: "K (the sample checkpoint's).") var interests = 4
    @Option(name: .customLong("interest-dim"), help: "D (the sample checkpoint's).") var interestDim = 16
    @Option(name: .customLong("model-version"), help: "The version written (created building).") var modelVersion = "bench-export"
    @Option(name: .customLong("shard"), help: "Only the users of shard k of n (k/n: fmix(user_id) mod n == k) of the N, and its build.")
    var shard: String?

    func run() throws {
        guard users > 0, interests > 0, interestDim > 0 else { throw exitWith(.usage, "llatte bench export-store: --users, --interests and --interest-dim must be positive") }
        var part = Shard.all
        if let shard {
            guard let s = Shard(shard) else { throw exitWith(.usage, "llatte bench export-store: --shard \(shard): expected k/n with 0 ≤ k < n") }
            part = s
        }
        do {
            try Files.makeDirectories(Files.parentDirectory(store))
            for suffix in ["", "-wal", "-shm"] { try? Files.remove(store + suffix) }
            let s = try EmbeddingStore(path: store)
            let v = try s.ensureVersion(modelVersion, identity: "bench-export", interests: interests, interestDim: interestDim)
            let t0 = monotonicSeconds()
            // Ids spread evenly over the unsigned range (half of them ≥ 2^63, stored under negative keys).
            let step = UInt64.max / UInt64(users)
            var codes = [Int8](repeating: 0, count: interests * interestDim)
            var written = 0
            for start in stride(from: 0, to: users, by: 10_000) {
                var rows: [EmbeddingRow] = []
                for i in start..<min(users, start + 10_000) where part.owns(UInt64(i) * step + 1) {
                    var h = fmix64(UInt64(i) &+ 0x9E37_79B9_7F4A_7C15)
                    for j in codes.indices {
                        if j % 8 == 0 { h = fmix64(h &+ UInt64(j)) }
                        codes[j] = Int8(truncatingIfNeeded: h >> (8 * UInt64(j % 8)))
                    }
                    let scales = (0..<interests).map { Float(fmix64(h &+ UInt64($0)) % 1000 + 1) / 65536 }
                    let nEvents = Int(h % 257)
                    rows.append(EmbeddingRow(userID: UInt64(i) * step + 1, codes: codes, scales: scales, nEvents: nEvents,
                                             asOf: nEvents == 0 ? nil : 1_790_000_000 + Int64(i), historyVersion: Int64(nEvents + i % 7),
                                             computedAt: 1_790_000_000, runID: 1))
                }
                written += try s.database.transaction { try s.upsert(rows, into: v) }.written
            }
            try s.updateCoverage(v.version)
            if shard != nil {
                try s.recordBuild(VersionBuild(version: v.version, shard: part.description, runID: 1, candidates: Int64(written), filesRejected: 0,
                                               completedAt: wallClockSeconds()), by: "llatte bench export-store")
            }
            try s.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            print("bench export-store: rows=\(written) shape=\(interests)x\(interestDim) version=\(v.version) seconds=\(fixed(monotonicSeconds() - t0, 2)) store=\(store)")
        } catch let e as ExitCode {
            throw e
        } catch {
            throw exitWith(.failure, "llatte bench export-store: \(error)")
        }
    }
}

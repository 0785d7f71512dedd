import Events
import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress after each day's file, for a terminal display.
public struct SampleProgress: Sendable {
    public var day: Int
    public var days: Int
    public var eventLines: Int
    public var uncompressedBytes: Int
}

/// Generates a deterministic, realistic llatte data set: day-partitioned LZ4 event logs with late,
/// duplicate and bad lines, the item catalog, user features, ground truth and a manifest.
///
/// Layout of `options.outputDirectory` (docs/data-sample.md):
/// ```
/// events/YYYY-MM-DD.jsonl.lz4   one file per day, LZ4 frames of whole lines
/// catalog.db                    item catalog (Store.CatalogWriter), semantic model llatte-sample-sem-v1
/// users.jsonl                   user features
/// truth/users.jsonl             latent interests and activity per user
/// truth/items.jsonl             category, popularity, quality, price, text per item
/// truth/impressions.jsonl.lz4   every impression with its affinity and true probabilities
/// manifest.json                 options, counts, ts range, file checksums
/// ```
/// Days are generated one after another; within a day, chunks of users are simulated in parallel
/// and their output appended in user order, so the bytes do not depend on the thread count.
public struct SampleGenerator {
    public let options: SampleOptions

    public init(options: SampleOptions) { self.options = options }

    /// Names of what the generator writes, relative to the output directory.
    static let catalogFile = "catalog.db"
    static let usersFile = "users.jsonl"
    static let manifestFile = "manifest.json"
    static let truthImpressionsFile = "truth/impressions.jsonl.lz4"
    static let truthUsersFile = "truth/users.jsonl"
    static let truthItemsFile = "truth/items.jsonl"

    /// Writes the data set and returns its manifest (also written to `manifest.json`).
    public func run(progress: ((SampleProgress) -> Void)? = nil) throws(SampleError) -> SampleManifest {
        try options.validate()
        try prepareOutputDirectory()
        let world = SampleWorld(options: options)
        let itemsInCatalog = try writeCatalog(world)

        let tally = UserTally(users: options.users)
        let (counts, seen, eventFiles, truthFile) = try writeEvents(world, tally: tally, progress: progress)

        try writeUserFeatures(world)
        if options.writeTruth {
            try writeTruthUsers(world, tally: tally)
            try writeTruthItems(world)
        }

        var lengths: [Int] = []
        var usersWithConversions = 0
        for u in 0..<options.users {
            if tally.events[u] > 0 { lengths.append(Int(tally.events[u])) }
            if tally.conversions[u] > 0 { usersWithConversions += 1 }
        }
        var itemsSeen = 0, seenMissing = 0
        for i in 0..<world.items.count where seen[i >> 6] & (1 << UInt64(i & 63)) != 0 {
            itemsSeen += 1
            if !world.items.inCatalog[i] { seenMissing += 1 }
        }
        let manifest = SampleManifest(
            options: options, counts: counts, itemsInCatalog: itemsInCatalog, itemsSeen: itemsSeen,
            itemsSeenMissingFromCatalog: seenMissing, usersWithEvents: lengths.count,
            historyLength: SampleManifest.Distribution(lengths), usersWithConversions: usersWithConversions,
            eventFiles: eventFiles, truthImpressions: truthFile)
        try write(SampleGenerator.manifestFile, manifest.json())
        return manifest
    }

    // MARK: - Events

    /// Users per parallel work item: enough work to amortize scheduling, small enough to balance the
    /// heavy-tailed users across cores.
    private var chunkUsers: Int { options.shortHistory ? 2048 : 64 }
    /// Chunks simulated per parallel wave (bounds the memory held by chunk outputs to ~30 MB).
    private static let maxWaveChunks = 192

    /// Simulates all days and writes the event files (and the truth impressions).
    ///
    /// Each wave runs, in one parallel loop, the simulation of a range of user chunks and the LZ4
    /// compression of the frames cut so far; then the coordinator writes the compressed frames and
    /// appends the chunks' output in user order. A day's file is finished in the waves of the next day.
    private func writeEvents(_ world: SampleWorld, tally: UserTally, progress: ((SampleProgress) -> Void)?)
        throws(SampleError) -> (SampleCounts, [UInt64], [WrittenFile], WrittenFile?)
    {
        let dir = options.outputDirectory
        let users = options.users, days = options.days, chunkUsers = chunkUsers
        let chunkCount = (users + chunkUsers - 1) / chunkUsers
        let waveSize = min(chunkCount, SampleGenerator.maxWaveChunks)
        let pool = (0..<waveSize).map { _ in ChunkOutput(items: world.items.count) }
        // carry[d % carry.count]: lines addressed to day d by earlier days (late events, repeats).
        let carry = (0...ChunkOutput.maxDelay).map { _ in ByteBuffer(capacity: 1 << 16) }
        var counts = SampleCounts()
        var seen = [UInt64](repeating: 0, count: (world.items.count + 63) / 64)
        var files: [WrittenFile] = []
        var uncompressed = 0
        let truth = options.writeTruth
            ? try FrameFileWriter(directory: dir, relativePath: SampleGenerator.truthImpressionsFile, frameBytes: options.frameBytes)
            : nil
        // Sealed files of past days whose last frames are still being compressed and written.
        var closing: [FrameFileWriter] = []

        func finishClosed() throws(SampleError) {
            while let w = closing.first, w.isComplete {
                let file = try w.finish()
                files.append(file)
                uncompressed += file.uncompressedBytes
                closing.removeFirst()
                progress?(SampleProgress(day: files.count, days: days, eventLines: counts.eventLines,
                                         uncompressedBytes: uncompressed))
            }
        }

        for day in 0..<days {
            let name = "events/\(CivilDate(unixSeconds: options.startTs + Int64(day) * 86_400)).jsonl.lz4"
            let writer = try FrameFileWriter(directory: dir, relativePath: name, frameBytes: options.frameBytes)
            var firstChunk = 0
            while firstChunk < chunkCount {
                let n = min(waveSize, chunkCount - firstChunk)
                let base = firstChunk
                let writers = closing + [writer] + (truth.map { [$0] } ?? [])
                let frames = writers.flatMap(\.framesToCompress)
                parallelFor(n + frames.count) { task in
                    guard task < n else {
                        frames[task - n].compress()
                        return
                    }
                    let out = pool[task]
                    out.reset()
                    let simulator = UserDaySimulator(world: world, output: out, tally: tally)
                    let chunk = base + task
                    for u in (chunk * chunkUsers)..<min(users, (chunk + 1) * chunkUsers) {
                        simulator.run(user: u, day: day)
                    }
                }
                for w in writers { try w.writeCompressed() }
                try finishClosed()
                for out in pool[0..<n] {
                    writer.append(out.events)
                    truth?.append(out.truth)
                    for (k, b) in out.later.enumerated() where !b.isEmpty {
                        precondition(day + k + 1 < days, "a line addressed past the last day")
                        carry[(day + k + 1) % carry.count].append(b)
                    }
                    counts.add(out.counts)
                    for w in seen.indices { seen[w] |= out.itemsSeen[w] }
                }
                firstChunk += n
            }
            let arrived = carry[day % carry.count]
            writer.append(arrived)
            arrived.removeAll()
            writer.seal()
            closing.append(writer)
        }
        for w in closing { w.seal() }
        let frames = (closing + (truth.map { [$0] } ?? [])).flatMap(\.framesToCompress)
        parallelFor(frames.count) { frames[$0].compress() }
        for w in closing { try w.writeCompressed() }
        try finishClosed()
        let truthFile = try truth?.finish()
        return (counts, seen, files, truthFile)
    }

    // MARK: - Output directory

    /// Creates the directory; refuses a non-empty one unless `overwrite`, in which case the generator's
    /// own files (and only those) are removed first, so no stale day file survives a smaller rerun.
    private func prepareOutputDirectory() throws(SampleError) {
        let dir = options.outputDirectory
        do {
            try Files.makeDirectories(dir)
            let entries = try Files.list(dir)
            if !entries.isEmpty {
                guard options.overwrite else { throw SampleError.outputNotEmpty(dir) }
                for sub in ["events", "truth"] where Files.isDirectory(dir + "/" + sub) {
                    for name in try Files.list(dir + "/" + sub)
                    where name.hasSuffix(".jsonl.lz4") || name.hasSuffix(".jsonl") || name.hasSuffix(".tmp") {
                        try Files.remove(dir + "/" + sub + "/" + name)
                    }
                }
                for name in [SampleGenerator.catalogFile, SampleGenerator.catalogFile + "-wal",
                             SampleGenerator.catalogFile + "-shm", SampleGenerator.catalogFile + "-journal",
                             SampleGenerator.usersFile, SampleGenerator.manifestFile]
                where Files.exists(dir + "/" + name) {
                    try Files.remove(dir + "/" + name)
                }
            }
            try Files.makeDirectories(dir + "/events")
            if options.writeTruth { try Files.makeDirectories(dir + "/truth") }
        } catch let e as SampleError {
            throw e
        } catch let e as FileError {
            throw .io(e.description)
        } catch {
            throw .io("\(error)")
        }
    }

    /// Writes a small file atomically under the output directory.
    func write(_ relativePath: String, _ bytes: [UInt8]) throws(SampleError) {
        do {
            try Files.writeAtomically(options.outputDirectory + "/" + relativePath, bytes)
        } catch {
            throw .io(error.description)
        }
    }
}

import Support

/// What reading one event log produced: counts, the content hash and a checksum of its events.
public struct ReadSummary: Sendable {
    public var path: String
    /// Non-blank lines.
    public var lines = 0
    /// Valid events (before deduplication).
    public var events = 0
    public var rejected = 0
    public var rejectedByReason: [ReasonCode: Int] = [:]
    public var decompressedBytes = 0
    public var compressed = false
    /// sha256 of the decompressed content, when asked for.
    public var digest: Digest32?
    /// Order-independent checksum of the valid events (see `EventChecksum`).
    public var checksum: UInt64 = 0

    /// Rejected lines over non-blank lines.
    public var badFraction: Double { lines == 0 ? 0 : Double(rejected) / Double(lines) }
}

/// The read stage for one file: decompress, split lines, parse and validate into event batches.
///
/// `onBatch` receives the batch each time it holds `batchSize` events and once at the end; the
/// batch is cleared after each call. `onReject` receives every quarantined line in order.
public func readEventLog(
    path: String, parser: EventParser, batch: EventBatch, batchSize: Int = 1 << 20,
    hashContent: Bool, maxLineBytes: Int = 1 << 20,
    onBatch: (EventBatch) throws -> Void, onReject: (Rejection) throws -> Void
) throws -> ReadSummary {
    let reader = LogReader(path: path, maxLineBytes: maxLineBytes, hashContent: hashContent)
    var summary = ReadSummary(path: path)
    var checksum = EventChecksum()
    func flush() throws {
        for e in batch.events { checksum.add(e, batch: batch, parser: parser) }
        try onBatch(batch)
        batch.removeAll()
    }
    try reader.forEachLine({ number, line in
        summary.lines += 1
        if let r = parser.parse(line, lineNumber: number, into: batch) {
            summary.rejected += 1
            summary.rejectedByReason[r.reason, default: 0] += 1
            try onReject(r)
        } else {
            summary.events += 1
            if batch.count >= batchSize { try flush() }
        }
    }, overlong: { number, length in
        summary.lines += 1
        summary.rejected += 1
        summary.rejectedByReason[.notJSONObject, default: 0] += 1
        try onReject(Rejection(line: number, reason: .notJSONObject, field: nil,
                               detail: "line of \(length) bytes exceeds the \(maxLineBytes)-byte limit"))
    })
    try flush()
    summary.decompressedBytes = reader.decompressedBytes
    summary.compressed = reader.isCompressed
    summary.digest = reader.contentDigest()
    summary.checksum = checksum.value
    return summary
}

/// An order-independent checksum of events (a wrapping sum of per-event hashes), so the read stage
/// and the history store can be compared: equal sets of events give equal checksums.
public struct EventChecksum: Sendable {
    public private(set) var value: UInt64 = 0
    public init() {}

    /// Adds one event given its fields; `idHash`, `typeHash`, `surfaceHash` are `EventChecksum.bytesHash`.
    public mutating func add(userID: UInt64, itemID: UInt64, ts: Int64, integerID: UInt64?, idHash: UInt64,
                             typeHash: UInt64, surfaceHash: UInt64, dwellMs: Double, value v: Double) {
        var h = fmix64(userID ^ 0x9E37_79B9_7F4A_7C15)
        h = fmix64(h ^ itemID)
        h = fmix64(h ^ UInt64(bitPattern: ts))
        h = fmix64(h ^ (integerID.map { fmix64($0) } ?? ~idHash))
        h = fmix64(h ^ typeHash)
        h = fmix64(h ^ surfaceHash &* 3)
        h = fmix64(h ^ dwellMs.bitPattern)
        h = fmix64(h ^ v.bitPattern)
        value = value &+ h
    }

    mutating func add(_ e: Event, batch: EventBatch, parser: EventParser) {
        let idHash = e.hasIntegerID ? 0 : batch.withIDBytes(e) { EventChecksum.bytesHash($0) }
        add(userID: e.userID, itemID: e.itemID, ts: e.ts, integerID: e.hasIntegerID ? e.idPayload : nil, idHash: idHash,
            typeHash: parser.types.hashes[Int(e.type)], surfaceHash: parser.surfaces.hashes[Int(e.surface)],
            dwellMs: e.dwellMs, value: e.value)
    }

    /// The hash of a string's bytes used by the checksum.
    public static func bytesHash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 { fmix64(fnv1a(UnsafeRawBufferPointer(b))) }

    public static func bytesHash(_ b: [UInt8]) -> UInt64 { b.withUnsafeBufferPointer { bytesHash($0) } }
}

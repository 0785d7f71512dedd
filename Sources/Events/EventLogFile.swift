import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

/// A read stopped because its caller asked it to (a signal): the file was read up to `line`.
public struct ReadInterrupted: Error, CustomStringConvertible {
    public let path: String
    public let line: Int
    public init(path: String, line: Int) {
        self.path = path
        self.line = line
    }
    public var description: String { "\(path): reading stopped at line \(line)" }
}

/// The read stage for one file: decompress, split lines, parse and validate into event batches.
///
/// `onBatch` receives the batch each time it holds `batchSize` events and once at the end; the
/// batch is cleared after each call. A batch of short histories goes early: from `earlyBatchSize`
/// events on (checked at that size, then each time it doubles), a batch holding fewer than eight
/// events per user is handed over. Splitting such a file costs the history store little (a user
/// gets at most another small chunk from it) and keeps memory from growing with the number of
/// users a file touches. The first check comes at 16 Ki events, below a day file of 50,000
/// short-history users (39,000 events), so files of 50,000 and of 200,000 such users are split
/// alike; a file of long histories (the ingest bench log) still goes in batches of `batchSize`.
/// `onReject` receives every quarantined line in order. `shouldStop` is asked every 16 Ki lines;
/// when it says yes the read throws `ReadInterrupted`.
public func readEventLog(
    path: String, parser: EventParser, batch: EventBatch, batchSize: Int = 1 << 20, earlyBatchSize: Int = 1 << 14,
    hashContent: Bool, maxLineBytes: Int = 1 << 20, shouldStop: () -> Bool = { false },
    onBatch: (EventBatch) throws -> Void, onReject: (Rejection) throws -> Void
) throws -> ReadSummary {
    let reader = LogReader(path: path, maxLineBytes: maxLineBytes, hashContent: hashContent)
    var summary = ReadSummary(path: path)
    var checksum = EventChecksum()
    let firstCheck = max(1, min(batchSize, earlyBatchSize))
    var nextCheck = firstCheck
    var users = DistinctUsers()
    func flush() throws {
        try onBatch(batch)
        batch.removeAll()
        users.reset()
        nextCheck = firstCheck
    }
    func checkpoint() throws {
        if batch.count >= batchSize || users.estimate(batch) * 8 > Double(batch.count) {
            try flush()
        } else {
            nextCheck = min(batchSize, 2 * batch.count)
        }
    }
    func countLine(_ number: Int) throws {
        summary.lines += 1
        if summary.lines & 0x3FFF == 0 && shouldStop() { throw ReadInterrupted(path: path, line: number) }
    }
    func accept() throws {
        summary.events += 1
        checksum.addLast(of: batch, parser: parser)
        if batch.count >= nextCheck { try checkpoint() }
    }
    try reader.forEachLine(fast: { start, available, number in
        // Canonical lines are parsed in place, before their end is searched for.
        let took = parser.parseCanonical(start, available: available, lineNumber: number, into: batch)
        if took > 0 {
            try countLine(number)
            try accept()
        }
        return took
    }, { number, line in
        try countLine(number)
        if let r = parser.parseGeneral(line, lineNumber: number, into: batch) {
            summary.rejected += 1
            summary.rejectedByReason[r.reason, default: 0] += 1
            try onReject(r)
        } else {
            try accept()
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

/// The number of distinct users in a batch, estimated by linear counting over a 2^18-bit bitmap
/// (within a few percent up to about a million users; the bitmap is reused between batches).
/// Each estimate adds only the events appended since the previous one (`reset` when the batch is
/// emptied), so checking a batch at each doubling of its size reads each event once.
struct DistinctUsers {
    private static let bits = 1 << 18
    private var words = [UInt64](repeating: 0, count: DistinctUsers.bits / 64)
    /// Events of the batch already in the bitmap.
    private var counted = 0

    mutating func reset() {
        for i in words.indices { words[i] = 0 }
        counted = 0
    }

    mutating func estimate(_ batch: EventBatch) -> Double {
        let events = batch.events
        precondition(counted <= events.count, "the batch shrank without a reset")
        words.withUnsafeMutableBufferPointer { w in
            for e in events[counted...] {
                let h = Int(truncatingIfNeeded: fmix64(e.userID) >> 46)   // 18 bits
                w[h >> 6] |= 1 << UInt64(h & 63)
            }
        }
        counted = events.count
        let set = words.reduce(0) { $0 + $1.nonzeroBitCount }
        let zeros = DistinctUsers.bits - set
        if zeros == 0 { return .infinity }
        let m = Double(DistinctUsers.bits)
        return -m * log(Double(zeros) / m)
    }
}

/// An order-independent checksum of events (a wrapping sum of per-event hashes), so the read stage
/// and the history store can be compared: equal sets of events give equal checksums.
public struct EventChecksum: Sendable {
    public private(set) var value: UInt64 = 0
    public init() {}

    /// Adds one event given its fields; `idHash`, `typeHash`, `surfaceHash` are `EventChecksum.bytesHash`.
    public mutating func add(userID: UInt64, itemID: UInt64, ts: Int64, integerID: UInt64?, idHash: UInt64,
                             typeHash: UInt64, surfaceHash: UInt64, dwellMs: Double, value v: Double) {
        // Every step is a bijection in each field given the others (a multiply by an odd constant,
        // an xor, an add, fmix64), so any single-field change alters the event's hash. Three
        // multiplies fold the fields, two fmix64 mix them: the multiplier is shared with the parser.
        let id = integerID ?? ~idHash
        let a = (userID &* 0xA076_1D64_78BD_642F) ^ itemID
        let b = (UInt64(bitPattern: ts) &* 0x1D8E_4E27_C47D_124F) ^ id
        let c = (typeHash ^ ((surfaceHash << 23) | (surfaceHash >> 41)) ^ (dwellMs.bitPattern &* 0xBF58_476D_1CE4_E5B9))
            ^ v.bitPattern.byteSwapped
        value = value &+ fmix64((fmix64(a) &+ (b &* 0x8EBC_6AF0_9C88_C6E3)) ^ (c &* 0xE703_7ED1_A0B4_28DB))
    }

    /// Adds every event of `batch` (strings hashed through the parser's vocabularies).
    public mutating func add(_ batch: EventBatch, parser: EventParser) {
        for e in batch.events { add(e, of: batch, parser: parser) }
    }

    /// Adds the event just appended to `batch`, while it is still in cache.
    @inline(__always)
    public mutating func addLast(of batch: EventBatch, parser: EventParser) { add(batch.last, of: batch, parser: parser) }

    @inline(__always)
    private mutating func add(_ e: Event, of batch: EventBatch, parser: EventParser) {
        let idHash = e.hasIntegerID ? 0 : batch.withIDBytes(e) { EventChecksum.bytesHash($0) }
        add(userID: e.userID, itemID: e.itemID, ts: e.ts, integerID: e.hasIntegerID ? e.idPayload : nil, idHash: idHash,
            typeHash: parser.types.hash(e.type), surfaceHash: parser.surfaces.hash(e.surface), dwellMs: e.dwellMs, value: e.value)
    }

    /// The hash of a string's bytes used by the checksum.
    public static func bytesHash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 { fmix64(fnv1a(UnsafeRawBufferPointer(b))) }

    public static func bytesHash(_ b: [UInt8]) -> UInt64 { b.withUnsafeBufferPointer { bytesHash($0) } }
}

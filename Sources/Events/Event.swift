import Support
#if canImport(Glibc)
import Glibc
#endif

/// One validated event: ids exact, strings as vocabulary ids of the batch, metadata as parsed f64.
public struct Event: Sendable, Equatable {
    public var userID: UInt64
    public var itemID: UInt64
    public var ts: Int64
    /// Integer event id, or for a string id its offset in the batch's id arena.
    public var idPayload: UInt64
    /// Length of a string event id in bytes; `Event.integerID` for an integer id.
    public var idLength: UInt32
    /// Index into the reader's type vocabulary.
    public var type: UInt32
    /// Index into the reader's surface vocabulary.
    public var surface: UInt32
    public var dwellMs: Double
    public var value: Double
    /// Physical line in the source file (1-based).
    public var line: Int

    /// Marker in `idLength` for an integer event id.
    public static let integerID: UInt32 = .max

    public var hasIntegerID: Bool { idLength == Event.integerID }
}

/// An event id as its identity: `42` and `"42"` differ; strings compare as raw bytes.
public enum EventID: Hashable, Sendable, Comparable, CustomStringConvertible {
    case integer(UInt64)
    case string([UInt8])

    /// Section 4's tie order: integer ids before string ids, integers by value, strings by bytes.
    public static func < (a: EventID, b: EventID) -> Bool {
        switch (a, b) {
        case let (.integer(x), .integer(y)): return x < y
        case (.integer, .string): return true
        case (.string, .integer): return false
        case let (.string(x), .string(y)): return x.lexicographicallyPrecedes(y)
        }
    }

    public var description: String {
        switch self {
        case let .integer(v): return String(v)
        case let .string(b): return "\"" + String(decoding: b, as: UTF8.self) + "\""
        }
    }
}

/// A growing set of events from one file, with the bytes of their string ids.
public final class EventBatch {
    /// The events, `storage[0..<count]`, grown by doubling. A plain buffer rather than an array:
    /// appending to an array held by a class checks, through the runtime, that the array is not
    /// shared, on every event the read stage produces.
    private var storage: UnsafeMutablePointer<Event>
    private var capacity: Int
    /// Events in the batch.
    public private(set) var count = 0
    /// Bytes of string event ids, addressed by `Event.idPayload`.
    public private(set) var idBytes: [UInt8] = []

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 16)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// The events in order, as the batch stands when read (a view, not a copy).
    public var events: Events { Events(batch: self) }

    /// The events of a batch, by index.
    public struct Events: RandomAccessCollection {
        let batch: EventBatch
        public var startIndex: Int { 0 }
        public var endIndex: Int { batch.count }
        public subscript(i: Int) -> Event {
            precondition(i >= 0 && i < batch.count, "event index out of range")
            return batch.storage[i]
        }
    }

    public func removeAll() {
        count = 0
        idBytes.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    func append(_ e: Event) {
        if count == capacity { grow() }
        (storage + count).initialize(to: e)
        count &+= 1
    }

    @inline(never)
    private func grow() {
        let bigger = UnsafeMutablePointer<Event>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: storage, count: count)
        storage.deallocate()
        storage = bigger
        capacity *= 2
    }

    /// The event appended last; the batch must not be empty.
    @inline(__always)
    public var last: Event {
        precondition(count > 0, "no event in the batch")
        return storage[count &- 1]
    }

    /// Appends an event copied from another batch, with its string id bytes.
    public func append(_ e: Event, from other: EventBatch) {
        var c = e
        if !e.hasIntegerID { c.idPayload = other.withIDBytes(e) { appendID($0) } }
        append(c)
    }

    /// Stores string id bytes; returns their offset.
    @inline(__always)
    func appendID(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let off = idBytes.count
        idBytes.append(contentsOf: b)
        return UInt64(off)
    }

    /// The identity of an event of this batch.
    public func eventID(_ e: Event) -> EventID {
        e.hasIntegerID ? .integer(e.idPayload) : .string(withIDBytes(e) { Array($0) })
    }

    /// Calls `body` with the raw bytes of a string id (empty for integer ids).
    @inline(__always)
    public func withIDBytes<R>(_ e: Event, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if e.hasIntegerID { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        return idBytes.withUnsafeBufferPointer { p in
            body(UnsafeBufferPointer(rebasing: p[Int(e.idPayload)..<Int(e.idPayload) + Int(e.idLength)]))
        }
    }
}

/// Interns short byte strings (event types, surfaces) to dense ids; lookups compare raw bytes.
public final class ByteInterner {
    /// Bytes of every entry, back to back; entry k is `storage[offsets[k]..<offsets[k + 1]]`.
    private var storage: [UInt8] = []
    private var offsets: [Int] = [0]
    /// Per entry, a hash of its bytes (`EventChecksum.bytesHash`), for checksums.
    public private(set) var hashes: [UInt64] = []
    /// Per entry, its first 16 bytes as two words (zero-padded).
    private var shortWords: [UInt64] = []
    /// The entries' ids by open addressing (-1: empty). Strings of up to 16 bytes are hashed and
    /// compared as their two words (no byte hashing or memcmp), longer ones by FNV-1a and memcmp.
    private var slots = [Int32](repeating: -1, count: 64)
    private var mask = 63
    /// Plain strings seen by `internPlain`, direct-mapped by their first six bytes as they stand in
    /// the text: entry k is `plain[5k..<5k + 5]` = the string and its closing quote as two words, the
    /// masks of those bytes, and (count + 1) << 32 | id (0 when empty). With it the canonical path
    /// finds where a type or surface ends, and its id, in one probe.
    private let plain: UnsafeMutablePointer<UInt64>
    private static let plainBits = 8

    public init() {
        plain = .allocate(capacity: 5 << ByteInterner.plainBits)
        plain.initialize(repeating: 0, count: 5 << ByteInterner.plainBits)
    }

    deinit { plain.deallocate() }

    @inline(__always)
    private func plainEntry(_ firstWord: UInt64) -> UnsafeMutablePointer<UInt64> {
        plain + 5 &* Int(truncatingIfNeeded: ((firstWord & 0xFFFF_FFFF_FFFF) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - ByteInterner.plainBits))
    }

    /// The id and length of the string at `p` (16 bytes readable), ended by the first `"`, when it is
    /// a plain string `internPlain` has seen; nil otherwise. Reads only, adds nothing.
    @inline(__always)
    public func knownPlain(_ p: UnsafePointer<UInt8>) -> (id: UInt32, count: Int)? {
        let (a, b) = TwoWords.load(p)
        let e = plainEntry(a)
        guard a & e[2] == e[0], b & e[3] == e[1], e[4] != 0 else { return nil }
        return (UInt32(truncatingIfNeeded: e[4]), Int(truncatingIfNeeded: e[4] >> 32) &- 1)
    }

    /// The end of the plain string whose contents start at `p[start]` (`n` bytes readable from `p`)
    /// and, when it is one `knownPlain` finds, its id; nil if the string is not plain (an escape, a
    /// control or non-ASCII byte, no closing quote). A string without an id gets it from
    /// `internPlain` once its line is accepted, so a refused line adds nothing.
    @inline(__always)
    func plainString(_ p: UnsafePointer<UInt8>, _ start: Int, _ n: Int) -> (end: Int, id: UInt32?)? {
        if start &+ 16 <= n, let (id, count) = knownPlain(p + start) { return (start &+ count, id) }
        let end = JSONScanner.nextSpecial(p, start, n)
        return end < n && p[end] == 0x22 ? (end, nil) : nil
    }

    /// `intern` for a plain string (printable ASCII, no escapes) of `count` bytes at `p` followed by
    /// its closing quote, `readable` bytes from `p`; one shorter than 16 bytes, with 16 readable, is
    /// remembered for `knownPlain`.
    @inline(__always)
    public func internPlain(_ p: UnsafePointer<UInt8>, count: Int, readable: Int) -> UInt32 {
        let id = intern(p, count: count, readable: readable)
        if count < 16 && readable >= 16 {
            let (a, b) = TwoWords.load(p)
            // The string and its quote: count + 1 bytes, at most 16.
            let (m0, m1) = TwoWords.masks(count &+ 1)
            let e = plainEntry(a)
            (e[0], e[1], e[2], e[3], e[4]) = (a & m0, b & m1, m0, m1, UInt64(count &+ 1) << 32 | UInt64(id))
        }
        return id
    }

    public var count: Int { hashes.count }

    /// The checksum hash of entry `id`'s bytes (`hashes[id]`).
    @inline(__always)
    public func hash(_ id: UInt32) -> UInt64 { hashes[Int(id)] }

    /// The bytes of entry `id`.
    public func bytes(_ id: UInt32) -> [UInt8] { Array(storage[offsets[Int(id)]..<offsets[Int(id) + 1]]) }

    /// Every entry's bytes, by id.
    public var entries: [[UInt8]] { (0..<count).map { bytes(UInt32($0)) } }

    /// The id of `b`, adding it if new.
    @inline(__always)
    public func intern(_ b: UnsafeBufferPointer<UInt8>) -> UInt32 {
        intern(b.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: b.count, readable: b.count)
    }

    /// The id of the `count` bytes at `p`, adding them if new; `readable` bytes from `p` may be read,
    /// which lets strings of up to 16 bytes be loaded and compared as two words.
    @inline(__always)
    public func intern(_ p: UnsafePointer<UInt8>, count: Int, readable: Int) -> UInt32 {
        let b = UnsafeBufferPointer(start: p, count: count)
        guard count <= 16 else { return internLong(b) }
        // The string's bytes as two zero-padded words.
        let (w0, w1): (UInt64, UInt64)
        if readable >= 16 {
            let (a, c) = TwoWords.load(p), (m0, m1) = TwoWords.masks(count)
            (w0, w1) = (a & m0, c & m1)
        } else {
            (w0, w1) = TwoWords.of(b)
        }
        var i = slot(ByteInterner.wordHash(w0, w1, count))
        while true {
            let s = Int(slots[i])
            if s < 0 { break }
            if shortWords[2 * s] == w0 && shortWords[2 * s + 1] == w1 && length(s) == count { return UInt32(s) }
            i = (i + 1) & mask
        }
        return add(b, at: i)
    }

    /// `intern` for a string longer than 16 bytes.
    private func internLong(_ b: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var i = slot(fnv1a(UnsafeRawBufferPointer(b)))
        while true {
            let s = Int(slots[i])
            if s < 0 { break }
            if length(s) == b.count && storage.withUnsafeBufferPointer({ memcmp($0.baseAddress! + offsets[s], b.baseAddress!, b.count) == 0 }) {
                return UInt32(s)
            }
            i = (i + 1) & mask
        }
        return add(b, at: i)
    }

    /// Adds `b` as a new entry at the empty slot `i`; the table grows past half full.
    private func add(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> UInt32 {
        let id = hashes.count
        storage.append(contentsOf: b)
        offsets.append(storage.count)
        hashes.append(EventChecksum.bytesHash(b))
        let (w0, w1) = TwoWords.of(b.prefix(16))
        shortWords.append(w0)
        shortWords.append(w1)
        slots[i] = Int32(id)
        if hashes.count * 2 > slots.count { grow() }
        return UInt32(id)
    }

    private func length(_ id: Int) -> Int { offsets[id + 1] - offsets[id] }

    private func slot(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: hash) & mask }

    private static func wordHash(_ w0: UInt64, _ w1: UInt64, _ count: Int) -> UInt64 {
        let h = (w0 &* 0x9E37_79B9_7F4A_7C15) ^ (w1 &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(count)
        return h ^ (h >> 31)
    }

    private func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        mask = slots.count - 1
        for id in 0..<hashes.count {
            let n = length(id)
            let h = n <= 16 ? ByteInterner.wordHash(shortWords[2 * id], shortWords[2 * id + 1], n)
                : storage.withUnsafeBytes { fnv1a(UnsafeRawBufferPointer(rebasing: $0[offsets[id]..<offsets[id + 1]])) }
            var i = slot(h)
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(id)
        }
    }
}

/// Byte strings of up to 16 bytes as two little-endian words, compared without a loop or memcmp.
enum TwoWords {
    /// The 16 bytes at `p`.
    @inline(__always)
    static func load(_ p: UnsafePointer<UInt8>) -> (UInt64, UInt64) {
        let raw = UnsafeRawPointer(p)
        return (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// The masks of the first `count` (0...16) bytes; a shift by 64 gives 0, so they need no branch.
    @inline(__always)
    static func masks(_ count: Int) -> (UInt64, UInt64) {
        ((1 << UInt64(8 &* min(count, 8))) &- 1, (1 << UInt64(8 &* max(count &- 8, 0))) &- 1)
    }

    /// The bytes of `b` (at most 16), zero-padded.
    @inline(__always)
    static func of(_ b: some Collection<UInt8>) -> (UInt64, UInt64) {
        var w: (UInt64, UInt64) = (0, 0)
        for (k, c) in b.enumerated() {
            if k < 8 { w.0 |= UInt64(c) << (8 * UInt64(k)) } else { w.1 |= UInt64(c) << (8 * UInt64(k - 8)) }
        }
        return w
    }
}

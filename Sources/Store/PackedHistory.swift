import Events
import Support

/// One event as the history store keeps it: type and surface as ids of the store's dictionary.
public struct StoredEvent: Sendable, Equatable {
    public var ts: Int64
    public var itemID: UInt64
    public var eventID: EventID
    public var type: UInt32
    public var surface: UInt32
    public var dwellMs: Double
    public var value: Double

    public init(ts: Int64, itemID: UInt64, eventID: EventID, type: UInt32, surface: UInt32, dwellMs: Double, value: Double) {
        self.ts = ts
        self.itemID = itemID
        self.eventID = eventID
        self.type = type
        self.surface = surface
        self.dwellMs = dwellMs
        self.value = value
    }

    /// Section 4's history order: by ts, ties by event id (integers before strings).
    @inlinable
    public static func precedes(_ a: StoredEvent, _ b: StoredEvent) -> Bool {
        a.ts != b.ts ? a.ts < b.ts : a.eventID < b.eventID
    }
}

extension Array where Element == StoredEvent {
    /// Puts the events in history order. Batches usually arrive nearly in order, so an in-order check
    /// comes first; otherwise indices are sorted (cheap to move) and the events permuted once.
    public mutating func sortInHistoryOrder() {
        var ordered = true
        for k in 1..<Swift.max(count, 1) where StoredEvent.precedes(self[k], self[k - 1]) {
            ordered = false
            break
        }
        if ordered { return }
        let order = indices.sorted { a, b in
            StoredEvent.precedes(self[a], self[b]) || (!StoredEvent.precedes(self[b], self[a]) && a < b)
        }
        self = order.map { self[$0] }
    }
}

/// Why a stored blob could not be decoded: the store is damaged or from a newer llatte.
public struct PackedFormatError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// The compact packed record format of history chunks and evicted-id lists (version 1).
///
/// A blob is `[version u8][flags u8][count varint][payload length varint][payload]`, where flags bit 0
/// says the payload is an LZ4 block (payloads under 256 bytes are stored raw: LZ4's fixed setup cost
/// would dominate them). An event in
/// the payload: zigzag varint of ts − previous ts, varint item id, varint type id, varint surface
/// id, a flags byte (1: string id, 2: dwell_ms present, 4: value present), the id (varint, or varint
/// length + bytes), then the f64 bit patterns of dwell_ms and value when present (a field equal to
/// +0.0 is omitted; every other value, −0.0 included, is kept bit for bit).
public enum PackedHistory {
    public static let version: UInt8 = 1

    /// Packs events (already in history order) into one blob.
    public static func pack(_ events: [StoredEvent]) -> [UInt8] {
        var w = ByteWriter()
        w.out.reserveCapacity(events.count * 48)
        var prev: Int64 = 0
        for e in events {
            w.zigzag(e.ts &- prev)
            prev = e.ts
            w.varint(e.itemID)
            w.varint(UInt64(e.type))
            w.varint(UInt64(e.surface))
            var flags: UInt8 = 0
            if case .string = e.eventID { flags |= 1 }
            if e.dwellMs.bitPattern != 0 { flags |= 2 }
            if e.value.bitPattern != 0 { flags |= 4 }
            w.byte(flags)
            switch e.eventID {
            case let .integer(v): w.varint(v)
            case let .string(b): w.varint(UInt64(b.count)); w.bytes(b)
            }
            if flags & 2 != 0 { w.u64(e.dwellMs.bitPattern) }
            if flags & 4 != 0 { w.u64(e.value.bitPattern) }
        }
        return frame(count: events.count, payload: w.out, idList: false)
    }

    /// Packs a list of event ids (evicted ids).
    public static func packIDs(_ ids: [EventID]) -> [UInt8] {
        var w = ByteWriter()
        for id in ids {
            switch id {
            case let .integer(v): w.byte(0); w.varint(v)
            case let .string(b): w.byte(1); w.varint(UInt64(b.count)); w.bytes(b)
            }
        }
        return frame(count: ids.count, payload: w.out, idList: true)
    }

    static let rawBelow = 256

    /// Header flag bits.
    static let lz4Flag: UInt8 = 1, idListFlag: UInt8 = 2

    private static func frame(count: Int, payload: [UInt8], idList: Bool) -> [UInt8] {
        var h = ByteWriter()
        h.byte(version)
        let compress = payload.count >= rawBelow
        h.byte((compress ? lz4Flag : 0) | (idList ? idListFlag : 0))
        h.varint(UInt64(count))
        h.varint(UInt64(payload.count))
        if compress {
            h.bytes(payload.withUnsafeBytes { LZ4Block.compress($0) })
        } else {
            h.bytes(payload)
        }
        return h.out
    }

    private static func unframe(_ blob: UnsafeRawBufferPointer) throws(PackedFormatError) -> (count: Int, payload: [UInt8], idList: Bool) {
        var r = ByteReader(blob)
        let v = try r.byte()
        guard v == version else { throw PackedFormatError(message: "history record version \(v), this llatte reads \(version)") }
        let flags = try r.byte()
        guard flags & ~(lz4Flag | idListFlag) == 0 else { throw PackedFormatError(message: "history record has unknown flags \(flags)") }
        let count = try r.varint()
        let length = try r.varint()
        // A record can never expand beyond ~255× under LZ4; refuse absurd lengths before allocating.
        guard length <= UInt64(max(blob.count, 64)) * 256, count <= length else {
            throw PackedFormatError(message: "history record header is inconsistent (count \(count), length \(length))")
        }
        let rest = UnsafeRawBufferPointer(rebasing: blob[r.offset...])
        let idList = flags & idListFlag != 0
        if flags & lz4Flag == 0 {
            guard rest.count == Int(length) else { throw PackedFormatError(message: "history record length mismatch") }
            return (Int(count), Array(rest), idList)
        }
        guard let payload = LZ4Block.decompress(rest, originalCount: Int(length)) else {
            throw PackedFormatError(message: "history record payload is corrupt")
        }
        return (Int(count), payload, idList)
    }

    /// Decodes a blob made by `pack`.
    public static func unpack(_ blob: UnsafeRawBufferPointer) throws(PackedFormatError) -> [StoredEvent] {
        let (count, payload, idList) = try unframe(blob)
        guard !idList else { throw PackedFormatError(message: "expected a history chunk, found an id list") }
        var out: [StoredEvent] = []
        out.reserveCapacity(count)
        let result = payload.withUnsafeBytes { p in Result { () throws(PackedFormatError) in
            var r = ByteReader(p)
            var ts: Int64 = 0
            for _ in 0..<count {
                ts = ts &+ (try r.zigzag())
                let item = try r.varint()
                let type = try r.varint()
                let surface = try r.varint()
                let flags = try r.byte()
                let id: EventID
                if flags & 1 != 0 {
                    let n = try r.varint()
                    id = .string(try r.bytes(Int(clamping: n)))
                } else {
                    id = .integer(try r.varint())
                }
                let dwell = flags & 2 != 0 ? Double(bitPattern: try r.u64()) : 0
                let value = flags & 4 != 0 ? Double(bitPattern: try r.u64()) : 0
                guard type <= UInt32.max, surface <= UInt32.max else { throw PackedFormatError(message: "dictionary id out of range") }
                out.append(StoredEvent(ts: ts, itemID: item, eventID: id, type: UInt32(type), surface: UInt32(surface), dwellMs: dwell, value: value))
            }
            guard r.offset == p.count else { throw PackedFormatError(message: "history record has trailing bytes") }
        } }
        try result.get()
        return out
    }

    /// A 64-bit hash of an event id, for cheap membership tests before an exact comparison.
    public static func idHash(_ id: EventID) -> UInt64 {
        switch id {
        case let .integer(v): return fmix64(v)
        case let .string(b): return b.withUnsafeBytes { idHash(bytes: $0) }
        }
    }

    @inline(__always)
    static func idHash(bytes: UnsafeRawBufferPointer) -> UInt64 { ~fmix64(fnv1a(bytes)) }

    /// Calls `body(hash, materialize)` for every event id in a blob made by `pack` or `packIDs`,
    /// decoding ids in place; `materialize()` builds the `EventID` only when the caller needs it.
    public static func forEachID(_ blob: [UInt8], path: String, user: UInt64,
                                 _ body: (UInt64, () -> EventID?) -> Void) throws(StoreError) {
        let framed = blob.withUnsafeBytes { b in Result { () throws(PackedFormatError) in try unframe(b) } }
        let result: Result<Void, PackedFormatError>
        switch framed {
        case let .failure(e): result = .failure(e)
        case let .success((count, payload, idList)):
            result = payload.withUnsafeBytes { p in
                Result { () throws(PackedFormatError) in try scanIDs(p, count: count, idList: idList, body) }
            }
        }
        if case let .failure(e) = result { throw StoreError(path: path, message: "user \(user): \(e)") }
    }

    private static func scanIDs(_ p: UnsafeRawBufferPointer, count: Int, idList: Bool,
                                _ body: (UInt64, () -> EventID?) -> Void) throws(PackedFormatError) {
        var r = ByteReader(p)
        for _ in 0..<count {
            var flags: UInt8 = 0
            let isString: Bool
            if idList {
                isString = try r.byte() != 0
            } else {
                _ = try r.varint(); _ = try r.varint(); _ = try r.varint(); _ = try r.varint()
                flags = try r.byte()
                isString = flags & 1 != 0
            }
            if isString {
                let bytes = try r.span(Int(clamping: try r.varint()))
                body(idHash(bytes: bytes)) { .string(Array(bytes)) }
            } else {
                let v = try r.varint()
                body(fmix64(v)) { .integer(v) }
            }
            if flags & 2 != 0 { _ = try r.u64() }
            if flags & 4 != 0 { _ = try r.u64() }
        }
    }

    /// Decodes an array made by `packIDs`.
    public static func unpackIDs(_ blob: [UInt8]) throws(PackedFormatError) -> [EventID] {
        try blob.withUnsafeBytes { b in Result { () throws(PackedFormatError) in try unpackIDs(b) } }.get()
    }

    /// Decodes an array made by `pack`.
    public static func unpack(_ blob: [UInt8]) throws(PackedFormatError) -> [StoredEvent] {
        try blob.withUnsafeBytes { b in Result { () throws(PackedFormatError) in try unpack(b) } }.get()
    }

    /// Decodes a blob made by `packIDs`.
    public static func unpackIDs(_ blob: UnsafeRawBufferPointer) throws(PackedFormatError) -> [EventID] {
        let (count, payload, idList) = try unframe(blob)
        guard idList else { throw PackedFormatError(message: "expected an id list, found a history chunk") }
        var out: [EventID] = []
        out.reserveCapacity(count)
        let result = payload.withUnsafeBytes { p in Result { () throws(PackedFormatError) in
            var r = ByteReader(p)
            for _ in 0..<count {
                let kind = try r.byte()
                if kind == 0 { out.append(.integer(try r.varint())) } else {
                    let n = try r.varint()
                    out.append(.string(try r.bytes(Int(clamping: n))))
                }
            }
            guard r.offset == p.count else { throw PackedFormatError(message: "id list has trailing bytes") }
        } }
        try result.get()
        return out
    }
}

/// Appends little-endian integers and LEB128 varints.
struct ByteWriter {
    var out: [UInt8] = []
    mutating func byte(_ b: UInt8) { out.append(b) }
    mutating func bytes(_ b: [UInt8]) { out.append(contentsOf: b) }
    mutating func varint(_ v: UInt64) {
        var x = v
        while x >= 0x80 { out.append(UInt8(x & 0x7F) | 0x80); x >>= 7 }
        out.append(UInt8(x))
    }
    mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    mutating func u64(_ v: UInt64) { for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) } }
}

/// Reads what `ByteWriter` wrote, checking every length against the buffer.
struct ByteReader {
    let p: UnsafeRawBufferPointer
    var offset = 0
    init(_ p: UnsafeRawBufferPointer) { self.p = p }

    mutating func byte() throws(PackedFormatError) -> UInt8 {
        guard offset < p.count else { throw PackedFormatError(message: "history record truncated") }
        defer { offset += 1 }
        return p[offset]
    }
    mutating func varint() throws(PackedFormatError) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw PackedFormatError(message: "varint too long") }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }
    mutating func zigzag() throws(PackedFormatError) -> Int64 {
        let u = try varint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }
    mutating func u64() throws(PackedFormatError) -> UInt64 {
        guard offset + 8 <= p.count else { throw PackedFormatError(message: "history record truncated") }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(p[offset + k]) << (8 * UInt64(k)) }
        offset += 8
        return v
    }
    /// The next `n` bytes in place.
    mutating func span(_ n: Int) throws(PackedFormatError) -> UnsafeRawBufferPointer {
        guard n >= 0, offset + n <= p.count else { throw PackedFormatError(message: "history record truncated") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: p[offset..<offset + n])
    }

    mutating func bytes(_ n: Int) throws(PackedFormatError) -> [UInt8] {
        guard n >= 0, offset + n <= p.count else { throw PackedFormatError(message: "history record truncated") }
        defer { offset += n }
        return Array(p[offset..<offset + n])
    }
}

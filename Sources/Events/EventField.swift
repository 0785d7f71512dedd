/// The fields of an event record, in the canonical order (docs/data.md): the one description the
/// parser works from. Each field has its key, the JSON kind it accepts (with its validation), and
/// whether it is required; `EventParser.emit` says where each value goes in the `Event`.
///
/// Adding a field: a case here (its key, kind and, for `metadata`, optionality follow from the
/// kind), its slot in `Event` and in `EventParser.emit`, and its bytes in the history store's
/// packing. Both parse paths read the table; neither names a field except to pick an interner.
enum EventField: Int, CaseIterable {
    case eventID, ts, userID, itemID, type, surface, dwellMs, value

    /// What a field accepts.
    enum Kind {
        /// A non-negative 64-bit integer, or any string (`42` and `"42"` differ).
        case eventID
        /// A signed 64-bit integer.
        case signed
        /// An unsigned 64-bit integer.
        case unsigned
        /// A string, interned.
        case string
        /// Optional: a finite number ≥ 0, kept as f64; absent or `null` is 0.
        case metadata
    }

    /// The field's key and kind.
    private var spec: (key: String, kind: Kind) {
        switch self {
        case .eventID: return ("event_id", .eventID)
        case .ts: return ("ts", .signed)
        case .userID: return ("user_id", .unsigned)
        case .itemID: return ("item_id", .unsigned)
        case .type: return ("type", .string)
        case .surface: return ("surface", .string)
        case .dwellMs: return ("dwell_ms", .metadata)
        case .value: return ("value", .metadata)
        }
    }

    var key: String { spec.key }
    var kind: Kind { spec.kind }

    var isRequired: Bool { kind != .metadata }

    /// Why a value of another JSON type (or, for an integer kind, a number with a fraction) is refused.
    var wrongTypeDetail: String {
        switch kind {
        case .eventID: return "\(key) must be an integer or a string"
        case .signed, .unsigned: return "\(key) must be an integer"
        case .string: return "\(key) must be a string"
        case .metadata: return "\(key) must be a number or null"
        }
    }

    /// The bit of each required field, for a "seen" mask.
    static let requiredMask: Int = allCases.reduce(0) { $1.isRequired ? $0 | 1 << $1.rawValue : $0 }
}

/// A key as it stands in the text, for matching with masked word compares: `bytes` are the key's
/// spelling (with whatever precedes and follows it) as two little-endian words, zero-padded, and
/// `mask` covers them; at most 16 bytes.
struct KeyWords {
    let w0, w1, m0, m1: UInt64
    let count: Int

    init(_ s: [UInt8]) {
        precondition(s.count <= 16, "a key spelling longer than 16 bytes")
        count = s.count
        (w0, w1) = TwoWords.of(s)
        (m0, m1) = TwoWords.masks(count)
    }

    /// Whether the `readable` bytes at `p` start with this spelling: two masked word compares when
    /// 16 bytes may be read, the bytes themselves near the end of the text.
    @inline(__always)
    func matches(_ p: UnsafePointer<UInt8>, readable: Int) -> Bool {
        if readable >= 16 {
            let (a, b) = TwoWords.load(p)
            return a & m0 == w0 && b & m1 == w1
        }
        return readable >= count && TwoWords.of(UnsafeBufferPointer(start: p, count: count)) == (w0, w1)
    }
}

/// The table's keys in the two spellings the parser matches: `key"` (after an opening quote, for
/// the general parser) and `{"key":` / `,"key":` (the canonical line's separators and keys).
struct EventKeys {
    /// Per field, its key followed by the closing quote.
    let quoted: [KeyWords]
    /// Per field, `,"key":` (or `{"key":` for the first field), as the canonical line spells it.
    let canonical: [KeyWords]

    init() {
        quoted = EventField.allCases.map { KeyWords(Array($0.key.utf8) + [0x22]) }
        canonical = EventField.allCases.map { KeyWords(Array(($0.rawValue == 0 ? "{\"" : ",\"").utf8) + Array($0.key.utf8) + [0x22, 0x3A]) }
    }

    /// The field whose key, with its closing quote, starts the 16 readable bytes at `p` (after the
    /// key's opening quote); nil for any other key.
    @inline(__always)
    func field(at p: UnsafePointer<UInt8>) -> EventField? {
        let (a, b) = TwoWords.load(p)
        return quoted.firstIndex { a & $0.m0 == $0.w0 && b & $0.m1 == $0.w1 }.flatMap(EventField.init(rawValue:))
    }

    /// The field whose key is exactly the decoded bytes `b`; nil for any other key. The bytes are
    /// copied into a padded buffer with a closing quote after them, and `field(at:)` decides, on
    /// keys of `b`'s length only (a decoded key may hold a quote: `ts"x` is not `ts`).
    func field(exactly b: UnsafeBufferPointer<UInt8>) -> EventField? {
        guard b.count < 16 else { return nil }
        var padded: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let f = withUnsafeMutableBytes(of: &padded) { raw -> EventField? in
            raw.copyMemory(from: UnsafeRawBufferPointer(b))
            raw[b.count] = 0x22
            return field(at: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return f.flatMap { quoted[$0.rawValue].count == b.count + 1 ? $0 : nil }
    }
}

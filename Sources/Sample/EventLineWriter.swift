/// Spells events as JSON Lines into a `ByteBuffer`, optionally with the benchmark's noise.
///
/// Canonical form: `{"event_id":…,"ts":…,"user_id":…,"item_id":…,"type":"…","surface":"…"[,"dwell_ms":…][,"value":…]}`.
/// Noise never changes what a reader decodes, only how it is spelled:
/// - escape: some characters of keys and string values become `\u00XX`, and an unknown field `q` carries
///   text with `\u00e9`, `\/`, `\"`, `\\`, `\t`, surrogate pairs and raw multi-byte UTF-8;
/// - shuffle: the members come in a random order;
/// - nested unknown: an unknown field `ctx` holds nested objects and arrays.
/// Noise decisions come from their own random stream, so the events themselves do not depend on them.
struct EventLineWriter {
    let escapeRate: Double
    let shuffleKeysRate: Double
    let nestedUnknownRate: Double

    var hasNoise: Bool { escapeRate > 0 || shuffleKeysRate > 0 || nestedUnknownRate > 0 }

    init(options: SampleOptions) {
        escapeRate = options.escapeRate
        shuffleKeysRate = options.shuffleKeysRate
        nestedUnknownRate = options.nestedUnknownRate
    }

    /// Members of a line, in canonical order; `ctx` and `q` are the noise fields.
    private enum Member: UInt8 {
        case eventID, ts, userID, itemID, type, surface, dwell, value, ctx, q
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    private static let hexUpper: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Appends one line (with its `\n`).
    func write(_ e: EventRecord, to out: ByteBuffer, noise: inout SampleRandom) {
        guard hasNoise else {
            writeCanonical(e, to: out)
            return
        }
        let escape = noise.chance(escapeRate)
        let shuffle = noise.chance(shuffleKeysRate)
        let nested = noise.chance(nestedUnknownRate)
        if !escape && !shuffle && !nested {
            writeCanonical(e, to: out)
            return
        }
        var members: [Member] = [.eventID, .ts, .userID, .itemID, .type, .surface]
        members.reserveCapacity(10)
        if e.dwell != .absent { members.append(.dwell) }
        if e.value != .absent { members.append(.value) }
        if nested { members.insert(.ctx, at: noise.below(members.count + 1)) }
        if escape { members.insert(.q, at: noise.below(members.count + 1)) }
        if shuffle {
            for i in stride(from: members.count - 1, to: 0, by: -1) { members.swapAt(i, noise.below(i + 1)) }
        }
        out.byte(0x7B)
        for (n, m) in members.enumerated() {
            if n > 0 { out.byte(0x2C) }
            writeMember(m, e, escape: escape, to: out, noise: &noise)
        }
        out.byte(0x7D)
        out.endLine()
    }

    /// The hot path: no noise, fixed member order.
    private func writeCanonical(_ e: EventRecord, to out: ByteBuffer) {
        out.append("{\"event_id\":")
        EventLineWriter.writeEventID(e, to: out)
        out.append(",\"ts\":")
        out.int(e.ts)
        out.append(",\"user_id\":")
        out.uint(e.userID)
        out.append(",\"item_id\":")
        out.uint(e.itemID)
        out.append(",\"type\":")
        out.quoted(e.type.literal)
        out.append(",\"surface\":")
        out.quoted(e.surface.literal)
        if e.dwell != .absent {
            out.append(",\"dwell_ms\":")
            EventLineWriter.writeMetadata(e.dwell, to: out)
        }
        if e.value != .absent {
            out.append(",\"value\":")
            EventLineWriter.writeMetadata(e.value, to: out)
        }
        out.byte(0x7D)
        out.endLine()
    }

    private func writeMember(_ m: Member, _ e: EventRecord, escape: Bool, to out: ByteBuffer, noise: inout SampleRandom) {
        func key(_ k: StaticString) {
            let bytes = UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount)
            if escape && noise.chance(0.25) {
                EventLineWriter.escapedString(bytes, to: out, noise: &noise)
            } else {
                out.byte(0x22)
                out.append(UnsafeRawBufferPointer(bytes))
                out.byte(0x22)
            }
            out.byte(0x3A)
        }
        func string(_ s: StaticString) {
            if escape {
                let b = UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
                EventLineWriter.escapedString(b, to: out, noise: &noise)
            } else {
                out.quoted(s)
            }
        }
        switch m {
        case .eventID:
            key("event_id")
            writeEventID(e, escape: escape, to: out, noise: &noise)
        case .ts:
            key("ts")
            out.int(e.ts)
        case .userID:
            key("user_id")
            out.uint(e.userID)
        case .itemID:
            key("item_id")
            out.uint(e.itemID)
        case .type:
            key("type")
            string(e.type.literal)
        case .surface:
            key("surface")
            string(e.surface.literal)
        case .dwell:
            key("dwell_ms")
            EventLineWriter.writeMetadata(e.dwell, to: out)
        case .value:
            key("value")
            EventLineWriter.writeMetadata(e.value, to: out)
        case .ctx:
            key("ctx")
            EventLineWriter.nestedValue(depth: 0, to: out, noise: &noise)
        case .q:
            key("q")
            EventLineWriter.specialText(to: out, noise: &noise)
        }
    }

    /// Integer ids as digits; string ids as `"e-<16 hex digits>"`, escaped when `escape`.
    private func writeEventID(_ e: EventRecord, escape: Bool, to out: ByteBuffer, noise: inout SampleRandom) {
        if e.stringID && escape {
            EventLineWriter.withStringID(e.eventID) { EventLineWriter.escapedString($0, to: out, noise: &noise) }
        } else {
            EventLineWriter.writeEventID(e, to: out)
        }
    }

    private static func writeEventID(_ e: EventRecord, to out: ByteBuffer) {
        guard e.stringID else {
            out.uint(e.eventID)
            return
        }
        withStringID(e.eventID) {
            out.byte(0x22)
            out.append(UnsafeRawBufferPointer($0))
            out.byte(0x22)
        }
    }

    /// Calls `body` with the 18 bytes of the string event id `e-<16 lowercase hex digits>`.
    static func withStringID<R>(_ id: UInt64, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &text) { t in
            t[0] = 0x65  // e
            t[1] = 0x2D  // -
            for k in 0..<16 { t[2 + k] = hexDigits[Int((id >> UInt64(60 - 4 * k)) & 15)] }
            return body(UnsafeBufferPointer(start: t.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 18))
        }
    }

    static func writeMetadata(_ m: EventRecord.Metadata, to out: ByteBuffer) {
        switch m {
        case .absent: preconditionFailure("absent metadata is not written")
        case .null: out.append("null")
        case let .integer(v): out.uint(v)
        case let .thousandths(v):
            out.uint(v / 1000)
            out.byte(0x2E)
            let f = v % 1000
            out.byte(UInt8(0x30 + f / 100))
            out.byte(UInt8(0x30 + f / 10 % 10))
            out.byte(UInt8(0x30 + f % 10))
        case let .cents(v):
            out.uint(v / 100)
            out.byte(0x2E)
            out.byte(UInt8(0x30 + v % 100 / 10))
            out.byte(UInt8(0x30 + v % 10))
        }
    }

    /// A JSON string of ASCII `bytes` (no characters that need escaping) with some characters spelled
    /// `\u00XX` (at least one; hex digits in either case, as both are legal).
    static func escapedString(_ bytes: UnsafeBufferPointer<UInt8>, to out: ByteBuffer, noise: inout SampleRandom) {
        let forced = noise.below(bytes.count)
        out.byte(0x22)
        for (i, b) in bytes.enumerated() {
            if i == forced || noise.chance(0.3) {
                let digits = noise.chance(0.5) ? hexDigits : hexUpper
                out.append("\\u00")
                out.byte(digits[Int(b >> 4)])
                out.byte(digits[Int(b & 15)])
            } else {
                out.byte(b)
            }
        }
        out.byte(0x22)
    }

    /// Text pieces with characters JSON writers spell in more than one way: (plain UTF-8, escaped).
    private static let specialPieces: [(StaticString, StaticString)] = [
        ("caf\u{e9}", "caf\\u00e9"),
        ("cr\u{e8}me br\u{fb}l\u{e9}e", "cr\\u00E8me br\\u00fbl\\u00e9e"),
        ("5/5", "5\\/5"),
        ("\\\"best\\\"", "\\u0022best\\u0022"),
        ("\u{1F600}", "\\ud83d\\ude00"),
        ("\u{1F45F} shoes", "\\uD83D\\uDC5F shoes"),
        ("\u{65E5}\u{672C}", "\\u65e5\\u672c"),
        ("C:\\\\tmp", "C:\\u005ctmp"),
        ("tab\\there", "tab\\u0009here"),
        ("line\\nbreak", "line\\u000Abreak"),
        ("na\u{ef}ve", "na\\u00efve"),
    ]

    /// The unknown field `q`: a string built from `specialPieces`, each spelled plainly or escaped.
    private static func specialText(to out: ByteBuffer, noise: inout SampleRandom) {
        out.byte(0x22)
        let n = 1 + noise.below(4)
        for k in 0..<n {
            if k > 0 { out.byte(0x20) }
            let piece = specialPieces[noise.below(specialPieces.count)]
            out.append(noise.chance(0.6) ? piece.1 : piece.0)
        }
        out.byte(0x22)
    }

    private static let nestedKeys: [StaticString] = ["ab", "geo", "exp", "flags", "tags", "meta", "v", "x", "lat", "lon", "id", "s"]

    /// A random JSON value nested at most 4 deep; keys within one object are distinct (a repeated key
    /// would make the line bad).
    private static func nestedValue(depth: Int, to out: ByteBuffer, noise: inout SampleRandom) {
        let kind = depth == 0 ? noise.below(3) : depth >= 3 ? 3 + noise.below(5) : noise.below(8)
        switch kind {
        case 0, 1:  // object with distinct keys, in key-list order from a random start
            let n = noise.below(4) + (depth == 0 ? 1 : 0)
            let first = noise.below(nestedKeys.count)
            out.byte(0x7B)
            for k in 0..<n {
                if k > 0 { out.byte(0x2C) }
                out.byte(0x22)
                out.append(nestedKeys[(first + k) % nestedKeys.count])
                out.append("\":")
                nestedValue(depth: depth + 1, to: out, noise: &noise)
            }
            out.byte(0x7D)
        case 2:  // array
            let n = noise.below(4)
            out.byte(0x5B)
            for k in 0..<n {
                if k > 0 { out.byte(0x2C) }
                nestedValue(depth: depth + 1, to: out, noise: &noise)
            }
            out.byte(0x5D)
        case 3: out.int(Int64(noise.below(2001)) - 1000)
        case 4:
            out.fixed((noise.uniform() - 0.5) * 360, decimals: 4)
            if noise.chance(0.3) { out.append("e-3") }
        case 5: out.append(noise.chance(0.5) ? "true" : "false")
        case 6: out.append("null")
        default:
            out.byte(0x22)
            out.append(nestedKeys[noise.below(nestedKeys.count)])
            out.byte(0x22)
        }
    }
}

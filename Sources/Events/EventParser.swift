import Support
#if canImport(Glibc)
import Glibc
#endif

/// The bounds a record is validated against (the history store's `[min_ts, max_ts]`).
public struct ValidationRules: Sendable, Equatable {
    public var minTs: Int64
    public var maxTs: Int64
    public init(minTs: Int64, maxTs: Int64) {
        self.minTs = minTs
        self.maxTs = maxTs
    }
}

/// Parses one JSON Lines event record straight from its bytes into an `Event`, or says why it is
/// quarantined (docs/data.md). Known keys are matched on their decoded bytes; unknown keys,
/// at any depth, are validated and skipped.
///
/// Precedence when a line has several faults: a syntax error (not JSON) first; then invalid UTF-8,
/// a lone surrogate or a duplicate key, whichever comes first; then the first bad field in line
/// order; then the first missing field in the order event_id, ts, user_id, item_id, type, surface.
public final class EventParser {
    public let rules: ValidationRules
    public let types = ByteInterner()
    public let surfaces = ByteInterner()
    let scanner = JSONScanner()

    public init(rules: ValidationRules) { self.rules = rules }

    /// The top-level fields this parser knows, with their bit in the "seen" mask.
    enum Field: Int, CaseIterable {
        case eventID, ts, userID, itemID, type, surface, dwellMs, value
        var name: String {
            switch self {
            case .eventID: return "event_id"
            case .ts: return "ts"
            case .userID: return "user_id"
            case .itemID: return "item_id"
            case .type: return "type"
            case .surface: return "surface"
            case .dwellMs: return "dwell_ms"
            case .value: return "value"
            }
        }
        static let requiredMask = 0b11_1111
    }

    /// Little-endian words of the known keys followed by their closing quote, so the common spelling
    /// of a key is recognised with one masked compare before any string scanning.
    let fastWords = FastKeyWords()
    let canonicalWords = CanonicalWords()

    /// Recognises a known key written without escapes at `pos` (on its opening quote) and moves past
    /// its closing quote; nil leaves `pos` unchanged for the general path.
    @inline(__always)
    private func fastKey() -> (Field, JSONStringToken)? {
        let s = scanner
        let at = s.pos + 1
        guard at + 9 <= s.count, s.base[s.pos] == 0x22 else { return nil }
        guard let (f, n) = fastWords.field(at: s.base + at) else { return nil }
        s.pos = at + n + 1
        return (f, JSONStringToken(start: at, end: at + n, inArena: false))
    }

    @inline(__always)
    private func field(of key: JSONStringToken) -> Field? { fastWords.field(exactly: scanner.bytes(key)) }

    /// Parses `line` (without its newline). On success appends the event to `batch` and returns nil.
    public func parse(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Rejection? {
        if parseCanonical(line, lineNumber: lineNumber, into: batch) || parseCompact(line, lineNumber: lineNumber, into: batch) { return nil }
        return parseRefusedInWindow(line, lineNumber: lineNumber, into: batch)
    }

    /// `parse` for a line the in-window paths (canonical, compact) have already refused: the
    /// whitespace-tolerant fast path or the decoding path, then the general parser. Any line may be
    /// passed; the in-window paths are only skipped because they would almost surely refuse it again.
    ///
    /// A refused line that does not look spaced out tries the decoding path (escapes, UTF-8) instead
    /// of the fast path: on a line without whitespace the fast path takes only what the compact path
    /// also takes (bar unknown values past the compact skipper's limits), so it would only repeat
    /// the refusal. Measured on the bench log's escaped lines, the fast path's failed attempt was
    /// 290 of their 1,950 ns (docs/performance.md).
    public func parseRefusedInWindow(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Rejection? {
        if EventParser.looksSpacedOut(line) {
            if parseFast(line, lineNumber: lineNumber, into: batch) { return nil }
        } else if parseDecoding(line, lineNumber: lineNumber, into: batch) {
            return nil
        }
        return parseGeneral(line, lineNumber: lineNumber, into: batch)
    }

    /// Whether the line opens with whitespace (` {`, `{ `) or has whitespace beside its first colon
    /// (`{"a": 1`, `{"a" :1`), as encoders that space their output write every line; the colon is
    /// looked for in the first 64 bytes, a word at a time. Why not any whitespace: free text
    /// (`"q":"red shoes"`) has spaces too, and scanning whole lines for layout cost spaced-out logs
    /// 7%. A false answer only changes which path is tried first, never the result. Not inlined, so
    /// the fast path stays inlined into its caller (inlining this instead cost spaced-out lines
    /// 20 ns, the fast path then being called).
    @inline(never)
    static func looksSpacedOut(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        let p = line.baseAddress!, n = line.count
        @inline(__always) func isSpace(_ k: Int) -> Bool {
            k >= 0 && k < n && (p[k] == 0x20 || p[k] == 0x09 || p[k] == 0x0D)
        }
        if isSpace(0) || isSpace(1) { return true }
        let limit = min(n, 64)
        var i = 0
        while i &+ 8 <= limit {
            let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            let colons = JSONScanner.zeroBytes(w ^ 0x3A3A_3A3A_3A3A_3A3A)
            if colons != 0 {
                let k = i &+ colons.trailingZeroBitCount >> 3
                return isSpace(k &+ 1) || isSpace(k &- 1)
            }
            i &+= 8
        }
        while i < limit {
            if p[i] == 0x3A { return isSpace(i &+ 1) || isSpace(i &- 1) }
            i &+= 1
        }
        return false
    }

    /// The general path: any JSON, every fault classified. The plain twin of `parseFast`.
    public func parseGeneral(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Rejection? {
        scanner.begin(line.baseAddress!, count: line.count)
        var e = Event(userID: 0, itemID: 0, ts: 0, idPayload: 0, idLength: Event.integerID, type: 0, surface: 0,
                      dwellMs: 0, value: 0, line: lineNumber)
        var seen = 0
        var fieldFault: Rejection?
        var idToken: JSONStringToken?
        var typeToken: JSONStringToken?
        var surfaceToken: JSONStringToken?

        func fault(_ reason: ReasonCode, _ f: Field, _ detail: String) {
            if fieldFault == nil { fieldFault = Rejection(line: lineNumber, reason: reason, field: f.name, detail: detail) }
        }

        do {
            scanner.skipWhitespace()
            guard scanner.peek() == 0x7B else {
                try scanner.skipValue()
                try scanner.expectEnd()
                return Rejection(line: lineNumber, reason: .notJSONObject, field: nil, detail: "not an object")
            }
            scanner.pos += 1
            scanner.beginObjectKeys()
            scanner.skipWhitespace()
            if scanner.peek() == 0x7D {
                scanner.pos += 1
            } else {
                members: while true {
                    scanner.skipWhitespace()
                    let key: JSONStringToken
                    let known: Field?
                    if let (f, k) = fastKey() {
                        known = f
                        key = k
                    } else {
                        key = try scanner.scanString()
                        known = field(of: key)
                    }
                    try scanner.expect(0x3A, "expected ':' after an object key")
                    guard let f = known else {
                        scanner.noteKey(key)
                        try scanner.skipValue()
                        if try endOfMember() { break members }
                        continue members
                    }
                    let bit = 1 << f.rawValue
                    if seen & bit != 0 { scanner.noteDuplicateKey(key) }
                    seen |= bit
                    scanner.skipWhitespace()
                    let c = scanner.peek() ?? 0
                    switch f {
                    case .eventID:
                        if c == 0x22 {
                            idToken = try scanner.scanString()
                        } else if c == 0x2D || (c >= 0x30 && c <= 0x39) {
                            let n = try scanner.scanNumber()
                            switch scanner.integerValue(n) {
                            case let .value(neg, mag) where !neg:
                                e.idPayload = mag
                                e.idLength = Event.integerID
                                idToken = nil
                            case .value, .tooLarge: fault(.integerOutOfRange, f, "event_id must be a non-negative 64-bit integer or a string")
                            case .notIntegral: fault(.wrongType, f, "event_id must be an integer or a string")
                            }
                        } else {
                            try scanner.skipValue()
                            fault(.wrongType, f, "event_id must be an integer or a string")
                        }
                    case .ts:
                        if let n = try number(c) {
                            switch scanner.integerValue(n) {
                            case let .value(neg, mag):
                                if neg ? mag > UInt64(Int64.max) + 1 : mag > UInt64(Int64.max) {
                                    fault(.integerOutOfRange, f, "ts does not fit a signed 64-bit integer")
                                } else {
                                    e.ts = neg ? Int64(truncatingIfNeeded: 0 &- mag) : Int64(mag)
                                }
                            case .tooLarge: fault(.integerOutOfRange, f, "ts does not fit a signed 64-bit integer")
                            case .notIntegral: fault(.wrongType, f, "ts must be an integer")
                            }
                        } else {
                            fault(.wrongType, f, "ts must be an integer")
                        }
                    case .userID, .itemID:
                        if let n = try number(c) {
                            switch scanner.integerValue(n) {
                            case let .value(neg, mag) where !neg:
                                if f == .userID { e.userID = mag } else { e.itemID = mag }
                            case .value, .tooLarge: fault(.integerOutOfRange, f, "\(f.name) must be an unsigned 64-bit integer")
                            case .notIntegral: fault(.wrongType, f, "\(f.name) must be an integer")
                            }
                        } else {
                            fault(.wrongType, f, "\(f.name) must be an integer")
                        }
                    case .type, .surface:
                        if c == 0x22 {
                            let t = try scanner.scanString()
                            if f == .type { typeToken = t } else { surfaceToken = t }
                        } else {
                            try scanner.skipValue()
                            fault(.wrongType, f, "\(f.name) must be a string")
                        }
                    case .dwellMs, .value:
                        if c == 0x6E {
                            try scanner.literal("null")
                        } else if let n = try number(c) {
                            let d = scanner.doubleValue(n)
                            if !d.isFinite || d < 0 {
                                fault(.badMetadata, f, "\(f.name) must be a finite number >= 0")
                            } else if f == .dwellMs { e.dwellMs = d } else { e.value = d }
                        } else {
                            fault(.wrongType, f, "\(f.name) must be a number or null")
                        }
                    }
                    if try endOfMember() { break members }
                }
            }
            scanner.endObjectKeys()
            try scanner.expectEnd()
        } catch {
            return Rejection(line: lineNumber, reason: .notJSONObject, field: nil, detail: "not JSON: \(error)")
        }

        if let soft = scanner.softFault {
            switch soft.kind {
            case .invalidUTF8:
                return Rejection(line: lineNumber, reason: .invalidUTF8, field: nil, detail: "invalid UTF-8 at byte \(soft.offset)")
            case .loneSurrogate:
                return Rejection(line: lineNumber, reason: .invalidUTF8, field: nil, detail: "lone surrogate escape at byte \(soft.offset)")
            case .duplicateKey:
                return Rejection(line: lineNumber, reason: .duplicateKey, field: soft.key, detail: "key \"\(soft.key ?? "")\" appears twice in one object")
            }
        }
        if let fieldFault { return fieldFault }
        if seen & Field.requiredMask != Field.requiredMask {
            let missing = Field.allCases.first { $0.rawValue < 6 && seen & (1 << $0.rawValue) == 0 }!
            return Rejection(line: lineNumber, reason: .missingField, field: missing.name, detail: "required field \(missing.name) is absent")
        }
        if e.ts < rules.minTs || e.ts > rules.maxTs {
            return Rejection(line: lineNumber, reason: .tsOutOfRange, field: "ts",
                             detail: "ts \(e.ts) outside [\(rules.minTs), \(rules.maxTs)]")
        }
        e.type = types.intern(scanner.bytes(typeToken!))
        e.surface = surfaces.intern(scanner.bytes(surfaceToken!))
        if let idToken {
            e.idLength = UInt32(idToken.count)
            e.idPayload = batch.appendID(scanner.bytes(idToken))
        }
        batch.append(e)
        return nil
    }

    /// Scans a number if the value starts like one; otherwise validates and skips the value and returns nil.
    @inline(__always)
    private func number(_ c: UInt8) throws(JSONSyntaxError) -> JSONNumberToken? {
        if c == 0x2D || (c >= 0x30 && c <= 0x39) { return try scanner.scanNumber() }
        try scanner.skipValue()
        return nil
    }

    /// After a member's value: whitespace, then `,` or `}`, consumed; true when the object ended.
    @inline(__always)
    private func endOfMember() throws(JSONSyntaxError) -> Bool {
        scanner.skipWhitespace()
        guard let c = scanner.peek() else { throw scanner.fail("unterminated object") }
        if c == 0x2C { scanner.pos += 1; return false }
        if c == 0x7D { scanner.pos += 1; return true }
        throw scanner.fail("expected ',' or '}' in object")
    }
}

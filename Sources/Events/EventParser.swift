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
/// quarantined (docs/data.md). Known keys (`EventField`) are matched on their decoded bytes;
/// unknown keys, at any depth, are validated and skipped.
///
/// Two paths read the field table: the canonical path (`parseCanonical`) takes the common spelling
/// and refuses anything else, and the general parser (`parseGeneral`), its plain twin, takes any
/// line and classifies every fault. Both hand the field values to `emit`, the one place an event is
/// range-checked, built, interned and appended.
///
/// Precedence when a line has several faults: a syntax error (not JSON) first; then invalid UTF-8,
/// a lone surrogate or a duplicate key, whichever comes first; then the first bad field in line
/// order; then the first missing field in the order of the table; then `ts` outside the range.
public final class EventParser {
    public let rules: ValidationRules
    public let types = ByteInterner()
    public let surfaces = ByteInterner()
    /// The type and surface strings interned so far, which the ids of its batches index.
    public var vocabulary: EventVocabulary { EventVocabulary(types: types.entries, surfaces: surfaces.entries) }
    let scanner = JSONScanner()
    let keys = EventKeys()
    /// The values of the line being parsed, by `EventField.rawValue`: integers, and f64 metadata as
    /// bit patterns.
    let numbers: UnsafeMutablePointer<UInt64>
    /// The strings of the line being parsed, by `EventField.rawValue`; an event id's `start` is nil
    /// for an integer id.
    let texts: UnsafeMutablePointer<TextValue>
    /// The general parser's string values as scanner tokens, by `EventField.rawValue`, until the
    /// line is judged.
    let tokens: UnsafeMutablePointer<JSONStringToken?>

    public init(rules: ValidationRules) {
        self.rules = rules
        numbers = .allocate(capacity: EventField.allCases.count)
        numbers.initialize(repeating: 0, count: EventField.allCases.count)
        texts = .allocate(capacity: EventField.allCases.count)
        texts.initialize(repeating: TextValue(), count: EventField.allCases.count)
        tokens = .allocate(capacity: EventField.allCases.count)
        tokens.initialize(repeating: nil, count: EventField.allCases.count)
    }

    deinit {
        numbers.deallocate()
        texts.deallocate()
        tokens.deallocate()
    }

    /// Parses `line` (without its newline). On success appends the event to `batch` and returns nil.
    public func parse(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Rejection? {
        if parseCanonical(line, lineNumber: lineNumber, into: batch) { return nil }
        return parseGeneral(line, lineNumber: lineNumber, into: batch)
    }

    /// Clears the values of optional fields and the string event id before a line.
    @inline(__always)
    func resetValues() {
        for f in EventField.allCases where !f.isRequired { numbers[f.rawValue] = 0 }
        texts[EventField.eventID.rawValue].start = nil
    }

    /// Builds the event from the field values of a line found valid, checks `ts` against the store's
    /// range, interns its strings and appends it; false (nothing appended) when `ts` is out of range.
    @inline(__always)
    func emit(lineNumber: Int, into batch: EventBatch) -> Bool {
        @inline(__always) func number(_ f: EventField) -> UInt64 { numbers[f.rawValue] }
        let ts = Int64(bitPattern: number(.ts))
        guard ts >= rules.minTs, ts <= rules.maxTs else { return false }
        var e = Event(userID: number(.userID), itemID: number(.itemID), ts: ts, idPayload: number(.eventID), idLength: Event.integerID,
                      type: texts[EventField.type.rawValue].intern(into: types),
                      surface: texts[EventField.surface.rawValue].intern(into: surfaces),
                      dwellMs: Double(bitPattern: number(.dwellMs)), value: Double(bitPattern: number(.value)), line: lineNumber)
        let id = texts[EventField.eventID.rawValue]
        if let start = id.start {
            e.idLength = UInt32(id.count)
            e.idPayload = batch.appendID(UnsafeBufferPointer(start: start, count: id.count))
        }
        batch.append(e)
        return true
    }

    /// The interner of a string field.
    @inline(__always)
    func interner(_ f: EventField) -> ByteInterner { f == .type ? types : surfaces }

    /// Scans the key at `pos` (its opening quote) and moves past its closing quote; the field is nil
    /// for an unknown key. A known key written without escapes is matched in place, as two words.
    @inline(__always)
    private func memberKey() throws(JSONSyntaxError) -> (EventField?, JSONStringToken) {
        let s = scanner
        let at = s.pos + 1
        if at + 16 <= s.count, s.base[s.pos] == 0x22, let f = keys.field(at: s.base + at) {
            let end = at + keys.quoted[f.rawValue].count - 1
            s.pos = end + 1
            return (f, JSONStringToken(start: at, end: end, inArena: false))
        }
        let key = try s.scanString()
        return (keys.field(exactly: s.bytes(key)), key)
    }

    /// The general path: any JSON, every fault classified. The plain twin of `parseCanonical`.
    public func parseGeneral(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Rejection? {
        scanner.begin(line.baseAddress!, count: line.count)
        resetValues()
        for f in EventField.allCases { tokens[f.rawValue] = nil }
        var seen = 0
        var fieldFault: Rejection?
        var userIDIsValid = false

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
            var ended = scanner.peek() == 0x7D
            if ended { scanner.pos += 1 }
            while !ended {
                scanner.skipWhitespace()
                let (known, key) = try memberKey()
                try scanner.expect(0x3A, "expected ':' after an object key")
                if let f = known {
                    let bit = 1 << f.rawValue
                    if seen & bit != 0 { scanner.noteDuplicateKey(key) }
                    seen |= bit
                    let fault = try readValue(f)
                    if f == .userID { userIDIsValid = fault == nil }
                    if let (reason, detail) = fault, fieldFault == nil {
                        fieldFault = Rejection(line: lineNumber, reason: reason, field: f.key, detail: detail)
                    }
                } else {
                    scanner.noteKey(key)
                    try scanner.skipValue()
                }
                ended = try endOfMember()
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
        // A line that is JSON (`JSONValue.parse` takes it: no soft fault, nesting within its
        // limit) with a valid user_id names its user, which routes its quarantine record.
        let userID = userIDIsValid && scanner.deepestSkipped < JSONValue.maxDepth ? numbers[EventField.userID.rawValue] : nil
        if var fieldFault {
            fieldFault.userID = userID
            return fieldFault
        }
        if seen & EventField.requiredMask != EventField.requiredMask {
            let missing = EventField.allCases.first { $0.isRequired && seen & (1 << $0.rawValue) == 0 }!
            return Rejection(line: lineNumber, reason: .missingField, field: missing.key, detail: "required field \(missing.key) is absent",
                             userID: userID)
        }
        for f in EventField.allCases where f.kind == .string || f.kind == .eventID {
            let b = tokens[f.rawValue].map { scanner.bytes($0) }
            texts[f.rawValue] = TextValue(start: b.map { $0.baseAddress ?? UnsafePointer(bitPattern: 1)! }, count: b?.count ?? 0)
        }
        guard emit(lineNumber: lineNumber, into: batch) else {
            let ts = Int64(bitPattern: numbers[EventField.ts.rawValue])
            return Rejection(line: lineNumber, reason: .tsOutOfRange, field: EventField.ts.key,
                             detail: "ts \(ts) outside [\(rules.minTs), \(rules.maxTs)]", userID: userID)
        }
        return nil
    }

    /// The value at `pos` of an integer or metadata field when it is a plain non-negative number (or
    /// `null` metadata), read a word at a time by `FastDigits` (twin-tested against the scanner's
    /// conversions) and moved past; nil leaves `pos` for the scanner.
    @inline(__always)
    private func plainNumber(_ f: EventField, _ c: UInt8) -> UInt64? {
        let s = scanner
        switch f.kind {
        case .string: return nil
        case .metadata:
            guard c &- 0x30 < 10 || c == 0x6E, let (x, next) = FastDigits.metadata(s.base, s.pos, s.count) else { return nil }
            s.pos = next
            return x.bitPattern
        case .eventID, .signed, .unsigned:
            guard c &- 0x30 < 10, let (v, next) = FastDigits.unsigned(s.base, s.pos, s.count),
                  f.kind != .signed || v <= UInt64(Int64.max) else { return nil }
            s.pos = next
            return v
        }
    }

    /// Reads the value of field `f` (after its colon) into `numbers` or `tokens`, as its kind says;
    /// returns the field's fault, if it has one (the value is then skipped, validated as JSON).
    private func readValue(_ f: EventField) throws(JSONSyntaxError) -> (ReasonCode, String)? {
        scanner.skipWhitespace()
        let c = scanner.peek() ?? 0
        if let v = plainNumber(f, c) {
            numbers[f.rawValue] = v
            tokens[f.rawValue] = nil
            return nil
        }
        if c == 0x22 && (f.kind == .string || f.kind == .eventID) {
            tokens[f.rawValue] = try scanner.scanString()
            return nil
        }
        // `null` metadata was read above: any other value but a number is of the wrong type.
        guard c == 0x2D || (c >= 0x30 && c <= 0x39), f.kind != .string else {
            try scanner.skipValue()
            return (.wrongType, f.wrongTypeDetail)
        }
        let n = try scanner.scanNumber()
        if f.kind == .metadata {
            let d = scanner.doubleValue(n)
            guard d.isFinite, d >= 0 else { return (.badMetadata, "\(f.key) must be a finite number >= 0") }
            numbers[f.rawValue] = d.bitPattern
            return nil
        }
        let outOfRange = f.kind == .signed ? "\(f.key) does not fit a signed 64-bit integer"
            : f.kind == .unsigned ? "\(f.key) must be an unsigned 64-bit integer" : "\(f.key) must be a non-negative 64-bit integer or a string"
        switch scanner.integerValue(n) {
        case let .value(negative, magnitude):
            let fits = f.kind == .signed ? magnitude <= UInt64(Int64.max) + (negative ? 1 : 0) : !negative
            guard fits else { return (.integerOutOfRange, outOfRange) }
            numbers[f.rawValue] = negative ? 0 &- magnitude : magnitude
            tokens[f.rawValue] = nil
            return nil
        case .tooLarge: return (.integerOutOfRange, outOfRange)
        case .notIntegral: return (.wrongType, f.wrongTypeDetail)
        }
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

/// A string value of a line: its bytes (in the line, or decoded by the scanner) and, for a plain
/// string in the line, what interning it needs.
struct TextValue {
    var start: UnsafePointer<UInt8>?
    var count = 0
    /// Bytes readable from `start` (lets short strings be compared as words).
    var readable = 0
    /// The id `ByteInterner.plainString` found, if any.
    var known: UInt32?
    /// A plain string in the line, followed by its closing quote: `internPlain` may remember it.
    var plain = false

    /// The string's id in `interner`, adding it if new.
    @inline(__always)
    func intern(into interner: ByteInterner) -> UInt32 {
        if let known { return known }
        let p = start ?? UnsafePointer(bitPattern: 1)!
        return plain ? interner.internPlain(p, count: count, readable: readable) : interner.intern(p, count: count, readable: max(readable, count))
    }
}

/// The strings a batch's interned ids stand for: an event's `type` indexes `types`, its `surface`
/// indexes `surfaces` (what a consumer of batches, such as the history store, needs to resolve them).
public struct EventVocabulary: Sendable, Equatable {
    public var types: [[UInt8]]
    public var surfaces: [[UInt8]]
}

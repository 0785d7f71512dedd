import Support
#if canImport(Glibc)
import Glibc
#endif

extension EventParser {
    /// The decoding path: a compact line (no whitespace) whose keys and strings may hold escapes and
    /// UTF-8 text. Keys are matched on their decoded bytes (`"\u0074ype"` is `type`); `type`,
    /// `surface` and a string `event_id` are decoded as the scanner decodes them; numbers take the
    /// compact path's readers; at most `maxUnknownKeys` unknown keys, distinct by decoded bytes, have
    /// their values validated and skipped by the compact skipper. Anything else — whitespace, a
    /// number outside the fast readers, a lone surrogate, malformed UTF-8, a duplicate key, a fault
    /// of any kind — returns false having appended nothing, and the general parser decides; tests
    /// compare the two.
    ///
    /// Why: the canonical and compact paths take only plain strings, so a line with one escape went
    /// to the general parser, whose scanner decodes token by token: 1,700 ns a line on the bench
    /// log's escaped lines, against about 300 for the plain lines around them (docs/performance.md).
    public func parseDecoding(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Bool {
        let n = line.count
        guard n >= 2 else { return false }
        // Decoded strings never outgrow the line; the decoder's word copies need 8 bytes of slack,
        // and interning reads up to 16 bytes from a string's start.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n + 16) { scratch in
            withUnsafeTemporaryAllocation(of: DecodedString.self, capacity: EventParser.maxUnknownKeys) { unknown in
                decoding(line.baseAddress!, n, scratch: scratch.baseAddress!, scratchCapacity: n + 16,
                         unknown: unknown.baseAddress!, lineNumber: lineNumber, into: batch)
            }
        }
    }

    /// The most unknown top-level keys the decoding path takes on one line.
    static let maxUnknownKeys = 8

    /// A decoded string: where its bytes are (in the line, or in the scratch buffer) and how many
    /// bytes from `start` may be read.
    struct DecodedString {
        var start: UnsafePointer<UInt8>
        var count: Int
        var readable: Int
        var buffer: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: start, count: count) }
    }

    private func decoding(_ p: UnsafePointer<UInt8>, _ n: Int, scratch: UnsafeMutablePointer<UInt8>, scratchCapacity: Int,
                          unknown: UnsafeMutablePointer<DecodedString>, lineNumber: Int, into batch: EventBatch) -> Bool {
        guard p[0] == 0x7B, p[n &- 1] == 0x7D else { return false }
        var i = 1
        var used = 0
        var seen = 0, unknownCount = 0
        var eventID: UInt64 = 0
        var id: DecodedString?
        var ts: UInt64 = 0, user: UInt64 = 0, item: UInt64 = 0
        let none = DecodedString(start: p, count: 0, readable: 0)
        var type = none, surface = none
        var dwell = 0.0, value = 0.0

        /// The string at `i` (on its opening quote): its bytes in place when plain, else decoded into
        /// the scratch buffer; moves past the closing quote.
        func string() -> DecodedString? {
            guard i < n, p[i] == 0x22 else { return nil }
            let start = i &+ 1
            if let end = FastStrings.end(p, start, n) {
                i = end &+ 1
                return DecodedString(start: p + start, count: end &- start, readable: n &- start)
            }
            let out = scratch + used
            guard let (end, count) = JSONScanner.decodeCleanString(p, start, n, into: out) else { return nil }
            i = end &+ 1
            // A closing quote after the decoded bytes, as a key in the line has, for `knownField`;
            // the next decoded string writes over it.
            out[count] = 0x22
            let s = DecodedString(start: UnsafePointer(out), count: count, readable: scratchCapacity &- used)
            used &+= count
            return s
        }

        /// The known key a string is, read as the compact path reads keys (its bytes and the quote
        /// after them, as words), not by copying it into a padded buffer: a copy then a word load of
        /// it stalls on store forwarding, which cost this path a sixth of its time.
        func knownField(_ key: DecodedString) -> Field? {
            guard key.readable >= 9 else { return fastWords.field(exactly: key.buffer) }
            guard let (f, length) = fastWords.field(at: key.start), length == key.count else { return nil }
            return f
        }

        members: while true {
            guard let key = string(), i < n, p[i] == 0x3A else { return false }
            i &+= 1
            if let f = knownField(key) {
                let bit = 1 &<< f.rawValue
                guard seen & bit == 0 else { return false }
                seen |= bit
                guard i < n else { return false }
                switch f {
                case .eventID:
                    if p[i] == 0x22 {
                        guard let s = string() else { return false }
                        id = s
                    } else {
                        guard let (v, next) = FastDigits.unsigned(p, i, n) else { return false }
                        eventID = v
                        id = nil
                        i = next
                    }
                case .ts, .userID, .itemID:
                    guard let (v, next) = FastDigits.unsigned(p, i, n), f != .ts || v <= UInt64(Int64.max) else { return false }
                    if f == .ts { ts = v } else if f == .userID { user = v } else { item = v }
                    i = next
                case .type, .surface:
                    guard let s = string() else { return false }
                    if f == .type { type = s } else { surface = s }
                case .dwellMs, .value:
                    guard let (x, next) = FastDigits.metadata(p, i, n) else { return false }
                    if f == .dwellMs { dwell = x } else { value = x }
                    i = next
                }
            } else {
                // An unknown key: distinct, by its decoded bytes, from the line's other unknown keys.
                guard unknownCount < EventParser.maxUnknownKeys else { return false }
                for k in 0..<unknownCount where unknown[k].count == key.count {
                    if memcmp(unknown[k].start, key.start, key.count) == 0 { return false }
                }
                unknown[unknownCount] = key
                unknownCount &+= 1
                guard let after = CompactValue.skip(p, i, n) else { return false }
                i = after
            }
            guard i < n else { return false }
            let c = p[i]
            i &+= 1
            if c == 0x2C { continue members }
            guard c == 0x7D else { return false }
            break members
        }
        guard i == n, seen & Field.requiredMask == Field.requiredMask else { return false }
        let tsValue = Int64(ts)
        guard tsValue >= rules.minTs, tsValue <= rules.maxTs else { return false }
        var e = Event(userID: user, itemID: item, ts: tsValue, idPayload: eventID, idLength: Event.integerID,
                      type: types.intern(type.start, count: type.count, readable: type.readable),
                      surface: surfaces.intern(surface.start, count: surface.count, readable: surface.readable),
                      dwellMs: dwell, value: value, line: lineNumber)
        if let id {
            e.idLength = UInt32(id.count)
            e.idPayload = batch.appendID(id.buffer)
        }
        batch.append(e)
        return true
    }
}

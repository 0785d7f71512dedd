import Support
#if canImport(Glibc)
import Glibc
#endif

extension EventParser {
    /// The compact path: a line written without whitespace, its known keys in any order (each at most
    /// once), an integer or plain-string event id, and at most two unknown keys whose values are
    /// validated and skipped. Between the canonical path and `parseFast`: it takes the shuffled-key,
    /// string-id and unknown-field lines of a compact log without `parseFast`'s whitespace handling.
    /// Any other line returns false having appended nothing; tests compare it with the general parser.
    @inline(__always)
    public func parseCompact(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into batch: EventBatch) -> Bool {
        compact(line.baseAddress!, line.count, inWindow: false, lineNumber: lineNumber, into: batch) != 0
    }

    /// `parseCompact` on a line still inside the decompressed window (see the in-window canonical
    /// path): returns the line's length with its newline, or 0. Nothing this path accepts, unknown
    /// values included, may contain a newline, so the line is judged exactly as on its own.
    @inline(__always)
    public func parseCompact(_ p: UnsafePointer<UInt8>, available: Int, lineNumber: Int, into batch: EventBatch) -> Int {
        compact(p, available, inWindow: true, lineNumber: lineNumber, into: batch)
    }

    @inline(__always)
    func compact(_ p: UnsafePointer<UInt8>, _ available: Int, inWindow: Bool, lineNumber: Int, into batch: EventBatch) -> Int {
        // Outside the window `n` is the line's end; inside, only the end of what may be read.
        let n = available
        guard n >= 16, p[0] == 0x7B else { return 0 }
        var i = 1
        var seen = 0
        var eventID: UInt64 = 0, idStart = 0, idCount = -1
        var ts: UInt64 = 0, user: UInt64 = 0, item: UInt64 = 0
        var typeStart = 0, typeEnd = 0, surfaceStart = 0, surfaceEnd = 0
        var knownType: UInt32?, knownSurface: UInt32?
        var dwell = 0.0, value = 0.0
        var unknownCount = 0, unknown0 = 0, unknown0Count = 0, unknown1 = 0, unknown1Count = 0
        members: while true {
            guard i &+ 10 <= n, p[i] == 0x22 else { return 0 }
            guard let (f, length) = fastWords.field(at: p + (i &+ 1)) else {
                // An unknown key: plain ASCII, distinct from the line's other unknown keys (two at most here).
                guard unknownCount < 2, let keyEnd = FastStrings.end(p, i &+ 1, n) else { return 0 }
                let ks = i &+ 1, kc = keyEnd &- ks
                if unknownCount > 0 && unknown0Count == kc && memcmp(p + unknown0, p + ks, kc) == 0 { return 0 }
                if unknownCount > 1 && unknown1Count == kc && memcmp(p + unknown1, p + ks, kc) == 0 { return 0 }
                if unknownCount == 0 { (unknown0, unknown0Count) = (ks, kc) } else { (unknown1, unknown1Count) = (ks, kc) }
                unknownCount &+= 1
                i = keyEnd &+ 1
                guard i < n, p[i] == 0x3A else { return 0 }
                // Its value, compact too: no byte of it can be a newline, so it cannot run past the line.
                guard let after = CompactValue.skip(p, i &+ 1, n), after < n else { return 0 }
                i = after
                let c = p[i]
                i &+= 1
                if c == 0x2C { continue members }
                guard c == 0x7D else { return 0 }
                break members
            }
            let bit = 1 &<< f.rawValue
            guard seen & bit == 0 else { return 0 }
            seen |= bit
            i &+= length &+ 2
            // The colon, and at least one byte of the value, lie within the bytes that may be read.
            guard i &+ 1 < n, p[i] == 0x3A else { return 0 }
            i &+= 1
            switch f {
            case .eventID:
                if p[i] == 0x22 {
                    guard let end = FastStrings.end(p, i &+ 1, n) else { return 0 }
                    idStart = i &+ 1
                    idCount = end &- idStart
                    i = end &+ 1
                } else {
                    guard let (v, next) = FastDigits.unsigned(p, i, n) else { return 0 }
                    eventID = v
                    idCount = -1
                    i = next
                }
            case .ts:
                guard let (v, next) = FastDigits.unsigned(p, i, n), v <= UInt64(Int64.max) else { return 0 }
                ts = v
                i = next
            case .userID:
                guard let (v, next) = FastDigits.unsigned(p, i, n) else { return 0 }
                user = v
                i = next
            case .itemID:
                guard let (v, next) = FastDigits.unsigned(p, i, n) else { return 0 }
                item = v
                i = next
            case .type:
                guard p[i] == 0x22, let (end, id) = types.plainString(p, i &+ 1, n) else { return 0 }
                (typeStart, typeEnd, knownType) = (i &+ 1, end, id)
                i = end &+ 1
            case .surface:
                guard p[i] == 0x22, let (end, id) = surfaces.plainString(p, i &+ 1, n) else { return 0 }
                (surfaceStart, surfaceEnd, knownSurface) = (i &+ 1, end, id)
                i = end &+ 1
            case .dwellMs:
                guard let (x, next) = FastDigits.metadata(p, i, n) else { return 0 }
                dwell = x
                i = next
            case .value:
                guard let (x, next) = FastDigits.metadata(p, i, n) else { return 0 }
                value = x
                i = next
            }
            guard i < n else { return 0 }
            let c = p[i]
            i &+= 1
            if c == 0x2C { continue members }
            guard c == 0x7D else { return 0 }
            break members
        }
        // The line ends right after the closing brace.
        let taken: Int
        if inWindow {
            guard i < n, p[i] == 0x0A else { return 0 }
            taken = i &+ 1
        } else {
            guard i == n else { return 0 }
            taken = n
        }
        guard seen & Field.requiredMask == Field.requiredMask else { return 0 }
        let tsValue = Int64(ts)
        guard tsValue >= rules.minTs, tsValue <= rules.maxTs else { return 0 }
        var e = Event(userID: user, itemID: item, ts: tsValue, idPayload: eventID, idLength: Event.integerID,
                      type: knownType ?? types.internPlain(p + typeStart, count: typeEnd &- typeStart, readable: available &- typeStart),
                      surface: knownSurface ?? surfaces.internPlain(p + surfaceStart, count: surfaceEnd &- surfaceStart, readable: available &- surfaceStart),
                      dwellMs: dwell, value: value, line: lineNumber)
        if idCount >= 0 {
            e.idLength = UInt32(idCount)
            e.idPayload = batch.appendID(UnsafeBufferPointer(start: p + idStart, count: idCount))
        }
        batch.append(e)
        return taken
    }
}

/// Compact JSON values skipped and validated in place, for the unknown fields of compact lines.
///
/// It takes objects, arrays, strings, numbers and the three literals, written without whitespace,
/// up to 16 levels deep and 32 keys in open objects. String values may hold escapes and UTF-8 text
/// (judged by the scanner's own rules, so a lone surrogate or a malformed sequence is refused); keys
/// must be plain printable ASCII, since duplicates are found by comparing their bytes. A duplicate
/// key in an object, or anything else, returns nil and the general parser decides (and reports the
/// duplicate). So whatever it accepts the general scanner accepts too, with no soft fault, ending at
/// the same byte. Why: nested context objects and free-text fields (a search query in its own
/// script) are common in compact logs, and the general scanner's per-token bookkeeping cost twice
/// the rest of such a line.
enum CompactValue {
    static let maxDepth = 16, maxKeys = 32

    /// The index after the value that starts at `i`, reading no further than `n`; nil as above.
    static func skip(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int? {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: maxDepth + 2 * maxKeys) { scratch in
            skip(p, i, n, scratch: scratch.baseAddress!)
        }
    }

    /// The index of the closing quote of a string value whose contents start at `i`: plain runs a
    /// word at a time, escapes and UTF-8 sequences as the scanner judges them (no raw newline can
    /// pass, so the string cannot run past its line); nil for anything the scanner would refuse or
    /// note a soft fault on.
    static func stringValueEnd(_ p: UnsafePointer<UInt8>, _ i0: Int, _ n: Int) -> Int? {
        var i = i0
        while true {
            i = JSONScanner.nextSpecial(p, i, n)
            guard i < n else { return nil }
            let c = p[i]
            if c == 0x22 { return i }
            if c == 0x5C {
                guard let next = JSONScanner.escapeEnd(p, i, n) else { return nil }
                i = next
            } else if c >= 0x80 {
                guard let next = JSONScanner.utf8SequenceEnd(p, i, n) else { return nil }
                i = next
            } else {
                return nil   // a control byte
            }
        }
    }

    /// `scratch` holds the open containers (for an object, where its keys start; -1 for an array),
    /// then the keys of the open objects as (start, length) pairs.
    private static func skip(_ p: UnsafePointer<UInt8>, _ i0: Int, _ n: Int, scratch: UnsafeMutablePointer<Int>) -> Int? {
        let open = scratch, keys = scratch + maxDepth
        var depth = 0, keyCount = 0
        var i = i0

        /// A member key at `i` and its colon, checked against the keys of the innermost object.
        func key() -> Bool {
            guard i < n, p[i] == 0x22, let end = FastStrings.end(p, i &+ 1, n), keyCount < maxKeys else { return false }
            let start = i &+ 1, length = end &- start
            var k = open[depth &- 1]
            while k < keyCount {
                if keys[2 &* k &+ 1] == length && memcmp(p + keys[2 &* k], p + start, length) == 0 { return false }
                k &+= 1
            }
            keys[2 &* keyCount] = start
            keys[2 &* keyCount &+ 1] = length
            keyCount &+= 1
            i = end &+ 1
            guard i < n, p[i] == 0x3A else { return false }
            i &+= 1
            return true
        }
        @inline(__always) func isDigit(_ k: Int) -> Bool { k < n && p[k] &- 0x30 < 10 }

        value: while true {
            guard i < n else { return nil }
            switch p[i] {
            case 0x7B: // {
                i &+= 1
                if i < n && p[i] == 0x7D {
                    i &+= 1
                } else {
                    guard depth < maxDepth else { return nil }
                    open[depth] = keyCount
                    depth &+= 1
                    guard key() else { return nil }
                    continue value
                }
            case 0x5B: // [
                i &+= 1
                if i < n && p[i] == 0x5D {
                    i &+= 1
                } else {
                    guard depth < maxDepth else { return nil }
                    open[depth] = -1
                    depth &+= 1
                    continue value
                }
            case 0x22:
                guard let end = stringValueEnd(p, i &+ 1, n) else { return nil }
                i = end &+ 1
            case 0x2D, 0x30...0x39:
                // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
                if p[i] == 0x2D { i &+= 1 }
                guard isDigit(i) else { return nil }
                if p[i] == 0x30 { i &+= 1 } else { while isDigit(i) { i &+= 1 } }
                if i < n && p[i] == 0x2E {
                    i &+= 1
                    guard isDigit(i) else { return nil }
                    while isDigit(i) { i &+= 1 }
                }
                if i < n && p[i] | 0x20 == 0x65 {
                    i &+= 1
                    if i < n && (p[i] == 0x2B || p[i] == 0x2D) { i &+= 1 }
                    guard isDigit(i) else { return nil }
                    while isDigit(i) { i &+= 1 }
                }
            case 0x74: // true
                guard i &+ 4 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) == 0x6575_7274 else { return nil }
                i &+= 4
            case 0x66: // false
                guard i &+ 5 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) == 0x736C_6166, p[i &+ 4] == 0x65 else { return nil }
                i &+= 5
            case 0x6E: // null
                guard i &+ 4 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) == 0x6C6C_756E else { return nil }
                i &+= 4
            default:
                return nil
            }
            // A value ended: the next element, or the close of finished containers.
            while depth > 0 {
                guard i < n else { return nil }
                let c = p[i]
                let inObject = open[depth &- 1] >= 0
                if c == 0x2C {
                    i &+= 1
                    if inObject { guard key() else { return nil } }
                    continue value
                }
                guard c == (inObject ? 0x7D : 0x5D) else { return nil }
                i &+= 1
                depth &-= 1
                if inObject { keyCount = open[depth] }
            }
            return i
        }
    }
}

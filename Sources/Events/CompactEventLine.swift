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
    /// path): returns the line's length with its newline, or 0. An unknown key's value may hold
    /// JSON whitespace, newlines included, so before it is skipped the line's end is searched for and
    /// the rest of the line is parsed within it.
    @inline(__always)
    public func parseCompact(_ p: UnsafePointer<UInt8>, available: Int, lineNumber: Int, into batch: EventBatch) -> Int {
        compact(p, available, inWindow: true, lineNumber: lineNumber, into: batch)
    }

    @inline(__always)
    func compact(_ p: UnsafePointer<UInt8>, _ available: Int, inWindow: Bool, lineNumber: Int, into batch: EventBatch) -> Int {
        var n = available
        /// Whether `n` is the line's end (always, outside the window; inside, once it was searched for).
        var bounded = !inWindow
        guard n >= 16, p[0] == 0x7B else { return 0 }
        var i = 1
        var seen = 0
        var eventID: UInt64 = 0, idStart = 0, idCount = -1
        var ts: UInt64 = 0, user: UInt64 = 0, item: UInt64 = 0
        var typeStart = 0, typeEnd = 0, surfaceStart = 0, surfaceEnd = 0
        var dwell = 0.0, value = 0.0
        var unknownCount = 0, unknown0 = 0, unknown0Count = 0, unknown1 = 0, unknown1Count = 0
        members: while true {
            guard i &+ 10 <= n, p[i] == 0x22 else { return 0 }
            guard let (f, length) = fastWords.field(at: p + (i &+ 1)) else {
                // An unknown key: bound the line first (its value may contain newlines as whitespace).
                if !bounded {
                    guard let nl = memchr(p + i, 0x0A, n &- i) else { return 0 }
                    n = p.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                    bounded = true
                }
                // Plain ASCII, distinct from the line's other unknown keys (two at most here).
                guard unknownCount < 2, let keyEnd = FastStrings.end(p, i &+ 1, n) else { return 0 }
                let ks = i &+ 1, kc = keyEnd &- ks
                if unknownCount > 0 && unknown0Count == kc && memcmp(p + unknown0, p + ks, kc) == 0 { return 0 }
                if unknownCount > 1 && unknown1Count == kc && memcmp(p + unknown1, p + ks, kc) == 0 { return 0 }
                if unknownCount == 0 { (unknown0, unknown0Count) = (ks, kc) } else { (unknown1, unknown1Count) = (ks, kc) }
                unknownCount &+= 1
                i = keyEnd &+ 1
                guard i < n, p[i] == 0x3A else { return 0 }
                let sc = scanner
                sc.begin(p, count: n)
                sc.pos = i &+ 1
                do { try sc.skipValue() } catch { return 0 }
                guard sc.softFault == nil else { return 0 }
                i = sc.pos
                guard i < n else { return 0 }
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
                guard p[i] == 0x22, let end = FastStrings.end(p, i &+ 1, n) else { return 0 }
                typeStart = i &+ 1
                typeEnd = end
                i = end &+ 1
            case .surface:
                guard p[i] == 0x22, let end = FastStrings.end(p, i &+ 1, n) else { return 0 }
                surfaceStart = i &+ 1
                surfaceEnd = end
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
        if bounded {
            guard i == n else { return 0 }
            taken = inWindow ? n &+ 1 : n
        } else {
            guard i < n, p[i] == 0x0A else { return 0 }
            taken = i &+ 1
        }
        guard seen & Field.requiredMask == Field.requiredMask else { return 0 }
        let tsValue = Int64(ts)
        guard tsValue >= rules.minTs, tsValue <= rules.maxTs else { return 0 }
        var e = Event(userID: user, itemID: item, ts: tsValue, idPayload: eventID, idLength: Event.integerID,
                      type: types.intern(p + typeStart, count: typeEnd &- typeStart, readable: available &- typeStart),
                      surface: surfaces.intern(p + surfaceStart, count: surfaceEnd &- surfaceStart, readable: available &- surfaceStart),
                      dwellMs: dwell, value: value, line: lineNumber)
        if idCount >= 0 {
            e.idLength = UInt32(idCount)
            e.idPayload = batch.appendID(UnsafeBufferPointer(start: p + idStart, count: idCount))
        }
        batch.append(e)
        return taken
    }
}

/// Writes deliberately bad lines: a plausible event (the template) with exactly one fault of a
/// `BadLineKind`, in one of several spellings real producers get wrong.
///
/// Bad lines are rare, so this favours clarity over speed: a line is built as a list of members
/// (key, value bytes), the fault is applied to that list, then it is serialized.
struct BadLineMaker {
    let minTs: Int64
    let maxTs: Int64

    private typealias Members = [(key: String, value: [UInt8])]

    /// Appends one bad line of `kind` (with its `\n`), derived from the valid event `e`.
    func write(_ kind: BadLineKind, template e: EventRecord, to out: ByteBuffer, rng r: inout SampleRandom) {
        var m = BadLineMaker.members(of: e)
        var line: [UInt8]
        switch kind {
        case .notJSON:
            line = notJSON(m, &r)
        case .notObject:
            line = notObject(m, &r)
        case .missingField:
            m.remove(at: r.below(6))
            line = BadLineMaker.serialize(m)
        case .wrongType:
            let variants: [(String, String)] = [
                ("ts", "\"\(e.ts)\""), ("user_id", "\"\(e.userID)\""), ("item_id", "\(e.itemID).5"),
                ("type", "3"), ("surface", "null"), ("event_id", "true"), ("event_id", "{\"id\":1}"),
                ("ts", "\(e.ts).25"), ("dwell_ms", "\"1200\""), ("value", "[9.99]"), ("user_id", "null"),
                ("item_id", "false"),
            ]
            let (k, v) = variants[r.below(variants.count)]
            BadLineMaker.set(&m, k, v)
            line = BadLineMaker.serialize(m)
        case .negativeInteger:
            let variants: [(String, String)] = [("user_id", "-\(e.userID)"), ("item_id", "-1"), ("event_id", "-7"),
                                                ("item_id", "-\(e.itemID % 1_000_000 + 1)")]
            let (k, v) = variants[r.below(variants.count)]
            BadLineMaker.set(&m, k, v)
            line = BadLineMaker.serialize(m)
        case .integerTooLarge:
            let variants: [(String, String)] = [("item_id", "18446744073709551616"), ("user_id", "18446744073709551621"),
                                                ("event_id", "100000000000000000000"), ("ts", "9223372036854775808"),
                                                ("event_id", "1e20"), ("item_id", "36893488147419103232")]
            let (k, v) = variants[r.below(variants.count)]
            BadLineMaker.set(&m, k, v)
            line = BadLineMaker.serialize(m)
        case .tsOutOfRange:
            var candidates: [Int64] = [minTs - 1 - Int64(r.below(400 * 86_400)), maxTs + 1 + Int64(r.below(400 * 86_400)), -1]
            if e.ts * 1000 > maxTs { candidates.append(e.ts * 1000) }  // milliseconds: the classic unit bug
            if minTs > 0 { candidates.append(0) }
            BadLineMaker.set(&m, "ts", String(candidates[r.below(candidates.count)]))
            line = BadLineMaker.serialize(m)
        case .negativeMetadata:
            let variants: [(String, String)] = [("dwell_ms", "-\(1 + r.below(5000))"), ("dwell_ms", "-0.5"),
                                                ("value", "-9.99"), ("value", "-1e2")]
            let (k, v) = variants[r.below(variants.count)]
            BadLineMaker.set(&m, k, v)
            line = BadLineMaker.serialize(m)
        case .nonFiniteMetadata:
            let variants: [(String, String)] = [("dwell_ms", "1e999"), ("dwell_ms", "-1e999"), ("value", "1e400"),
                                                ("value", "2e308")]
            let (k, v) = variants[r.below(variants.count)]
            BadLineMaker.set(&m, k, v)
            line = BadLineMaker.serialize(m)
        case .invalidUTF8:
            let sequences: [[UInt8]] = [[0xFF], [0xC3, 0x28], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82],
                                        [0xF4, 0x90, 0x80, 0x80], [0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]]
            BadLineMaker.spoilString(&m, with: sequences[r.below(sequences.count)], &r)
            line = BadLineMaker.serialize(m)
        case .loneSurrogate:
            let escapes = ["\\ud800", "\\uDBFF", "\\udc00", "\\ud83d\\u0041", "\\ud83d\\ud83d", "\\uDFFF"]
            BadLineMaker.spoilString(&m, with: Array(escapes[r.below(escapes.count)].utf8), &r)
            line = BadLineMaker.serialize(m)
        case .duplicateKey:
            switch r.below(4) {
            case 0: m.insert(m[1], at: 2 + r.below(m.count - 1))  // ts twice, same value
            case 1: m.append((key: "user_id", value: Array(String(e.userID &+ 1).utf8)))
            case 2: m.append((key: "type", value: Array("\"click\"".utf8)))
            default:
                m.insert((key: "src", value: Array("\"sdk\"".utf8)), at: r.below(m.count + 1))
                m.append((key: "src", value: Array("\"web\"".utf8)))
            }
            line = BadLineMaker.serialize(m)
        }
        out.append(line)
        out.endLine()
    }

    // MARK: - Variants of "not JSON" and "not an object"

    private func notJSON(_ m: Members, _ r: inout SampleRandom) -> [UInt8] {
        let whole = BadLineMaker.serialize(m)
        switch r.below(7) {
        case 0:  // cut off mid-line (a writer killed mid-write)
            return Array(whole[0..<(1 + r.below(whole.count - 1))])
        case 1:  // trailing comma
            return Array(whole.dropLast()) + Array(",}".utf8)
        case 2:  // single quotes
            return whole.map { $0 == 0x22 ? 0x27 : $0 }
        case 3:  // unquoted keys
            return [0x7B] + m.map { Array($0.key.utf8) + [0x3A] + $0.value }.joined(separator: [0x2C]) + [0x7D]
        case 4:  // NaN, which JSON does not have
            var n = m
            BadLineMaker.set(&n, "dwell_ms", "NaN")
            return BadLineMaker.serialize(n)
        case 5:  // two records glued together (a lost newline)
            return whole + whole
        default:
            let stray = ["2026-10-01 03:12:44 WARN flushed 512 events", "<html><body><h1>502 Bad Gateway</h1></body></html>",
                         "{\"event_id\":", "}", "-- log rotated --"]
            return Array(stray[r.below(stray.count)].utf8)
        }
    }

    private func notObject(_ m: Members, _ r: inout SampleRandom) -> [UInt8] {
        let whole = BadLineMaker.serialize(m)
        switch r.below(7) {
        case 0: return [0x5B] + whole + [0x5D]  // the event wrapped in an array
        case 1:  // the event encoded twice: a JSON string holding JSON
            var s: [UInt8] = [0x22]
            for b in whole {
                if b == 0x22 { s.append(0x5C) }
                s.append(b)
            }
            return s + [0x22]
        case 2: return m[2].value  // a bare number
        case 3: return Array("null".utf8)
        case 4: return Array("true".utf8)
        case 5: return Array("[]".utf8)
        default: return Array("\"impression\"".utf8)
        }
    }

    // MARK: - Members

    private static func members(of e: EventRecord) -> Members {
        func spell(_ body: (ByteBuffer) -> Void) -> [UInt8] {
            let b = ByteBuffer(capacity: 64)
            body(b)
            return b.toArray()
        }
        var m: Members = [
            ("event_id", e.stringID ? EventLineWriter.withStringID(e.eventID) { [0x22] + Array($0) + [0x22] }
                                    : Array(String(e.eventID).utf8)),
            ("ts", Array(String(e.ts).utf8)),
            ("user_id", Array(String(e.userID).utf8)),
            ("item_id", Array(String(e.itemID).utf8)),
            ("type", Array("\"\(e.type.name)\"".utf8)),
            ("surface", Array("\"\(e.surface.name)\"".utf8)),
        ]
        if e.dwell != .absent { m.append(("dwell_ms", spell { EventLineWriter.writeMetadata(e.dwell, to: $0) })) }
        if e.value != .absent { m.append(("value", spell { EventLineWriter.writeMetadata(e.value, to: $0) })) }
        return m
    }

    /// Replaces the member's value, or appends the member if the template lacks it.
    private static func set(_ m: inout Members, _ key: String, _ value: String) {
        if let i = m.firstIndex(where: { $0.key == key }) {
            m[i].value = Array(value.utf8)
        } else {
            m.append((key: key, value: Array(value.utf8)))
        }
    }

    /// Puts `bytes` inside a string: the type, the surface, or an unknown user-agent field.
    private static func spoilString(_ m: inout Members, with bytes: [UInt8], _ r: inout SampleRandom) {
        switch r.below(3) {
        case 0:
            m[4].value.insert(contentsOf: bytes, at: m[4].value.count - 1)
        case 1:
            m[5].value.insert(contentsOf: bytes, at: 1)
        default:
            m.insert((key: "ua", value: Array("\"Mozilla/5.0 ".utf8) + bytes + Array(" Mobile\"".utf8)),
                     at: r.below(m.count + 1))
        }
    }

    private static func serialize(_ m: Members) -> [UInt8] {
        var out: [UInt8] = [0x7B]
        for (i, member) in m.enumerated() {
            if i > 0 { out.append(0x2C) }
            out.append(0x22)
            out.append(contentsOf: member.key.utf8)
            out.append(0x22)
            out.append(0x3A)
            out.append(contentsOf: member.value)
        }
        out.append(0x7D)
        return out
    }
}

import Events
import Support
import Testing
import TestSupport

/// The canonical path against its plain twin `parseGeneral`: whenever the canonical path accepts a
/// line, the general parser must accept it too and produce the very same event.
@Suite struct FastPathTwinTests {
    static let rules = ValidationRules(minTs: 0, maxTs: 1 << 40)

    /// Parses `line` both ways; returns whether the canonical path took it.
    @discardableResult
    func compare(_ line: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let fast = EventParser(rules: FastPathTwinTests.rules), general = EventParser(rules: FastPathTwinTests.rules)
        let fb = EventBatch(), gb = EventBatch()
        var copy = line
        return copy.withUnsafeMutableBufferPointer { buf -> Bool in
            let b = UnsafeBufferPointer(buf)
            let took = fast.parseCanonical(b, lineNumber: 3, into: fb)
            let rejection = general.parseGeneral(b, lineNumber: 3, into: gb)
            if took {
                #expect(rejection == nil, "fast path accepted what the general parser rejects: \(String(decoding: line, as: UTF8.self))", sourceLocation: sourceLocation)
                guard rejection == nil, let f = fb.events.first, let g = gb.events.first else { return took }
                #expect(f.userID == g.userID && f.itemID == g.itemID && f.ts == g.ts && f.line == g.line, sourceLocation: sourceLocation)
                #expect(f.dwellMs.bitPattern == g.dwellMs.bitPattern && f.value.bitPattern == g.value.bitPattern, "\(f.dwellMs) \(g.dwellMs)", sourceLocation: sourceLocation)
                #expect(fb.eventID(f) == gb.eventID(g), sourceLocation: sourceLocation)
                #expect(fast.types.bytes(f.type) == general.types.bytes(g.type), sourceLocation: sourceLocation)
                #expect(fast.surfaces.bytes(f.surface) == general.surfaces.bytes(g.surface), sourceLocation: sourceLocation)
            } else {
                #expect(fb.count == 0, "a refused line must append nothing", sourceLocation: sourceLocation)
            }
            // A rejected line names its user exactly when it is JSON with a valid user_id.
            if let rejection {
                let expected = (try? JSONValue.parse(b))?["user_id"]?.numberValue?.uint64
                #expect(rejection.userID == expected, "user id of a rejected line: \(String(decoding: line, as: UTF8.self))", sourceLocation: sourceLocation)
            }
            compareInWindow(line, sourceLocation: sourceLocation)
            return took
        }
    }

    /// The in-window canonical path on `line` still inside a window, followed by a newline and
    /// another line: whenever it takes a line, that line ends at the window's first newline and the
    /// general parser gives the same event for it.
    func compareInWindow(_ line: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let next = Array(#"{"event_id":1,"ts":2,"user_id":3,"item_id":4,"type":"click","surface":"feed","x":[1,"#.utf8)
        for window in [line + [0x0A] + next + [0x0A], line + [0x0A], line, line + [0x0D, 0x0A] + next, line + [0x0A, 0x20, 0x32, 0x5D, 0x7D]]
            where window.count > 0 {
            let rules = FastPathTwinTests.rules
            let w = EventParser(rules: rules), g = EventParser(rules: rules)
            let wb = EventBatch(), gb = EventBatch()
            window.withUnsafeBufferPointer { buf in
                let took = w.parseCanonical(buf.baseAddress!, available: buf.count, lineNumber: 3, into: wb)
                guard took > 0 else {
                    #expect(wb.count == 0, sourceLocation: sourceLocation)
                    return
                }
                let firstNewline = window.firstIndex(of: 0x0A)
                #expect(firstNewline == took - 1, "took \(took) bytes: \(String(decoding: window, as: UTF8.self))", sourceLocation: sourceLocation)
                guard firstNewline == took - 1 else { return }
                let rejection = g.parseGeneral(UnsafeBufferPointer(rebasing: buf[0..<took - 1]), lineNumber: 3, into: gb)
                #expect(rejection == nil, "in-window canonical path accepted what the general parser rejects", sourceLocation: sourceLocation)
                if let c = wb.events.first, let e = gb.events.first {
                    #expect(c.userID == e.userID && c.itemID == e.itemID && c.ts == e.ts && wb.eventID(c) == gb.eventID(e)
                            && c.dwellMs.bitPattern == e.dwellMs.bitPattern && c.value.bitPattern == e.value.bitPattern
                            && c.line == e.line && w.types.bytes(c.type) == g.types.bytes(e.type)
                            && w.surfaces.bytes(c.surface) == g.surfaces.bytes(e.surface), sourceLocation: sourceLocation)
                }
            }
        }
    }

    /// Lines as a compact log writes them besides the canonical spelling — keys shuffled, string
    /// ids, unknown fields with nested values — lightly mutated: the canonical path takes only those
    /// that happen to be canonical, and agrees with the general parser on them.
    @Test func shuffledAndUnknownFieldLinesAgree() {
        var x: UInt64 = 11
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        let pieces: [String] = ["0", "\"", ",", "}", "{", ":", " ", "\n", "\\", "[", "]", "\u{e9}", "1e", "x", "null"]
        let unknown = [#""ctx":{"a":[1,2,{"b":null}],"c":"d"}"#, #""x":1"#, #""y":[true,false]"#, #""x":{"x":{}}"#,
                       #""ctx":{"a":1,"a":2}"#, #""z":"\u00e9""#, "\"w\": [ 1 ,\n 2 ]", #""v":"tab\there""#]
        for k in 0..<20_000 {
            var members = [
                #""event_id":"# + (k % 4 == 0 ? "\"s-\(next() % 1000)\"" : String(next() >> UInt64(k % 60))),
                #""ts":\#(next() % 2_000_000_000)"#, #""user_id":\#(next() >> UInt64(k % 64))"#, #""item_id":\#(next())"#,
                #""type":"\#(["click", "impression", "add_to_cart"][k % 3])""#, #""surface":"\#(["feed", "reels", "marketplace"][k % 3])""#,
            ]
            if k % 2 == 0 { members.append(#""dwell_ms":\#(Double(next() % 100_000) / 1000)"#) }
            if k % 5 == 0 { members.append(#""value":\#(k % 10 == 0 ? "null" : String(next() % 1000))"#) }
            for _ in 0..<Int(next() % 3) { members.append(unknown[Int(next() % UInt64(unknown.count))]) }
            for a in stride(from: members.count - 1, to: 0, by: -1) { members.swapAt(a, Int(next() % UInt64(a + 1))) }
            var line = Array(("{" + members.joined(separator: ",") + "}").utf8)
            for _ in 0..<Int(next() % 3) {
                let at = Int(next() % UInt64(line.count))
                let piece = Array(pieces[Int(next() % UInt64(pieces.count))].utf8)
                if next() % 2 == 0 { line.replaceSubrange(at..<at + 1, with: piece) } else { line.insert(contentsOf: piece, at: at) }
            }
            compare(line)
        }
    }

    /// Random mutations that may put a newline inside a line: the in-window canonical path never
    /// reads a line past its first newline, and agrees with the general parser on what it takes.
    @Test func inWindowCanonicalPathStopsAtTheFirstNewline() {
        var x: UInt64 = 7
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        let pieces: [String] = ["\n", "\n", "}\n", "0", "\"", ",", "}", " ", "\r", "."]
        for k in 0..<20_000 {
            var line = Array(eventLine(user: next() >> UInt64(k % 64), id: String(next() >> UInt64(k % 60)),
                                       ts: Int64(next() % 1_000_000_000), item: next(), type: ["click", "impression", "save"][k % 3],
                                       extra: k % 2 == 0 ? ",\"dwell_ms\":\(Double(next() % 100_000) / 1000)" : "").utf8)
            for _ in 0..<Int(next() % 3) {
                let at = Int(next() % UInt64(line.count))
                let piece = Array(pieces[Int(next() % UInt64(pieces.count))].utf8)
                if next() % 2 == 0 { line.replaceSubrange(at..<at + 1, with: piece) } else { line.insert(contentsOf: piece, at: at) }
            }
            compareInWindow(line)
        }
    }

    @Test func commonSpellingsAgree() {
        #expect(compare(Array(#"{"event_id":10000000000000000000,"ts":1790812800,"user_id":100000000000712,"item_id":12345678901234567890,"type":"save","surface":"reels","dwell_ms":0.000001}"#.utf8)))
        let lines = [
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
            #"{"event_id":"e-1f","ts":1500,"user_id":18446744073709551615,"item_id":9999999999999999999,"type":"impression","surface":"marketplace","dwell_ms":975.187,"value":null}"#,
            #"{"surface":"feed","type":"purchase","item_id":0,"user_id":0,"ts":0,"event_id":0,"value":80.68,"dwell_ms":0}"#,
            #"{"event_id": 12, "ts": 1500, "user_id": 5, "item_id": 7, "type": "click", "surface": "feed", "dwell_ms": 12.5}"#,
            #"{"event_id":10000000000000000000,"ts":1790812800,"user_id":100000000000712,"item_id":12345678901234567890,"type":"save","surface":"reels","dwell_ms":0.000001}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"","surface":"a","ctx":{"ab":[1,2,{"x":"y"}],"geo":{"lat":1.5}}}"#,
        ]
        for l in lines { compare(Array(l.utf8)) }
    }

    @Test func everythingElseIsLeftToTheGeneralParser() {
        let lines = [
            #"{"event_id":1e3,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
            #"{"event_id":01,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7.0,"type":"click","surface":"feed"}"#,
            #"{"event_id":1,"ts":-1,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":18446744073709551616,"type":"click","surface":"feed"}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"cl\u0069ck","surface":"feed"}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"café","surface":"feed"}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","ts":1500}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click"}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed",}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","dwell_ms":-1}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","dwell_ms":1.5e2}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","dwell_ms":12345678901234567890.5}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","x":1,"x":2}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","x":{"a":1,"a":2}}"#,
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","x":[1,]}"#,
            "{\"event_id\":1,\t\"ts\":1500,\"user_id\":5,\"item_id\":7,\"type\":\"click\",\"surface\":\"feed\"}",
            #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"} x"#,
        ]
        for l in lines { #expect(!compare(Array(l.utf8)), "expected the general parser: \(l)") }
    }

    /// Random mutations of valid lines: whatever the canonical path takes, the general parser agrees with.
    @Test func randomMutationsAgree() {
        var x: UInt64 = 42
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        let pieces: [String] = ["0", "-", ".", "e", "1", "9", " ", "\"", "\\", ",", "}", "{", ":", "n", "\u{e9}", "x", "[", "]"]
        var taken = 0
        for k in 0..<20_000 {
            var line = Array(eventLine(user: next() >> UInt64(k % 64), id: k % 3 == 0 ? "\"s\(next() % 1000)\"" : String(next() >> UInt64(k % 60)),
                                       ts: Int64(next() % 1_000_000_000), item: next(), type: ["click", "impression", "save"][k % 3],
                                       extra: k % 2 == 0 ? ",\"dwell_ms\":\(Double(next() % 100_000) / 1000)" : "").utf8)
            for _ in 0..<Int(next() % 3) {
                let at = Int(next() % UInt64(line.count))
                let piece = Array(pieces[Int(next() % UInt64(pieces.count))].utf8)
                if next() % 2 == 0 { line.replaceSubrange(at..<at + 1, with: piece) } else { line.insert(contentsOf: piece, at: at) }
            }
            if compare(line) { taken += 1 }
        }
        #expect(taken > 3_000, "the canonical path should take many lightly mutated lines (took \(taken))")
    }

    /// Rejected lines name their user as `JSONValue` reads the line: not when it is not JSON, has a
    /// soft fault, or nests past `JSONValue.maxDepth`.
    @Test func rejectedLinesNameTheirUserWhenTheyAreJSON() {
        let head = #"{"event_id":1,"ts":1500,"user_id":42,"item_id":7,"type":"click""#
        for depth in [1, JSONValue.maxDepth - 2, JSONValue.maxDepth - 1, JSONValue.maxDepth, JSONValue.maxDepth + 1] {
            for open in ["[", "{\"a\":"] {
                let close = open == "[" ? "]" : "}"
                compare(Array((head + ",\"x\":" + String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth) + "}").utf8))
            }
        }
        for line in [head + "}", head + #","surface":"feed","ts":2}"#, head + #","surface":"caf\ud800"}"#, head + #","surface":1}"#,
                     #"{"user_id":-1,"ts":1}"#, #"{"user_id":1e3}"#, #"{"user_id":"42"}"#, head + ",}", "[" + head + "}]"] {
            compare(Array(line.utf8))
        }
    }

    /// Every line of the committed sample data.
    @Test func sampleDataLinesAgree() throws {
        var root = #filePath
        for _ in 0..<3 { root = Files.parentDirectory(root) }
        var n = 0
        for file in try Files.list(root + "/sample-data/events").prefix(3) {
            let reader = LogReader(path: root + "/sample-data/events/" + file, hashContent: false)
            try reader.forEachLine({ _, line in compare(Array(line)); n += 1 }, overlong: { _, _ in })
        }
        #expect(n > 1000)
    }
}

/// `parseCanonical` against the general parser, on canonical lines and near misses.
@Suite struct CanonicalPathTwinTests {
    func both(_ line: String) -> (took: Bool, agree: Bool) {
        let rules = ValidationRules(minTs: 0, maxTs: 1 << 40)
        let c = EventParser(rules: rules), g = EventParser(rules: rules)
        let cb = EventBatch(), gb = EventBatch()
        var bytes = Array(line.utf8)
        return bytes.withUnsafeMutableBufferPointer { buf -> (Bool, Bool) in
            let b = UnsafeBufferPointer(buf)
            let took = c.parseCanonical(b, lineNumber: 1, into: cb)
            let rejection = g.parseGeneral(b, lineNumber: 1, into: gb)
            guard took else { return (false, cb.count == 0) }
            guard rejection == nil, let x = cb.events.first, let y = gb.events.first else { return (true, false) }
            let same = x.userID == y.userID && x.itemID == y.itemID && x.ts == y.ts && cb.eventID(x) == gb.eventID(y)
                && x.dwellMs.bitPattern == y.dwellMs.bitPattern && x.value.bitPattern == y.value.bitPattern
                && c.types.bytes(x.type) == g.types.bytes(y.type) && c.surfaces.bytes(x.surface) == g.surfaces.bytes(y.surface)
            return (true, same)
        }
    }

    @Test func canonicalLinesAreTakenAndAgree() {
        for l in [
            #"{"event_id":16464721113893398307,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed","dwell_ms":1046.730}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"purchase","surface":"marketplace","value":80.68}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"purchase","surface":"marketplace","dwell_ms":null,"value":0}"#,
            #"{"event_id":0,"ts":0,"user_id":0,"item_id":18446744073709551615,"type":"app_install","surface":"notifications"}"#,
        ] {
            let r = both(l)
            #expect(r.took && r.agree, "\(l)")
        }
    }

    @Test func nearMissesAreLeftToTheOtherPaths() {
        for l in [
            #"{"event_id":"e-1","ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed"}"#,
            #"{"ts":1790875716,"event_id":5,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed"}"#,
            #"{"event_id":5, "ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed"}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed",}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":18446744073709551616,"type":"impression","surface":"feed"}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impr\u0065ssion","surface":"feed"}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed","dwell_ms":1e3}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed","value":1,"dwell_ms":2}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed","extra":1}"#,
            #"{"event_id":5,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed"} "#,
            #"{"event_id":05,"ts":1790875716,"user_id":100000000000869,"item_id":12409340115248814678,"type":"impression","surface":"feed"}"#,
        ] {
            let r = both(l)
            #expect(!r.took && r.agree, "\(l)")
        }
    }
}

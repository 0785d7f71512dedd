import Events
import Support
import Testing
import TestSupport

/// Each quarantine reason of docs/data.md, with the exact quarantine line it produces.
@Suite struct ReasonCodeTests {
    let rules = ValidationRules(minTs: 1_000, maxTs: 2_000)

    /// Reads `lines` as a log file through the read stage and returns (events, quarantine file lines).
    func read(_ lines: [String], dir: TempDirectory) throws -> (EventBatch, [String], ReadSummary) {
        let path = dir.writeLines("log.jsonl", lines)
        let parser = EventParser(rules: rules)
        let all = EventBatch()
        let sink = QuarantineSink(directory: dir.file("q"), file: path)
        let scratch = EventBatch()
        let summary = try readEventLog(path: path, parser: parser, batch: scratch, hashContent: true,
                                       onBatch: { b in copy(b, into: all) },
                                       onReject: { try sink.add($0) })
        var out: [String] = []
        if let q = try sink.finish(digest: summary.digest!) {
            out = String(decoding: try Files.readAll(q), as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return (all, out, summary)
    }

    func copy(_ b: EventBatch, into all: EventBatch) {
        // The test only needs counts and fields; keep events (ids of integer type stay valid).
        for e in b.events { all.append(e, from: b) }
    }

    @Test func validLineIsAccepted() throws {
        let dir = TempDirectory()
        let (events, q, summary) = try read([eventLine(user: 5, id: "1", ts: 1500, extra: ",\"dwell_ms\":12.5,\"value\":null")], dir: dir)
        #expect(q.isEmpty)
        #expect(summary.events == 1 && summary.rejected == 0)
        #expect(events.events.first?.dwellMs == 12.5)
        #expect(events.events.first?.value == 0)
        #expect(events.events.first?.userID == 5)
    }

    /// Each case: a line and the quarantine record expected for it (the file path is prefixed by the test).
    static let cases: [(String, String)] = [
        ("{\"event_id\":1,", #""line":1,"reason":"not_json_object","field":null,"detail":"not JSON: expected a string at byte 14"}"#),
        ("[1,2,3]", #""line":1,"reason":"not_json_object","field":null,"detail":"not an object"}"#),
        ("\"just a string\"", #""line":1,"reason":"not_json_object","field":null,"detail":"not an object"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click"}"#,
         #""line":1,"reason":"missing_field","field":"surface","detail":"required field surface is absent"}"#),
        (#"{"event_id":1,"ts":"1500","user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
         #""line":1,"reason":"wrong_type","field":"ts","detail":"ts must be an integer"}"#),
        (#"{"event_id":1,"ts":1500.5,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
         #""line":1,"reason":"wrong_type","field":"ts","detail":"ts must be an integer"}"#),
        (#"{"event_id":null,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
         #""line":1,"reason":"wrong_type","field":"event_id","detail":"event_id must be an integer or a string"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":3,"surface":"feed"}"#,
         #""line":1,"reason":"wrong_type","field":"type","detail":"type must be a string"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":-5,"item_id":7,"type":"click","surface":"feed"}"#,
         #""line":1,"reason":"integer_out_of_range","field":"user_id","detail":"user_id must be an unsigned 64-bit integer"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":5,"item_id":18446744073709551616,"type":"click","surface":"feed"}"#,
         #""line":1,"reason":"integer_out_of_range","field":"item_id","detail":"item_id must be an unsigned 64-bit integer"}"#),
        (#"{"event_id":1,"ts":99999999999999999999,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
         #""line":1,"reason":"integer_out_of_range","field":"ts","detail":"ts does not fit a signed 64-bit integer"}"#),
        (#"{"event_id":1,"ts":2001,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
         #""line":1,"reason":"ts_out_of_range","field":"ts","detail":"ts 2001 outside [1000, 2000]"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","dwell_ms":-1}"#,
         #""line":1,"reason":"bad_metadata","field":"dwell_ms","detail":"dwell_ms must be a finite number >= 0"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","value":1e999}"#,
         #""line":1,"reason":"bad_metadata","field":"value","detail":"value must be a finite number >= 0"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"cl\ud800ick","surface":"feed"}"#,
         #""line":1,"reason":"invalid_utf8","field":null,"detail":"lone surrogate escape at byte 58"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","ts":1500}"#,
         #""line":1,"reason":"duplicate_key","field":"ts","detail":"key \"ts\" appears twice in one object"}"#),
        (#"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed","ctx":{"a":1,"a":2}}"#,
         #""line":1,"reason":"duplicate_key","field":"a","detail":"key \"a\" appears twice in one object"}"#),
    ]

    @Test(arguments: cases)
    func reasonCodeLine(_ input: String, _ expected: String) throws {
        let dir = TempDirectory()
        let (_, q, summary) = try read([input], dir: dir)
        let path = dir.file("log.jsonl")
        #expect(summary.events == 0 && summary.rejected == 1)
        #expect(q == ["{\"file\":\"\(path)\"," + expected])
    }

    @Test func invalidUTF8BytesAreQuarantined() throws {
        let dir = TempDirectory()
        var bytes = Array(#"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"cl"#.utf8)
        bytes += [0xC3, 0x28] // a lead byte followed by a non-continuation
        bytes += Array(#"ick","surface":"feed"}"#.utf8) + [0x0A]
        let path = dir.write("log.jsonl", bytes)
        let parser = EventParser(rules: rules)
        var rejections: [Rejection] = []
        _ = try readEventLog(path: path, parser: parser, batch: EventBatch(), hashContent: false,
                             onBatch: { _ in }, onReject: { rejections.append($0) })
        #expect(rejections == [Rejection(line: 1, reason: .invalidUTF8, field: nil, detail: "invalid UTF-8 at byte 58")])
    }

    @Test func everyReasonCodeIsReachable() throws {
        let dir = TempDirectory()
        let (_, q, _) = try read(ReasonCodeTests.cases.map(\.0), dir: dir)
        let reasons = Set(q.compactMap { line in ReasonCode.allCases.first { line.contains("\"reason\":\"\($0.rawValue)\"") } })
        #expect(reasons == Set(ReasonCode.allCases))
    }

    @Test func syntaxErrorBeatsEarlierFieldFault() throws {
        let dir = TempDirectory()
        let (_, q, _) = try read([#"{"event_id":1,"ts":"bad","user_id":5 "item_id":7}"#], dir: dir)
        #expect(q.count == 1 && q[0].contains("\"reason\":\"not_json_object\""))
    }

    @Test func firstBadFieldInLineOrderWins() throws {
        let dir = TempDirectory()
        let (_, q, _) = try read([#"{"user_id":-1,"event_id":1,"ts":"x","item_id":7,"type":"click","surface":"feed"}"#], dir: dir)
        #expect(q.count == 1 && q[0].contains("\"reason\":\"integer_out_of_range\",\"field\":\"user_id\""))
    }

    @Test func integerFieldsAcceptAnyExactIntegralNumber() throws {
        let dir = TempDirectory()
        let (events, q, _) = try read([
            #"{"event_id":1e0,"ts":1.5e3,"user_id":18446744073709551615,"item_id":1000e-3,"type":"click","surface":"feed"}"#,
        ], dir: dir)
        #expect(q.isEmpty)
        let e = try #require(events.events.first)
        #expect(e.ts == 1500 && e.userID == .max && e.itemID == 1 && e.idPayload == 1 && e.hasIntegerID)
    }

    @Test func unknownFieldsAndKeyOrderAreIgnored() throws {
        let dir = TempDirectory()
        let (events, q, _) = try read([
            #"{"ctx":{"ab":[1,2,{"x":"y"}],"geo":{"lat":1.5}},"surface":"feed","type":"click","item_id":7,"user_id":5,"ts":1500,"event_id":"e\u0031","note":"caf\u00e9 \"quoted\""}"#,
        ], dir: dir)
        #expect(q.isEmpty)
        let e = try #require(events.events.first)
        #expect(!e.hasIntegerID)
        #expect(e.userID == 5 && e.ts == 1500)
    }

    @Test func escapedKnownKeysAreRecognised() throws {
        let dir = TempDirectory()
        let (events, q, _) = try read([
            #"{"\u0065vent_id":1,"t\u0073":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
        ], dir: dir)
        #expect(q.isEmpty)
        #expect(events.events.first?.ts == 1500)
    }

    /// Every known key is matched on its decoded bytes, whatever its spelling; keys that differ by a
    /// byte, a prefix or an extension are unknown keys (skipped), so the field stays missing.
    @Test func knownKeysMatchExactlyOnTheirDecodedBytes() throws {
        func escaped(_ key: String) -> String { key.unicodeScalars.map { String(format: "\\u%04x", $0.value) }.joined() }
        let dir = TempDirectory()
        let keys = ["event_id", "ts", "user_id", "item_id", "type", "surface", "dwell_ms", "value"]
        let values = ["9", "1500", "5", "7", #""click""#, #""feed""#, "12.5", "3"]
        let all = zip(keys, values).map { #""\#(escaped($0))":\#($1)"# }.joined(separator: ",")
        let (events, q, _) = try read(["{" + all + "}"], dir: dir)
        #expect(q.isEmpty)
        let e = try #require(events.events.first)
        #expect(e.hasIntegerID && e.idPayload == 9 && e.ts == 1500 && e.userID == 5 && e.itemID == 7 && e.dwellMs == 12.5 && e.value == 3)

        // Near misses of each required key: that field is reported missing.
        let nearMisses: [(String, [String])] = [
            ("event_id", ["event_i", "event_idx", "Event_id", "event-id"]), ("ts", ["t", "tss", "Ts", #"t\u0000"#]),
            ("user_id", ["user_i", "user_idd", "user_ie"]), ("item_id", ["item_i", "item_ids", "iten_id"]),
            ("type", ["typ", "types", "tYpe"]), ("surface", ["surfac", "surfaces", "surfacf"]),
        ]
        for (key, misses) in nearMisses {
            for miss in misses {
                let line = "{" + zip(keys.prefix(6), values).map { #""\#($0 == key ? miss : $0)":\#($1)"# }.joined(separator: ",") + "}"
                let (ev, rejected, _) = try read([line], dir: dir)
                #expect(ev.count == 0, "\(line)")
                #expect(rejected.count == 1 && rejected[0].contains(#""reason":"missing_field","field":"\#(key)""#), "\(line)")
            }
        }
    }

    @Test func crlfAndBlankLinesAreHandled() throws {
        let dir = TempDirectory()
        let text = eventLine(user: 1, id: "1", ts: 1500) + "\r\n\r\n   \n" + eventLine(user: 1, id: "2", ts: 1501) + "\r\n" + "{bad\r\n"
        let path = dir.write("log.jsonl", text: text)
        var rejections: [Rejection] = []
        let s = try readEventLog(path: path, parser: EventParser(rules: rules), batch: EventBatch(), hashContent: false,
                                 onBatch: { _ in }, onReject: { rejections.append($0) })
        #expect(s.events == 2)
        #expect(s.lines == 3)
        #expect(rejections.map(\.line) == [5])
    }

    @Test func overlongLineIsQuarantinedNotBuffered() throws {
        let dir = TempDirectory()
        let long = "{\"pad\":\"" + String(repeating: "x", count: 5000) + "\"}"
        let path = dir.writeLines("log.jsonl", [eventLine(user: 1, id: "1", ts: 1500), long, eventLine(user: 1, id: "2", ts: 1501)])
        var rejections: [Rejection] = []
        let s = try readEventLog(path: path, parser: EventParser(rules: rules), batch: EventBatch(), hashContent: false,
                                 maxLineBytes: 1000, onBatch: { _ in }, onReject: { rejections.append($0) })
        #expect(s.events == 2)
        #expect(rejections.count == 1 && rejections[0].line == 2 && rejections[0].reason == .notJSONObject)
    }
}

/// Objects that are not JSON because of their punctuation, next to valid near neighbours.
@Suite struct EventObjectSyntaxTests {
    @Test(arguments: [
        #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed",}"#,
        #"{"event_id":1,,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
        #"{,"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
        #"{"event_id":1 "ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
        #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}}"#,
        #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed""#,
        #"{event_id:1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
        #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}{"a":1}"#,
    ])
    func rejected(_ line: String) throws {
        let parser = EventParser(rules: ValidationRules(minTs: 0, maxTs: 10_000))
        var bytes = Array(line.utf8)
        let r = bytes.withUnsafeMutableBufferPointer { parser.parse(UnsafeBufferPointer($0), lineNumber: 1, into: EventBatch()) }
        #expect(r?.reason == .notJSONObject)
    }

    @Test(arguments: [
        #"{"event_id":1,"ts":1500,"user_id":5,"item_id":7,"type":"click","surface":"feed"}"#,
        #" { "event_id" : 1 , "ts" : 1500 , "user_id" : 5 , "item_id" : 7 , "type" : "click" , "surface" : "feed" } "#,
        "{\"event_id\":1,\t\"ts\":1500,\"user_id\":5,\"item_id\":7,\"type\":\"click\",\"surface\":\"feed\"}",
    ])
    func accepted(_ line: String) throws {
        let parser = EventParser(rules: ValidationRules(minTs: 0, maxTs: 10_000))
        var bytes = Array(line.utf8)
        let batch = EventBatch()
        let r = bytes.withUnsafeMutableBufferPointer { parser.parse(UnsafeBufferPointer($0), lineNumber: 1, into: batch) }
        #expect(r == nil && batch.count == 1)
    }
}

import Foundation
import Model
import Support
import Testing
import TestSupport

/// Loading refuses every kind of bad checkpoint with an error naming the file and tensor, and
/// never crashes or allocates absurdly on a hostile file.
@Suite struct CheckpointTests {
    /// A copy of the `bf16` golden in a temp directory, with its safetensors header and data apart.
    struct Copy {
        let dir = TempDirectory()
        var header: [String: Any]
        var data: [UInt8]
        var config: [String: Any]

        init() throws {
            let src = Golden.directory("bf16")
            let bytes = try Files.readAll(src + "/model.safetensors")
            let n = Int(UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
            header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
            data = Array(bytes[(8 + n)...])
            config = try JSONSerialization.jsonObject(with: Data(try Files.readAll(src + "/config.json"))) as! [String: Any]
        }

        func tensor(_ name: String) -> [String: Any] { header[name] as! [String: Any] }
        mutating func set(_ name: String, _ key: String, _ value: Any) {
            var t = tensor(name)
            t[key] = value
            header[name] = t
        }

        /// Writes config.json and model.safetensors (optionally with raw header bytes) and loads them.
        func load(rawHeader: [UInt8]? = nil, headerLength: UInt64? = nil, truncateTo: Int? = nil,
                  editConfigText: (String) -> String = { $0 }) throws -> Checkpoint {
            var h = rawHeader ?? []
            if rawHeader == nil { h = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) }
            var file = withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { Array($0) } + h + data
            if let t = truncateTo { file = Array(file.prefix(t)) }
            _ = dir.write("ckpt/model.safetensors", file)
            let text = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
            _ = dir.write("ckpt/config.json", Array(editConfigText(text).utf8))
            return try Checkpoint(directory: dir.file("ckpt"))
        }
    }

    func expectError(_ containing: String, _ body: () throws -> Checkpoint) {
        do {
            _ = try body()
            Issue.record("expected an error containing \"\(containing)\"")
        } catch let e as CheckpointError {
            #expect(e.description.contains(containing), "\(e)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func anUntouchedCopyLoadsAndHasTheIdentityOfItsTwoFiles() throws {
        let c = try Copy()
        let ck = try c.load()
        #expect(ck.dtypes == ["BF16"])
        let h = SHA256Hasher()
        h.update(try Files.readAll(c.dir.file("ckpt/config.json")))
        h.update(try Files.readAll(c.dir.file("ckpt/model.safetensors")))
        #expect(ck.identity == h.finalize().hex)
    }

    @Test func aMissingTensorIsNamedWithItsExpectedShape() throws {
        var c = try Copy()
        c.header.removeValue(forKey: "layers.1.mlp.w_up")
        expectError("tensor layers.1.mlp.w_up is missing (expected shape [88, 32])") { try c.load() }
    }

    @Test func aWrongShapeNamesTheTensorAndBothShapes() throws {
        var c = try Copy()
        // Same byte count, other shape.
        c.set("layers.0.attn.w_dq", "shape", [32, 16])
        expectError("tensor layers.0.attn.w_dq: expected shape [16, 32], found [32, 16]") { try c.load() }
    }

    @Test func anUnsupportedDtypeIsRefused() throws {
        var c = try Copy()
        c.set("final_norm", "dtype", "I16")
        expectError("tensor final_norm: dtype I16 is not supported") { try c.load() }
    }

    @Test func aNonFiniteWeightIsRefused() throws {
        var c = try Copy()
        let offs = c.tensor("query.pos")["data_offsets"] as! [Int]
        c.data[offs[0] + 6] = 0x80; c.data[offs[0] + 7] = 0x7F   // element 3 = +inf in BF16
        expectError("tensor query.pos: element 3 is inf") { try c.load() }
    }

    @Test func anExtraTensorIsRefused() throws {
        var c = try Copy()
        c.header["embed.extra"] = ["dtype": "BF16", "shape": [0], "data_offsets": [0, 0]]
        expectError("tensor embed.extra is not part of this config's tensor table") { try c.load() }
    }

    @Test func truncatedFilesAreErrors() throws {
        let c = try Copy()
        expectError("truncated") { try c.load(truncateTo: 5) }
        expectError("past the end of the data") { try c.load(truncateTo: 8 + 4000 + c.data.count / 2) }
    }

    @Test func anAbsurdHeaderLengthIsRefusedBeforeAnyAllocation() throws {
        let c = try Copy()
        expectError("header length 18446744073709551615 exceeds the file") { try c.load(headerLength: .max) }
        expectError("header length 1099511627776 exceeds the file") { try c.load(headerLength: 1 << 40) }
    }

    @Test func reversedOverlappingAndOverflowingRangesAreErrors() throws {
        var c = try Copy()
        let offs = c.tensor("final_norm")["data_offsets"] as! [Int]
        c.set("final_norm", "data_offsets", [offs[1], offs[0]])
        expectError("tensor final_norm: data_offsets") { try c.load() }

        c = try Copy()
        let a = c.tensor("head.a1")["data_offsets"] as! [Int]
        let b = c.tensor("head.b1")["data_offsets"] as! [Int]
        c.set("head.b1", "data_offsets", [a[0], a[0] + (b[1] - b[0])])
        expectError("overlap") { try c.load() }

        c = try Copy()
        c.set("final_norm", "shape", [1 << 62, 1 << 62])
        expectError("tensor final_norm: shape") { try c.load() }
        c.set("final_norm", "shape", [-1])
        expectError("tensor final_norm: shape") { try c.load() }
    }

    @Test func badHeaderJSONIsAnError() throws {
        let c = try Copy()
        expectError("header is not valid JSON") { try c.load(rawHeader: Array("{\"a\": [1, 2".utf8)) }
        expectError("header is not valid JSON") { try c.load(rawHeader: Array("{\"a\":1,\"a\":2}".utf8)) }
        expectError("header is not a JSON object") { try c.load(rawHeader: Array("[1]".utf8)) }
    }

    @Test func badConfigFieldsAreNamed() throws {
        var c = try Copy()
        c.config["heads"] = "four"
        expectError("field heads") { try c.load() }
        c = try Copy()
        c.config["item_buckets"] = 1000
        expectError("field item_buckets: a power of two") { try c.load() }
        c = try Copy()
        c.config.removeValue(forKey: "semantic_model")
        expectError("field semantic_model") { try c.load() }
    }

    @Test func configRefusesAZeroNMaxNonIntegerShapesAndUnknownKeys() throws {
        var c = try Copy()
        c.config["n_max"] = 0
        expectError("field n_max") { try c.load() }
        c = try Copy()
        let buckets = c.config["item_buckets"] as! Int
        expectError("field item_buckets: must be an integer") {
            try c.load(editConfigText: { $0.replacingOccurrences(of: "\"item_buckets\":\(buckets)", with: "\"item_buckets\":\(buckets).0") })
        }
        c = try Copy()
        c.config["d"] = 2.5
        expectError("field d") { try c.load() }
        c = try Copy()
        c.config["dropout"] = 0.1
        expectError("unknown key dropout") { try c.load() }
    }

    /// A value quoted in a message is written as JSON, never as a Swift value dump.
    @Test func configAndHeaderValuesAreQuotedAsJSON() throws {
        var c = try Copy()
        c.config["format"] = "llx"
        expectError("field format: \"llatte-checkpoint-v1\" expected, found \"llx\"") { try c.load() }
        c = try Copy()
        c.config["d"] = "llatte"
        expectError("field d: an integer in 1...65536 is required, found \"llatte\"") { try c.load() }
        c = try Copy()
        c.config["d"] = -16384
        expectError("field d: an integer in 1...65536 is required, found -16384") { try c.load() }
        c = try Copy()
        c.set("final_norm", "shape", [-16384])
        expectError("tensor final_norm: shape [-16384] is not a list of non-negative integers") { try c.load() }
        c.set("final_norm", "shape", [1 << 62, 1 << 62])
        expectError("tensor final_norm: shape [4611686018427387904,4611686018427387904] has more elements than the file holds") { try c.load() }
    }

    /// A file that cannot be read is named once, and a directory in its place is called one.
    @Test func anUnreadableFileIsNamedOnceAndADirectoryIsCalledOne() throws {
        let c = try Copy()
        _ = try c.load()
        let missing = c.dir.file("nope")
        #expect(throws: CheckpointError(file: missing + "/config.json", "open failed: No such file or directory")) { try Checkpoint(directory: missing) }
        let ckpt = c.dir.file("ckpt")
        #expect(throws: CheckpointError(file: ckpt + "/selftest.json", "missing: every checkpoint carries its self-test cases")) {
            try Checkpoint.loadVerified(directory: ckpt)
        }
        try Files.makeDirectories(ckpt + "/selftest.json")
        #expect(throws: CheckpointError(file: ckpt + "/selftest.json", "is a directory, where a file is expected")) {
            try Checkpoint.loadVerified(directory: ckpt)
        }
        for name in ["model.safetensors", "config.json"] {
            let path = ckpt + "/" + name
            #expect(unlink(path) == 0)
            try Files.makeDirectories(path)
            #expect(throws: CheckpointError(file: path, "is a directory, where a file is expected")) { try Checkpoint(directory: ckpt) }
            rmdir(path)
            _ = try c.load()
        }
    }

    @Test func aSelfTestNeedsAUserWithEventsAndOneWithout() throws {
        let c = try Copy()
        _ = try c.load()
        let doc = try JSONSerialization.jsonObject(with: Data(try Files.readAll(Golden.directory("bf16") + "/selftest.json"))) as! [String: Any]
        let expected = doc["expected"] as! [[String: Any]]
        let withEvents = expected.filter { ($0["n_events"] as! Int) > 0 }, without = expected.filter { ($0["n_events"] as! Int) == 0 }
        #expect(!withEvents.isEmpty && !without.isEmpty)
        for (cases, missing) in [([[String: Any]](), "no case"), (withEvents, "a user without events"), (without, "a user with events")] {
            var d = doc
            d["expected"] = cases
            _ = c.dir.write("ckpt/selftest.json", Array(try JSONSerialization.data(withJSONObject: d)))
            do {
                _ = try Checkpoint.loadVerified(directory: c.dir.file("ckpt"))
                Issue.record("a self-test with \(cases.count) cases lacking \(missing) must not pass")
            } catch {
                #expect(error.description.contains("selftest.json") && error.description.contains(missing), "\(error)")
            }
        }
    }

    @Test func loadingRefusesACheckpointWhoseSelfTestFailsOrIsMissing() throws {
        let c = try Copy()
        _ = try c.load()
        let ckpt = c.dir.file("ckpt")
        // Missing.
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.loadVerified(directory: ckpt) }
        // Present and passing.
        var doc = try JSONSerialization.jsonObject(with: Data(try Files.readAll(Golden.directory("bf16") + "/selftest.json"))) as! [String: Any]
        _ = c.dir.write("ckpt/selftest.json", Array(try JSONSerialization.data(withJSONObject: doc)))
        let (_, report) = try Checkpoint.loadVerified(directory: ckpt)
        #expect(report.passed && report.users == 8)
        // One expected value moved far outside the tolerance: the load fails naming the user.
        var expected = doc["expected"] as! [[String: Any]]
        var z = expected[1]["z"] as! [[Double]]
        z[0][0] += 1
        expected[1]["z"] = z
        doc["expected"] = expected
        _ = c.dir.write("ckpt/selftest.json", Array(try JSONSerialization.data(withJSONObject: doc)))
        do {
            _ = try Checkpoint.loadVerified(directory: ckpt)
            Issue.record("a failing self-test must stop the load")
        } catch {
            #expect(error.description.contains("self-test failed") && error.description.contains("user \(expected[1]["user_id"]!)"), "\(error)")
        }
    }

    @Test func aFailingSelfTestIsReported() throws {
        let g = try Golden("bf16")
        var cases = g.cases
        cases.expected[2].z[0] += 0.05
        let report = try SelfTest.run(g.checkpoint, cases: cases, file: "selftest.json")
        #expect(!report.passed)
        #expect(report.failures.contains { $0.contains("user \(cases.expected[2].userID)") })
        // A case set for another semantic model is refused outright.
        cases.semanticModel = "other-sem"
        #expect(throws: CheckpointError.self) { try SelfTest.run(g.checkpoint, cases: cases, file: "selftest.json") }
    }
}

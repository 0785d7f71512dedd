import Foundation
import Model
import Support
import Testing
import TestSupport

/// Seeded mutation fuzzing of the checkpoint loader (`Checkpoint.loadVerified`: config.json, the
/// safetensors file, selftest.json and its self-test run): real checkpoints with bytes flipped,
/// inserted, removed and cut, in the JSON texts, in the safetensors header (with its length
/// prefix kept or fixed up) and in the raw weights. Every input loads or is refused with a
/// `CheckpointError` naming one of the three files; nothing crashes or hangs.
@Suite struct CheckpointFuzzTests {
    static let files = ["config.json", "model.safetensors", "selftest.json"]

    /// A checkpoint's three files, read once, and its JSON documents parsed (the safetensors
    /// header under "model.safetensors").
    struct Seed {
        let name: String
        let files: [String: [UInt8]]
        let documents: [String: Any]

        init(name: String, directory: String) throws {
            self.name = name
            var files: [String: [UInt8]] = [:], documents: [String: Any] = [:]
            for file in CheckpointFuzzTests.files {
                let bytes = try Files.readAll(directory + "/" + file)
                files[file] = bytes
                documents[file] = try JSONSerialization.jsonObject(with: Data(file == "model.safetensors" ? Array(safetensorsHeader(bytes)) : bytes))
            }
            self.files = files
            self.documents = documents
        }
    }

    /// The JSON header of a safetensors file.
    static func safetensorsHeader(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        let n = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        return bytes[8..<(8 + n)]
    }

    /// `bytes` with its safetensors header replaced, the length prefix fixed up.
    static func withHeader(_ bytes: [UInt8], _ header: [UInt8]) -> [UInt8] {
        let n = safetensorsHeader(bytes).count
        return withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + Array(bytes[(8 + n)...])
    }

    @Test func theLoaderLoadsOrRefusesMutatedCheckpoints() throws {
        var root = #filePath
        for _ in 0..<3 { root = Files.parentDirectory(root) }
        let seeds = [try Seed(name: "sample-data", directory: root + "/sample-data/checkpoint"),
                     try Seed(name: "bf16 golden", directory: Goldens.directory("bf16"))]
        let dir = TempDirectory("llatte-fuzz", under: TempDirectory.inMemory)
        // The JSON documents written back unmutated still load: value mutations start from a valid checkpoint.
        try Files.makeDirectories(dir.file("seed"))
        for seed in seeds {
            var files = seed.files
            for name in CheckpointFuzzTests.files {
                let text = Array(try JSONSerialization.data(withJSONObject: seed.documents[name]!, options: [.sortedKeys]))
                files[name] = name == "model.safetensors" ? CheckpointFuzzTests.withHeader(files[name]!, text) : text
            }
            for (name, bytes) in files { TempDirectory.overwrite(dir.file("seed/" + name), bytes) }
            #expect(try Checkpoint.loadVerified(directory: dir.file("seed")).1.passed, "\(seed.name)")
        }
        let campaign = FuzzCampaign("CheckpointFuzzTests")
        let report = campaign.run(defaultIterations: 400, share: 0.05) { _, rng in
            CheckpointFuzzTests.check(seed: rng.pick(seeds), directory: dir.file("ckpt"), rng: &rng)
        }
        print(report.summary)
        for f in report.failures { Issue.record(Comment(rawValue: f)) }
        #expect(report.hangs == 0)
        // Not vacuous: a real share of the inputs reach each outcome (checked on runs of 200 inputs or more).
        if campaign.settings.only == nil && report.inputs >= 200 {
            #expect(report.count("loaded") * 40 >= report.inputs, "\(report.summary)")
            #expect(report.count("refused") * 2 >= report.inputs, "\(report.summary)")
            for file in CheckpointFuzzTests.files {
                #expect(report.tallies["refused: \(file)", default: 0] * 20 >= report.inputs, "\(report.summary)")
            }
        }
    }

    /// Mutates one or two of `seed`'s files, writes the checkpoint to `directory` and loads it.
    static func check(seed: Seed, directory: String, rng: inout SplitMix64) -> FuzzResult {
        var files = seed.files
        var mutations: [String] = []
        let targets = rng.chance(0.8) ? [rng.pick(CheckpointFuzzTests.files)] : CheckpointFuzzTests.files.filter { _ in rng.chance(0.6) }
        for name in targets {
            var bytes = files[name]!
            if rng.chance(0.5) {
                // A value of the JSON document changed, removed or added: valid JSON, so the
                // loader's checks of the content are reached.
                var tree = JSONValueMutator(rng: rng)
                let document = tree.mutate(seed.documents[name]!)
                rng = tree.rng
                // Keys sorted: the text, like the document, is a function of the generator alone.
                let text = Array(try! JSONSerialization.data(withJSONObject: document, options: [.fragmentsAllowed, .sortedKeys]))
                bytes = name == "model.safetensors" ? withHeader(bytes, text) : text
                mutations += tree.applied.map { "\(name) \($0)" }
            } else if name == "model.safetensors" {
                mutations += mutateSafetensors(&bytes, rng: &rng).map { "\(name) \($0)" }
            } else {
                mutations += ByteMutator.json.mutate(&bytes, count: 1 + rng.below(rng.chance(0.8) ? 3 : 12), rng: &rng,
                                                     donor: seed.files[rng.pick(["config.json", "selftest.json"])]!).map { "\(name) \($0)" }
            }
            files[name] = bytes
        }
        try! Files.makeDirectories(directory)
        for (name, bytes) in files { TempDirectory.overwrite(directory + "/" + name, bytes) }

        let context = "\(seed.name) checkpoint, mutations \(mutations.prefix(12))"
        do {
            let (_, report) = try Checkpoint.loadVerified(directory: directory)
            guard report.passed else { return FuzzResult(outcome: "loaded", failures: ["loaded with a failing self-test [\(context)]"]) }
            return FuzzResult(outcome: "loaded")
        } catch {
            // The error names the file it is about, one of the checkpoint's three.
            let known = CheckpointFuzzTests.files.first { error.file == directory + "/" + $0 }
            var result = FuzzResult(outcome: "refused", tallies: ["refused: \(known ?? "another file")": 1])
            if known == nil { result.failures.append("the error names no file of the checkpoint: \(error) [\(context)]") }
            return result
        }
    }

    /// Safetensors mutations: mostly in the JSON header (its length prefix then fixed up, or not),
    /// else in the length prefix and the weights, or a cut.
    static func mutateSafetensors(_ bytes: inout [UInt8], rng: inout SplitMix64) -> [String] {
        let n = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        switch rng.below(10) {
        case 0..<7:
            var header = Array(bytes[8..<(8 + n)])
            var applied = ByteMutator.json.mutate(&header, count: 1 + rng.below(3), rng: &rng)
            var length = UInt64(n)
            if rng.chance(0.7) {
                length = UInt64(header.count)
                applied.append("length fixed")
            }
            bytes = withUnsafeBytes(of: length.littleEndian) { Array($0) } + header + Array(bytes[(8 + n)...])
            return applied
        case 7, 8:
            let binary = ByteMutator(tokens: [[0, 0, 0x80, 0x7F], [0, 0x7F], [0xFF, 0xFF], [0, 0, 0, 0, 0, 0, 0, 0]])
            var tail = Array(bytes[(8 + n)...])
            let applied = binary.mutate(&tail, count: 1 + rng.below(4), rng: &rng)
            if rng.chance(0.3) { bytes[rng.below(8)] = UInt8(truncatingIfNeeded: rng.next()) }
            bytes = Array(bytes[..<(8 + n)]) + tail
            return applied.map { "weights " + $0 }
        default:
            let keep = rng.below(bytes.count)
            bytes.removeSubrange(keep...)
            return ["cut at \(keep)"]
        }
    }
}

/// Mutations of a parsed JSON document (Foundation's `Any` tree): along one random path, a value is
/// replaced by an edge case (numbers at type limits, negative, fractional, huge; empty strings,
/// arrays and objects; null), an array element removed or duplicated, or an object key removed,
/// renamed or added.
struct JSONValueMutator {
    var rng: SplitMix64
    var applied: [String] = []

    static var numbers: [Any] { [0, -1, 1, 2, 3, 7, 64, 65536, 1 << 31, Int64.max, UInt64.max, 1.5, -0.5, 1e300, 4096, 100_000] }

    mutating func mutate(_ value: Any, path: String = "") -> Any {
        if let object = value as? [String: Any], !object.isEmpty, rng.chance(0.75) {
            let key = object.keys.sorted()[rng.below(object.count)]
            var copy = object
            copy[key] = mutate(object[key]!, path: path + "." + key)
            return copy
        }
        if let array = value as? [Any], !array.isEmpty, rng.chance(0.75) {
            let i = rng.below(array.count)
            var copy = array
            copy[i] = mutate(array[i], path: path + "[\(i)]")
            return copy
        }
        return replace(value, path: path)
    }

    private mutating func replace(_ value: Any, path: String) -> Any {
        if var object = value as? [String: Any], !object.isEmpty, rng.chance(0.6) {
            let key = object.keys.sorted()[rng.below(object.count)]
            switch rng.below(3) {
            case 0:
                object.removeValue(forKey: key)
                applied.append("\(path).\(key) removed")
            case 1:
                object[key + "x"] = object.removeValue(forKey: key)
                applied.append("\(path).\(key) renamed")
            default:
                object["extra"] = rng.pick(JSONValueMutator.numbers)
                applied.append("\(path).extra added")
            }
            return object
        }
        if var array = value as? [Any], !array.isEmpty, rng.chance(0.6) {
            let i = rng.below(array.count)
            if rng.chance(0.5) { array.remove(at: i) } else { array.insert(array[i], at: i) }
            applied.append("\(path)[\(i)] removed or doubled")
            return array
        }
        applied.append("\(path) replaced")
        switch rng.below(10) {
        case 0..<6: return rng.pick(JSONValueMutator.numbers)
        case 6: return rng.pick(["", "x", "F32", "F16", "BF16", "I8", "categorical", "dense", "llatte-checkpoint-v1"])
        case 7: return NSNull()
        case 8: return [Any]()
        default: return [String: Any]()
        }
    }
}

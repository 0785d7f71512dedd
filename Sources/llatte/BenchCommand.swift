import ArgumentParser
import Events
import Pipeline
import Store
import Support

/// `llatte bench`: measurements the benchmark script composes (see docs/performance.md).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure llatte's stages (used by `make bench`).",
        subcommands: [Read.self, StoreChecksum.self, Encode.self, PipelineStages.self, BenchExportStoreCommand.self])

    /// The read stage alone: decompress + parse + validate into events, on this thread only.
    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the read stage (decompress, parse, validate) on one core; print MB/s and the events' checksum.")

        @Option(name: .customLong("min-ts")) var minTs: Int64 = Int64.min
        @Option(name: .customLong("max-ts")) var maxTs: Int64 = Int64.max
        @Option(name: .customLong("repeat"), help: "Runs; the best is reported.") var repeats: Int = 3
        @Flag(name: .customLong("lines-only"), help: "Stop after decompression and line splitting (no parsing): the I/O share of the stage.")
        var linesOnly = false
        @Flag(name: .customLong("parse-only"), help: "Decompress every line into memory first, then time parsing alone: the parser's share.")
        var parseOnly = false
        @Argument(help: "Event log files.") var files: [String]

        func run() throws {
            if parseOnly { return try runParseOnly() }
            var best = Double.infinity
            var bytes = 0, events = 0, rejected = 0
            var checksum: UInt64 = 0
            for _ in 0..<max(1, repeats) {
                let parser = EventParser(rules: ValidationRules(minTs: minTs, maxTs: maxTs))
                let batch = EventBatch(capacity: 1 << 16)
                bytes = 0; events = 0; rejected = 0; checksum = 0
                let t0 = monotonicSeconds()
                for f in files where linesOnly {
                    let reader = LogReader(path: f, hashContent: false)
                    var n = 0
                    try reader.forEachLine({ _, line in n &+= line.count }, overlong: { _, _ in })
                    bytes += reader.decompressedBytes
                    checksum = checksum &+ UInt64(n)
                }
                for f in files where !linesOnly {
                    let s = try readEventLog(path: f, parser: parser, batch: batch, batchSize: 1 << 16, hashContent: false,
                                             onBatch: { _ in }, onReject: { _ in })
                    bytes += s.decompressedBytes
                    events += s.events
                    rejected += s.rejected
                    checksum = checksum &+ s.checksum
                }
                best = min(best, monotonicSeconds() - t0)
            }
            print("read_stage bytes=\(bytes) events=\(events) rejected=\(rejected) seconds=\(fixed(best, 3)) MB/s=\(fixed(Double(bytes) / 1e6 / best, 1)) checksum=\(String(checksum, radix: 16))")
        }

        private func runParseOnly() throws {
            var input = ParseOnlyInput()
            for f in files {
                try LogReader(path: f, hashContent: false).forEachLine({ _, line in
                    input.bytes.append(contentsOf: line)
                    input.lineEnds.append(input.bytes.count)
                }, overlong: { _, _ in })
            }
            var best = Double.infinity
            var events = 0
            var checksum: UInt64 = 0
            for _ in 0..<max(1, repeats) {
                let parser = EventParser(rules: ValidationRules(minTs: minTs, maxTs: maxTs))
                let batch = EventBatch(capacity: 1 << 16)
                var sum = EventChecksum()
                events = 0
                let t0 = monotonicSeconds()
                input.bytes.withUnsafeBufferPointer { all in
                    var start = 0
                    for (k, end) in input.lineEnds.enumerated() {
                        if parser.parse(UnsafeBufferPointer(rebasing: all[start..<end]), lineNumber: k + 1, into: batch) == nil { events += 1 }
                        start = end
                        if batch.count >= 1 << 16 {
                            sum.add(batch, parser: parser)
                            batch.removeAll()
                        }
                    }
                    sum.add(batch, parser: parser)
                }
                best = min(best, monotonicSeconds() - t0)
                checksum = sum.value
            }
            let bytes = input.bytes.count + input.lineEnds.count
            print("parse_only bytes=\(bytes) events=\(events) seconds=\(fixed(best, 3)) MB/s=\(fixed(Double(bytes) / 1e6 / best, 1)) ns/line=\(fixed(best * 1e9 / Double(max(1, input.lineEnds.count)), 1)) checksum=\(String(checksum, radix: 16))")
        }
    }

    /// Parsing alone, over lines held in memory (for profiles; needs the decompressed size in RAM).
    struct ParseOnlyInput {
        var bytes: [UInt8] = []
        var lineEnds: [Int] = []
    }

    /// The checksum of every event in a history store, to compare with the read stage's.
    struct StoreChecksum: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "store-checksum", abstract: "Print the event count and checksum of a history store.")
        @Option(name: .customLong("history-store")) var historyStore: String

        func run() throws {
            let store = try HistoryStore(path: historyStore, settings: nil)
            let c = try store.eventChecksum()
            print("store events=\(c.events) checksum=\(String(c.checksum, radix: 16))")
        }
    }
}

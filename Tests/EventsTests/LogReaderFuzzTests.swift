import Events
import Support
import Testing
import TestSupport

/// Seeded mutation fuzzing of the read stage (`readEventLog`): valid logs with bytes flipped,
/// inserted, removed and cut, on the decompressed side and on the compressed side. For every input:
/// no crash, no hang, a refused file is a `LogReadError`, every non-blank line is an event or a
/// quarantined line (lines = events + rejected), and the lines, events and reasons are those of
/// the plain twin (`ReferenceLog`: liblz4's frame API and the general parser alone).
///
/// `LLATTE_FUZZ_SEED`, `LLATTE_FUZZ_ITER` and `LLATTE_FUZZ_ONLY` set the campaign (`make fuzz`).
@Suite struct LogReaderFuzzTests {
    @Test func theReadStageAgreesWithItsTwinOnMutatedLogs() throws {
        let seeds = EventLogFuzzInput.seedLogs()
        let dir = TempDirectory("llatte-fuzz", under: TempDirectory.inMemory)
        let campaign = FuzzCampaign("LogReaderFuzzTests")
        let report = campaign.run(defaultIterations: 3000) { _, rng in
            let input = EventLogFuzzInput(seeds: seeds, rng: &rng)
            let path = dir.overwrite(input.kind == .plain ? "input.jsonl" : "input.jsonl.lz4", input.bytes)
            let batchSize = 1 + rng.below(48)
            return LogReaderFuzzTests.check(input, path: path, batchSize: batchSize)
        }
        print(report.summary)
        for f in report.failures { Issue.record(Comment(rawValue: f)) }
        #expect(report.hangs == 0)
        // Not vacuous: a real share of the inputs reach each outcome (checked on runs of 500 inputs or more).
        if campaign.settings.only == nil && report.inputs >= 500 {
            let n = Double(report.inputs)
            #expect(Double(report.count("file rejected")) >= 0.08 * n, "\(report.summary)")
            #expect(Double(report.count("quarantined")) >= 0.3 * n, "\(report.summary)")
            #expect(Double(report.count("accepted")) >= 0.03 * n, "\(report.summary)")
            #expect(report.lines >= 10 * report.inputs, "\(report.summary)")
        }
    }

    /// Reads `path` with the read stage and compares everything with the twin.
    static func check(_ input: EventLogFuzzInput, path: String, batchSize: Int) -> FuzzResult {
        let check = ReadStageCheck(file: input.bytes, path: path, rules: EventLogFuzzInput.rules, maxLineBytes: input.maxLineBytes, batchSize: batchSize)
        let context = "\(input.kind.rawValue) input of \(input.bytes.count) bytes, line limit \(input.maxLineBytes), mutations \(input.mutations.prefix(12))"
        return FuzzResult(outcome: check.outcome, lines: check.lines, tallies: ["kind \(input.kind.rawValue)": 1],
                          failures: check.failures.map { "\($0) [\(context)]" })
    }
}

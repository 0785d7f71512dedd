import ArgumentParser
import Pipeline
import Support
#if canImport(Glibc)
import Glibc
#endif

/// The `llatte` command: offline LLaTTE user-interest embeddings, from event logs to SQLite.
@main
struct Llatte: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llatte",
        abstract: "Precompute LLaTTE user-interest embeddings from event logs into SQLite.",
        discussion: """
            Stages: ingest event logs into a history store, select users, build token sequences, \
            encode with the offline transformer, quantize to int8, write the embedding store.
            """,
        version: llatteVersion,
        subcommands: [RunCommand.self, RunsCommand.self, IngestCommand.self, EncodeCommand.self, GetCommand.self, ForgetCommand.self, ModelCommand.self,
                      MergeCommand.self, VerifyCommand.self, StatsCommand.self, CatalogCommand.self,
                      SampleCommand.self, BenchCommand.self, ExportCommand.self]
    )

    /// Refuses to start on a CPU below the level the encoder kernels were built for, with a message
    /// instead of an illegal-instruction crash mid-run.
    static func main() {
        #if LLATTE_X86_64_V3
        let missing = CPULevel.missing(CPULevel.x86_64_v3Flags)
        if !missing.isEmpty {
            logLine("llatte: this build's encoder kernels need an x86-64-v3 CPU (AVX2, FMA); this one lacks "
                    + missing.joined(separator: ", ") + ". Rebuild with `make build LLATTE_CPU=portable`.")
            Glibc.exit(ExitStatus.failure.rawValue)
        }
        #endif
        main(commandLineArguments())
    }

    /// The arguments after the program name: each as given when it is UTF-8, else its spelling
    /// (`PathSpelling`, e.g. `day-\xE9.jsonl`), so a file name's bytes survive parsing, where
    /// `CommandLine.arguments` would replace them with U+FFFD and name no file.
    static func commandLineArguments() -> [String] {
        (1..<Int(CommandLine.argc)).compactMap { i in
            CommandLine.unsafeArgv[i].map { String(validatingCString: $0) ?? PathSpelling.spell(cString: $0) }
        }
    }
}

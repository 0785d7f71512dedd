import ArgumentParser

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
        subcommands: [RunCommand.self, IngestCommand.self, EncodeCommand.self, GetCommand.self, ForgetCommand.self, ModelCommand.self,
                      MergeCommand.self, VerifyCommand.self, StatsCommand.self, CatalogCommand.self,
                      SampleCommand.self, BenchCommand.self]
    )
}

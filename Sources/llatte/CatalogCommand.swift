import ArgumentParser
import Pipeline
import Store
import Support

/// `llatte catalog`: build, grow and inspect an item catalog.
struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Import items into an item catalog or show what a catalog holds.",
        subcommands: [Import.self, Info.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add items from JSON Lines ({\"item_id\": U, \"text\": \"…\", \"vector\": [d_sem floats]}) to a catalog.",
            discussion: "A new catalog records the semantic model; an existing one accepts only items from the same model and d_sem.")

        @Option(help: "Catalog file (SQLite).") var catalog: String
        @Option(name: .customLong("semantic-model"), help: "Id of the model that made the vectors.") var semanticModel: String
        @Option(name: .customLong("d-sem"), help: "Vector length.") var dSem: Int
        @Argument(help: "JSON Lines files of items.") var files: [String]

        func run() throws {
            let writer = try CatalogWriter(path: catalog, semanticModel: semanticModel, dSem: dSem)
            var total = 0
            for file in files {
                let items = try CatalogImport.read(file, dSem: dSem)
                try writer.add(items)
                total += items.count
            }
            try writer.close()
            print("catalog \(catalog): added or replaced \(total) items (semantic model \(semanticModel), d_sem \(dSem))")
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a catalog's semantic model, size and content hash.")
        @Argument(help: "Catalog file.") var catalog: String

        func run() throws {
            let c = try Catalog(path: catalog)
            print("catalog         \(catalog)")
            print("semantic model  \(c.semanticModel)")
            print("d_sem           \(c.dSem)")
            print("items           \(try c.count())")
            print("content sha256  \(try c.contentHash().hex)")
        }
    }
}

// swift-tools-version:6.0
// llatte: offline LLaTTE user-interest embeddings, from event logs to an int8 SQLite store.
import Foundation
import PackageDescription

// The CPU level the encoder's kernels and the event parser are compiled for (docs/performance.md,
// "Build target"): LLATTE_CPU=x86-64-v3 compiles them for AVX2 + FMA (what `make` picks on a CPU
// that has them); unset or `portable`, the build runs on any CPU of its architecture.
let cpuLevel = ProcessInfo.processInfo.environment["LLATTE_CPU"] ?? "portable"
// Those modules get the target CPU; `Support` (where the check runs) stays portable, and the command
// line only learns the level, so that it can check the machine before any of their code runs.
// The 16-lane attention kernel (`TensorAVX512`) is compiled for AVX-512 in the x86-64-v3 build and
// called only where the CPU has it (`Attention.forward` checks); `skylake-avx512` is LLVM's name for
// AVX-512 F, CD, BW, DQ and VL without a preference for 256-bit vectors.
let cpuFlags: [SwiftSetting], cpuLevelDefine: [SwiftSetting], avx512Flags: [SwiftSetting]
switch cpuLevel {
case "portable", "":
    cpuFlags = []; cpuLevelDefine = []; avx512Flags = []
case "x86-64-v3":
    cpuFlags = [.unsafeFlags(["-target-cpu", "haswell"]), .define("LLATTE_FMA")]
    cpuLevelDefine = [.define("LLATTE_X86_64_V3")]
    avx512Flags = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
default:
    fatalError("LLATTE_CPU must be `portable` or `x86-64-v3`, not `\(cpuLevel)`")
}

// Release builds: the byte scanner and store code hold their state in classes, whose dynamic
// exclusivity checks cost more than the parsing itself (measured: docs/performance.md). Debug
// builds, which the tests use, keep the checks on.
let hotPathFlags: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release)),
]

// The encoder's modules are optimized in debug builds too: the tests run real models (the sample
// backfill, n = 4096 goldens), which take minutes at -Onone; release semantics are what ships.
let encoderFlags: [SwiftSetting] = hotPathFlags + [.unsafeFlags(["-O"], .when(configuration: .debug))] + cpuFlags

let package = Package(
    name: "llatte",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "llatte", targets: ["llatte"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // C libraries from Debian's -dev packages, one shim header each.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),

        // Byte-level foundations shared by every layer: files, hashing, locks, JSON.
        .target(name: "Support", dependencies: ["CCrypto", "CMalloc"], swiftSettings: hotPathFlags),
        // Event logs: LZ4 frames, the JSONL event scanner, validation, quarantine.
        .target(name: "Events", dependencies: ["Support", "CLZ4"], swiftSettings: hotPathFlags + cpuFlags),
        // SQLite stores: history store, user features, item catalog.
        .target(name: "Store", dependencies: ["Support", "Events", "CSQLite", "CLZ4"], swiftSettings: hotPathFlags),
        // bf16 linear-layer products on AVX-512 BF16 (C with intrinsics; used only where the CPU has them).
        .target(name: "CBF16", path: "Sources/CBF16", cSettings: [.unsafeFlags(["-O2"])]),
        // The fused attention on 16-lane vectors, for CPUs with AVX-512 (same results as Tensor's).
        .target(name: "TensorAVX512", swiftSettings: hotPathFlags + [.unsafeFlags(["-O"], .when(configuration: .debug))] + avx512Flags),
        // Encoder kernels: packed-weight products, fused SIMD row kernels, OpenBLAS as their plain twin.
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CBF16", "TensorAVX512"], swiftSettings: encoderFlags),
        // The offline model: checkpoint loading, tokenizer, encoder, quantization, self-test.
        .target(name: "Model", dependencies: ["Support", "Events", "Store", "Tensor"], swiftSettings: encoderFlags),
        // Deterministic realistic data generator (logs, catalog, features, ground truth).
        .target(name: "Sample", dependencies: ["Support", "Events", "Store", "CLZ4"]),
        // Job wiring: pipeline YAML, ingest stage, locks, reports.
        .target(name: "Pipeline", dependencies: ["Support", "Events", "Store", "Model", "Tensor", .product(name: "Yams", package: "Yams")]),
        // The command-line tool; thin over Pipeline.
        .executableTarget(name: "llatte", dependencies: [
            "Support", "Events", "Store", "Sample", "Pipeline", "Model", "Tensor", "COpenBLAS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: cpuLevelDefine),

        .target(name: "TestSupport", dependencies: ["Support", "Events", "Store", "CLZ4"], path: "Tests/TestSupport",
                resources: [.copy("Goldens")]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CSQLite", "CLZ4", "COpenBLAS", "CCrypto", "CMalloc", "Support"]),
        .testTarget(name: "SupportTests", dependencies: ["Support", "TestSupport"]),
        .testTarget(name: "EventsTests", dependencies: ["Events", "Support", "TestSupport", "CLZ4"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Events", "Support", "TestSupport"]),
        .testTarget(name: "SampleTests", dependencies: ["Sample", "Store", "Events", "Support", "TestSupport"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TensorAVX512"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Tensor", "Store", "Events", "Support", "Pipeline", "TestSupport"],
                    resources: [.copy("Spec")]),
        // Real `llatte` processes: crashes, signals, locks, concurrent readers.
        .testTarget(name: "ProcessTests", dependencies: ["llatte", "Pipeline", "Store", "Support", "Tensor", "Model", "TestSupport",
                                                       .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Store", "Events", "Support", "Sample", "TestSupport"]),
    ]
)

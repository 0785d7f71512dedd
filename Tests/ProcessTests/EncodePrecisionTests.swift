import Foundation
import Model
import Pipeline
import Store
import Support
import Tensor
import Testing
import TestSupport

/// `encode.precision`: fp32 or bf16, bf16 refused with a clear reason on a CPU without AVX-512 BF16,
/// and where it runs, a checkpoint that strays too far from fp32 in bf16 refused before encoding.
@Suite struct EncodePrecisionTests {
    func withPrecision(_ w: PipelineWorld, _ value: String) throws -> String {
        let text = String(decoding: try Files.readAll(w.dir.file("backfill.yaml")), as: UTF8.self)
        let edited = text.replacingOccurrences(of: "encode:\n  threads: 2\n", with: "encode:\n  threads: 2\n  precision: \(value)\n")
        #expect(edited != text)
        return w.dir.write("backfill.yaml", text: edited)
    }

    @Test func anUnknownPrecisionIsRefusedNamingTheKey() throws {
        let w = try PipelineWorld(users: 4)
        let path = try withPrecision(w, "fp16")
        #expect {
            try PipelineConfig.load(path)
        } throws: { e in (e as? ConfigError)?.key == "encode.precision" && "\(e)".contains("must be fp32 or bf16") }
    }

    @Test func bf16IsRefusedWhereTheCPUCannotRunIt() throws {
        let w = try PipelineWorld(users: 4)
        let path = try withPrecision(w, "bf16")
        if BF16Gemm.isSupported {
            #expect(try PipelineConfig.load(path).encodeOptions?.precision == .bf16)
        } else {
            #expect {
                try PipelineConfig.load(path)
            } throws: { e in (e as? ConfigError)?.key == "encode.precision" && "\(e)".contains("AVX-512 BF16") }
        }
    }

    /// The world's checkpoint (the `small` golden: d = 16) strays from fp32 in bf16 at short
    /// histories, so a bf16 backfill is refused before anything is written, saying why.
    @Test(.enabled(if: BF16Gemm.isSupported, "needs a CPU with AVX-512 BF16"))
    func aCheckpointTheBF16SelfCheckRefusesIsNotEncoded() throws {
        let w = try PipelineWorld(users: 8)
        _ = try withPrecision(w, "bf16")
        let p = try w.run("backfill")
        #expect(p.wait() != 0, "\(p.stderr)")
        #expect(p.stderr.contains("encode.precision bf16") && p.stderr.contains("encode it in fp32"), "\(p.stderr)")
        let written = Files.exists(w.dir.file("out/embeddings.db")) ? try w.rows().count : 0
        #expect(written == 0)
    }

    @Test func theRunRecordNamesBF16() {
        #expect(CPUKernel.id(.bf16).hasSuffix("/bf16") && !CPUKernel.id(.fp32).hasSuffix("/bf16"))
    }
}

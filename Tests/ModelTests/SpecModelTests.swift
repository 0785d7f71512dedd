import Foundation
import Model
import Testing

/// The engine against a d = 2, L = 1 model whose expected output `Spec/spec_model.py` derives in
/// float64 straight from docs/checkpoint.md's formulas (no reference module, no engine output).
@Suite struct SpecModelTests {
    @Test func tinyModelMatchesTheFormulasWorkedOutInFloat64() throws {
        let dir = Bundle.module.resourcePath! + "/Spec/model"
        let checkpoint = try Checkpoint(directory: dir)
        let cases = try CaseSet.load(dir + "/selftest.json")
        #expect(cases.expected.map(\.nEvents) == [3, 0])   // four events, n_max 3; a features-only user
        for plain in [false, true] {
            let report = try SelfTest.run(checkpoint, cases: cases, file: "selftest.json", plainKernels: plain)
            #expect(report.failures.isEmpty, "\(report.failures)")
            #expect(report.codeDifferences == 0)
            // f32 against float64 on a model this small is far inside the parity bound.
            #expect(report.worstRelativeError < 1e-5, "\(report.worstRelativeError)")
        }
    }
}

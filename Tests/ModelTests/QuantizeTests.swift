import Model
import Testing

/// Quantization and dequantization exactly as docs/checkpoint.md defines them.
@Suite struct QuantizeTests {
    @Test func roundsHalfToEvenAndScalesByTheLargestMagnitude() throws {
        // max|z| = 127 → scale 1: halves round to even.
        let z: [Float] = [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49]
        let q = try quantize(z, interests: 1, interestDim: 8)
        #expect(q.scales == [1])
        #expect(q.codes == [127, 0, 2, 2, 0, -2, -2, 3])
    }

    @Test func eachInterestHasItsOwnScaleAndTheExtremeMapsTo127() throws {
        let z: [Float] = [0.5, -1, 0.25, 0, 100, -50, 25, 12.5]
        let q = try quantize(z, interests: 2, interestDim: 4)
        #expect(q.scales == [Float(1) / 127, Float(100) / 127])
        #expect(q.codes[1] == -127 && q.codes[4] == 127)
        let deq = q.dequantized(interestDim: 4)
        for i in z.indices { #expect(abs(deq[i] - z[i]) <= q.scales[i / 4] / 2) }
    }

    @Test func anAllZeroOrUnderflowingVectorHasScaleZeroAndZeroCodes() throws {
        let tiny = Float.leastNonzeroMagnitude
        let q = try quantize([0, 0, tiny, -tiny], interests: 2, interestDim: 2)
        #expect(q.scales == [0, 0])   // tiny / 127 underflows to 0
        #expect(q.codes == [0, 0, 0, 0])
        #expect(q.dequantized(interestDim: 2) == [0, 0, 0, 0])
    }

    @Test func aNonFiniteValueIsAnErrorNamingIt() {
        #expect(throws: NonFiniteEmbedding.self) { try quantize([1, .nan], interests: 1, interestDim: 2) }
        do {
            _ = try quantize([1, 2, .infinity, 0], interests: 2, interestDim: 2)
            Issue.record("expected an error")
        } catch {
            #expect(error.index == 2)
        }
    }
}

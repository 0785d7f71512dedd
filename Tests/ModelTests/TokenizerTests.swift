import Events
import Foundation
import Model
import Store
import Support
import Testing

/// Tokenizer pieces against docs/checkpoint.md's definitions and test vectors.
@Suite struct TokenizerTests {
    @Test func hashTestVectors() {
        #expect(fmix64(1) == 0x5692_161d_100b_05e5)
        #expect(Tokenizer.bucket(42, buckets: 1 << 18) == 161_314)
    }

    @Test func timeBucketsAreBitLengthsOfTheAgeCappedAtNTime() {
        let cases: [(age: Int64, bucket: Int)] = [(0, 0), (1, 1), (2, 2), (3, 2), (4, 3), (7, 3), (8, 4), (86_400, 17), (1 << 40, 31)]
        for (age, b) in cases {
            #expect(Tokenizer.timeBucket(asOf: 1_000_000_000_000, ts: 1_000_000_000_000 - age, nTime: 32) == b, "age \(age)")
        }
        #expect(Tokenizer.timeBucket(asOf: 10, ts: 20, nTime: 32) == 0)   // a future event has age 0
        #expect(Tokenizer.timeBucket(asOf: .max, ts: .min, nTime: 64) == 63)
    }

    static func config(features: [FeatureSpec] = []) throws -> ModelConfig {
        let json = """
        {"format":"llatte-checkpoint-v1","model_version":"t","semantic_model":"s","d":4,"layers":1,"heads":1,"d_head":4,
         "r_q":2,"r_kv":2,"ffn":4,"query_tokens":1,"interests":1,"interest_dim":2,"d_sem":2,"item_buckets":8,"n_time":8,
         "lora_rank":1,"lora_hidden":2,"n_max":3,"types":["click","purchase"],"surfaces":["feed"],
         "features":[{"name":"country","kind":"categorical","vocab":["US","BR"]},{"name":"age","kind":"dense"}]}
        """
        return try ModelConfig.parse(Array(json.utf8), file: "config.json")
    }

    @Test func userVectorHasFeatureSlotsThenHourAndWeekdayOfAsOf() throws {
        let c = try TokenizerTests.config()
        #expect(c.dF == 3 + 1 + 24 + 7)
        let tok = Tokenizer(config: c, vectors: InMemoryVectors(semanticModel: "s", dSem: 2, rows: [:]), typeBytes: { _ in [] }, surfaceBytes: { _ in [] })
        // 2026-11-29 (a Sunday) 13:05 UTC.
        let asOf: Int64 = 1_795_957_500
        let f = try tok.userVector(userID: 1, features: UserFeatures(userID: 1, snapshot: 1, fields: [(Array("age".utf8), .dense(2.5)), (Array("country".utf8), .categorical(Array("BR".utf8)))]), asOf: asOf)
        #expect(Array(f[0..<4]) == [0, 0, 1, 2.5])
        #expect(f[4 + 13] == 1 && f[4..<28].reduce(0, +) == 1)
        #expect(f[28 + 6] == 1 && f[28..<35].reduce(0, +) == 1)   // Monday = 0, so Sunday = 6
        // Unknown or non-string categorical values take slot 0; a string for a dense feature gives 0.
        let g = try tok.userVector(userID: 1, features: UserFeatures(userID: 1, snapshot: 1, fields: [(Array("age".utf8), .categorical(Array("x".utf8))), (Array("country".utf8), .dense(3))]), asOf: nil)
        #expect(Array(g[0..<4]) == [1, 0, 0, 0])
        #expect(g[4...].allSatisfy { $0 == 0 })   // no events: no context one-hots
        let none = try tok.userVector(userID: 1, features: nil, asOf: nil)
        #expect(Array(none[0..<4]) == [1, 0, 0, 0])
        #expect(throws: TokenizeError.self) {
            _ = try tok.userVector(userID: 1, features: UserFeatures(userID: 1, snapshot: 1, fields: [(Array("age".utf8), .dense(.infinity))]), asOf: nil)
        }
    }

    @Test func sequenceTokensAreTheLatestNMaxEventsWithVocabularyAndCatalogLookups() throws {
        let c = try TokenizerTests.config()
        let words: [[UInt8]] = ["click", "feed", "like", "reels"].map { Array($0.utf8) }
        let tok = Tokenizer(config: c, vectors: InMemoryVectors(semanticModel: "s", dSem: 2, rows: [5: [0.5, -1]]),
                            typeBytes: { words[Int($0)] }, surfaceBytes: { words[Int($0)] })
        var events: [StoredEvent] = []
        for i in 0..<5 {
            let type: UInt32 = i % 2 == 0 ? 0 : 2
            let surface: UInt32 = i < 3 ? 1 : 3
            events.append(StoredEvent(ts: 1000 + Int64(i) * 10, itemID: UInt64(4 + i % 2), eventID: .integer(UInt64(i)), type: type,
                                      surface: surface, dwellMs: Double(i), value: 0))
        }
        let u = try tok.tokenize(userID: 9, events: events, features: nil)
        #expect(u.n == 3 && u.asOf == 1040)
        #expect(u.typeIndex == [1, 0, 1])        // click = 1, like is outside the vocabulary
        #expect(u.surfaceIndex == [1, 0, 0])     // feed = 1, reels unknown
        #expect(u.timeBucket == [5, 4, 0])       // ages 20, 10, 0
        #expect(u.semMissing == [true, false, true])
        #expect(Array(u.sem[2..<4]) == [0.5, -1])
        #expect(u.meta == [Float(log1p(2.0)), 0, Float(log1p(3.0)), 0, Float(log1p(4.0)), 0])
        #expect(u.itemBucket == [4, 5, 4].map { Int32(Tokenizer.bucket($0, buckets: 8)) })
        let empty = try tok.tokenize(userID: 9, events: [], features: nil)
        #expect(empty.n == 0 && empty.asOf == nil)
    }
}

import Store
import Support

/// The per-item and per-user files: catalog, user features, truth tables.
extension SampleGenerator {
    /// An item's catalog text; 1% of catalog items have none (the catalog's text column is optional).
    private static func catalogText(_ world: SampleWorld, _ i: Int) -> String? {
        fmix64(world.items.ids[i] ^ 0x7E47) % 100 == 0 ? nil : world.items.textString(i)
    }

    /// Writes `catalog.db` (items in id order, the order SQLite inserts fastest); returns the item count.
    func writeCatalog(_ world: SampleWorld) throws(SampleError) -> Int {
        let items = world.items
        let path = options.outputDirectory + "/" + SampleGenerator.catalogFile
        // Phrase vectors once per vocabulary entry; an item's text vector is the sum of its phrases'.
        let shared = SampleVocabulary.sharedAdjectives.map(SemanticModel.phraseVector)
        let adjectives = SampleVocabulary.categories.map { $0.adjectives.map(SemanticModel.phraseVector) }
        let nouns = SampleVocabulary.categories.map { $0.nouns.map(SemanticModel.phraseVector) }
        let suffixes = SampleVocabulary.suffixes.map(SemanticModel.phraseVector)

        let order = (0..<items.count).filter { items.inCatalog[$0] }.sorted {
            Int64(bitPattern: items.ids[$0]) < Int64(bitPattern: items.ids[$1])
        }
        do {
            let writer = try CatalogWriter(path: path, semanticModel: SemanticModel.id, dSem: SemanticModel.dimension)
            var batch: [CatalogItem] = []
            batch.reserveCapacity(20_000)
            for (n, i) in order.enumerated() {
                let c = Int(items.category[i])
                let t = items.text[i]
                var v = adjectives[c][Int(t.adjective)]
                for k in 0..<SemanticModel.dimension { v[k] += nouns[c][Int(t.noun)][k] }
                if t.shared >= 0 { for k in 0..<SemanticModel.dimension { v[k] += shared[Int(t.shared)][k] } }
                if t.suffix >= 0 { for k in 0..<SemanticModel.dimension { v[k] += suffixes[Int(t.suffix)][k] } }
                batch.append(CatalogItem(itemID: items.ids[i], text: SampleGenerator.catalogText(world, i),
                                         vector: world.semantic.vector(category: c, textVector: v, itemID: items.ids[i])))
                if batch.count == 20_000 || n == order.count - 1 {
                    try writer.add(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            try writer.close()
        } catch let e as StoreError {
            throw .io(e.description)
        } catch {
            throw .io("\(path): \(error)")
        }
        return order.count
    }

    /// `users.jsonl`: one record per user; about 1% of users lack each field.
    func writeUserFeatures(_ world: SampleWorld) throws(SampleError) {
        let b = ByteBuffer(capacity: world.users.count * 110)
        for p in world.users {
            b.append("{\"user_id\":")
            b.uint(p.id)
            if p.missingFeatures & 1 == 0 {
                b.append(",\"country\":")
                b.quoted(Array(SampleVocabulary.countries[p.country].utf8))
            }
            if p.missingFeatures & 2 == 0 {
                b.append(",\"age_bucket\":")
                b.quoted(Array(SampleVocabulary.ageBuckets[p.ageBucket].utf8))
            }
            if p.missingFeatures & 4 == 0 {
                b.append(",\"device\":")
                b.quoted(Array(SampleVocabulary.devices[p.device].utf8))
            }
            if p.missingFeatures & 8 == 0 {
                b.append(",\"log_account_age_days\":")
                b.fixed(p.logAccountAgeDays, decimals: 2)
            }
            b.byte(0x7D)
            b.endLine()
        }
        try write(SampleGenerator.usersFile, b.toArray())
    }

    /// `truth/users.jsonl`: latent traits and what the simulation produced per user.
    func writeTruthUsers(_ world: SampleWorld, tally: UserTally) throws(SampleError) {
        let b = ByteBuffer(capacity: world.users.count * 300)
        for p in world.users {
            let u = p.index
            b.append("{\"user_id\":")
            b.uint(p.id)
            b.append(",\"interests\":[")
            for c in 0..<SampleVocabulary.categories.count {
                if c > 0 { b.byte(0x2C) }
                b.fixed(p.interest(in: c), decimals: 4)
            }
            b.append("],\"popularity_bias\":")
            b.fixed(p.popularityBias, decimals: 4)
            b.append(",\"events_per_day\":")
            b.fixed(p.eventsPerDay, decimals: 3)
            b.append(",\"active_prob\":")
            b.fixed(p.activeProb, decimals: 4)
            b.append(",\"start_day\":")
            b.uint(UInt64(p.startDay))
            b.append(",\"favourite_word\":")
            if p.favouriteAdjective >= 0 {
                b.quoted(Array(SampleVocabulary.sharedAdjectives[p.favouriteAdjective].utf8))
            } else {
                b.append("null")
            }
            b.append(",\"conversion_bias\":")
            b.fixed(p.conversionBias, decimals: 4)
            // A market-day schedule's fields, after the object's opening brace.
            func schedule(_ q: PeriodicInterest) {
                b.append("{\"category\":")
                b.uint(UInt64(q.category))
                b.append(",\"period_days\":")
                b.uint(UInt64(q.periodDays))
                b.append(",\"phase\":")
                b.uint(UInt64(q.phase))
                b.append(",\"weight\":")
                b.fixed(q.weight, decimals: 4)
            }
            if world.options.periodicShare > 0 {
                b.append(",\"periodic\":")
                if let q = p.periodic {
                    schedule(q)
                    b.byte(0x7D)
                } else {
                    b.append("null")
                }
            }
            if world.options.returningShare > 0 {
                b.append(",\"returning\":")
                if let q = p.returning {
                    b.byte(0x5B)
                    for (i, c) in q.categories.enumerated() {
                        if i > 0 { b.byte(0x2C) }
                        schedule(c)
                        b.append(",\"items\":[")
                        for (j, item) in q.staples[i].enumerated() {
                            if j > 0 { b.byte(0x2C) }
                            b.uint(world.items.ids[item])
                        }
                        b.append("]}")
                    }
                    b.byte(0x5D)
                } else {
                    b.append("null")
                }
            }
            b.append(",\"country\":")
            b.quoted(Array(SampleVocabulary.countries[p.country].utf8))
            b.append(",\"age_bucket\":")
            b.quoted(Array(SampleVocabulary.ageBuckets[p.ageBucket].utf8))
            b.append(",\"device\":")
            b.quoted(Array(SampleVocabulary.devices[p.device].utf8))
            b.append(",\"events\":")
            b.uint(UInt64(tally.events[u]))
            b.append(",\"impressions\":")
            b.uint(UInt64(tally.impressions[u]))
            b.append(",\"conversions\":")
            b.uint(UInt64(tally.conversions[u]))
            b.append(",\"active_days\":")
            b.uint(UInt64(tally.activeDays[u]))
            b.append(",\"conversion_days\":")
            b.uint(UInt64(tally.conversionDays[u]))
            b.byte(0x7D)
            b.endLine()
        }
        try write(SampleGenerator.truthUsersFile, b.toArray())
    }

    /// `truth/items.jsonl`: every generated item, in or out of the catalog.
    func writeTruthItems(_ world: SampleWorld) throws(SampleError) {
        let items = world.items
        let b = ByteBuffer(capacity: items.count * 200)
        var w = JSONWriter()
        for i in 0..<items.count {
            let c = Int(items.category[i])
            b.append("{\"item_id\":")
            b.uint(items.ids[i])
            b.append(",\"category\":")
            b.uint(UInt64(c))
            b.append(",\"category_name\":")
            b.quoted(Array(SampleVocabulary.categories[c].name.utf8))
            b.append(",\"popularity\":")
            b.fixed(items.popularity[i], decimals: 10)
            b.append(",\"popularity_rank\":")
            b.uint(UInt64(items.popularityRank[i]))
            b.append(",\"quality\":")
            b.fixed(Double(items.quality[i]), decimals: 4)
            b.append(",\"price\":")
            b.fixed(Double(items.priceCents[i]) / 100, decimals: 2)
            b.append(",\"text\":")
            w.bytes.removeAll(keepingCapacity: true)
            w.string(items.textString(i))
            b.append(w.bytes)
            b.append(items.inCatalog[i] ? ",\"in_catalog\":true}" : ",\"in_catalog\":false}")
            b.endLine()
        }
        try write(SampleGenerator.truthItemsFile, b.toArray())
    }
}

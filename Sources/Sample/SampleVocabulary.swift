/// What a click on an item of a category can convert into (the sample's conversion types: purchase, lead, app_install).
enum ConversionKind: Int, Sendable {
    /// click → add_to_cart → purchase (with a value).
    case purchase
    /// click → lead (a form sent: finance, education, real estate).
    case lead
    /// click → app_install (games and apps).
    case appInstall
}

/// One item category: its name, how it converts, and the words item texts are built from, so that an
/// item's text (and the text part of its semantic vector) says which category it belongs to.
struct CategorySpec: Sendable {
    let name: String
    let conversion: ConversionKind
    let adjectives: [String]
    let nouns: [String]
}

/// The fixed vocabularies of the generated world: categories with their words, event types, surfaces,
/// and the user-feature values. Order matters (indices are written into truth files), so entries are
/// only ever appended.
enum SampleVocabulary {
    static let categories: [CategorySpec] = [
        CategorySpec(name: "shoes", conversion: .purchase,
                     adjectives: ["running", "leather", "trail", "canvas", "suede", "hiking"],
                     nouns: ["shoes", "sneakers", "boots", "sandals", "loafers"]),
        CategorySpec(name: "apparel", conversion: .purchase,
                     adjectives: ["cotton", "linen", "oversized", "slim", "wool", "hooded"],
                     nouns: ["t-shirt", "jacket", "hoodie", "dress", "jeans"]),
        CategorySpec(name: "beauty", conversion: .purchase,
                     adjectives: ["hydrating", "matte", "organic", "vitamin-c", "waterproof", "fragrance-free"],
                     nouns: ["serum", "lipstick", "moisturizer", "mascara", "sunscreen"]),
        CategorySpec(name: "audio", conversion: .purchase,
                     adjectives: ["wireless", "bluetooth", "noise-cancelling", "portable", "hi-fi", "waterproof"],
                     nouns: ["headphones", "speaker", "earbuds", "soundbar", "turntable"]),
        CategorySpec(name: "computers", conversion: .purchase,
                     adjectives: ["gaming", "ultralight", "mechanical", "4k", "ergonomic", "curved"],
                     nouns: ["laptop", "keyboard", "monitor", "mouse", "webcam"]),
        CategorySpec(name: "phones", conversion: .purchase,
                     adjectives: ["unlocked", "refurbished", "5g", "rugged", "magnetic", "fast-charging"],
                     nouns: ["smartphone", "phone case", "charger", "screen protector", "power bank"]),
        CategorySpec(name: "kitchen", conversion: .purchase,
                     adjectives: ["nonstick", "stainless", "cast-iron", "electric", "ceramic", "copper"],
                     nouns: ["skillet", "blender", "kettle", "knife set", "air fryer"]),
        CategorySpec(name: "furniture", conversion: .purchase,
                     adjectives: ["mid-century", "velvet", "oak", "modular", "rattan", "upholstered"],
                     nouns: ["sofa", "armchair", "bookshelf", "floor lamp", "rug"]),
        CategorySpec(name: "fitness", conversion: .purchase,
                     adjectives: ["adjustable", "yoga", "resistance", "foldable", "non-slip", "weighted"],
                     nouns: ["dumbbells", "yoga mat", "treadmill", "kettlebell", "jump rope"]),
        CategorySpec(name: "outdoor", conversion: .purchase,
                     adjectives: ["ultralight", "insulated", "two-person", "packable", "windproof", "camping"],
                     nouns: ["tent", "sleeping bag", "backpack", "headlamp", "hammock"]),
        CategorySpec(name: "toys", conversion: .purchase,
                     adjectives: ["wooden", "educational", "plush", "magnetic", "remote-control", "stacking"],
                     nouns: ["puzzle", "building blocks", "teddy bear", "toy car", "board game"]),
        CategorySpec(name: "pets", conversion: .purchase,
                     adjectives: ["grain-free", "chew", "orthopedic", "catnip", "reflective", "self-cleaning"],
                     nouns: ["dog food", "cat tree", "leash", "pet bed", "litter box"]),
        CategorySpec(name: "grocery", conversion: .purchase,
                     adjectives: ["organic", "cold-brew", "gluten-free", "spicy", "artisan", "single-origin"],
                     nouns: ["coffee beans", "granola", "hot sauce", "olive oil", "green tea"]),
        CategorySpec(name: "books", conversion: .purchase,
                     adjectives: ["bestselling", "illustrated", "hardcover", "signed", "paperback", "award-winning"],
                     nouns: ["novel", "cookbook", "biography", "graphic novel", "thriller"]),
        CategorySpec(name: "music", conversion: .purchase,
                     adjectives: ["vinyl", "acoustic", "live", "remastered", "electric", "beginner"],
                     nouns: ["album", "guitar", "ukulele", "concert tickets", "drum kit"]),
        CategorySpec(name: "travel", conversion: .purchase,
                     adjectives: ["all-inclusive", "weekend", "beachfront", "last-minute", "ski", "family"],
                     nouns: ["hotel", "flight", "cruise", "city break", "resort"]),
        CategorySpec(name: "auto", conversion: .purchase,
                     adjectives: ["all-season", "led", "synthetic", "heated", "ceramic", "winter"],
                     nouns: ["tires", "car wax", "dash cam", "motor oil", "seat covers"]),
        CategorySpec(name: "jewelry", conversion: .purchase,
                     adjectives: ["gold", "sterling", "minimalist", "vintage", "diamond", "handmade"],
                     nouns: ["necklace", "ring", "earrings", "bracelet", "watch"]),
        CategorySpec(name: "garden", conversion: .purchase,
                     adjectives: ["cordless", "heavy-duty", "raised", "solar", "self-watering", "expandable"],
                     nouns: ["drill", "garden hose", "planter", "lawn mower", "tool kit"]),
        CategorySpec(name: "wellness", conversion: .purchase,
                     adjectives: ["sugar-free", "plant-based", "herbal", "daily", "probiotic", "collagen"],
                     nouns: ["vitamins", "protein powder", "supplement", "herbal tea", "massage gun"]),
        CategorySpec(name: "games", conversion: .appInstall,
                     adjectives: ["multiplayer", "open-world", "match-3", "retro", "strategy", "idle"],
                     nouns: ["game", "rpg", "shooter", "racing game", "card game"]),
        CategorySpec(name: "apps", conversion: .appInstall,
                     adjectives: ["budgeting", "meditation", "language", "photo", "habit", "recipe"],
                     nouns: ["app", "planner app", "tracker", "editor", "assistant"]),
        CategorySpec(name: "finance", conversion: .lead,
                     adjectives: ["low-fee", "no-fee", "cashback", "high-yield", "fixed-rate", "instant"],
                     nouns: ["credit card", "savings account", "mortgage", "insurance quote", "personal loan"]),
        CategorySpec(name: "education", conversion: .lead,
                     adjectives: ["online", "certified", "part-time", "evening", "accelerated", "free"],
                     nouns: ["course", "bootcamp", "tutoring", "degree program", "workshop"]),
    ]

    /// Words any item can carry (colours, quality); a user may favour one of them (a signal that only
    /// the text part of the semantic vector carries).
    static let sharedAdjectives = ["red", "black", "white", "blue", "green", "pink", "navy", "grey",
                                   "premium", "classic", "compact", "deluxe", "eco-friendly", "essential"]
    static let suffixes = ["for men", "for women", "for kids", "set of 2", "2026 edition", "bundle", "pro", "mini"]

    /// Event types in a fixed order (indices used in counts); `hide` is outside most model vocabularies.
    enum EventType: Int, CaseIterable, Sendable {
        case impression, click, like, comment, share, save, hide, addToCart, purchase, lead, appInstall
        /// The type's string in the logs (a static string: no allocation on the hot path).
        var literal: StaticString {
            switch self {
            case .impression: return "impression"
            case .click: return "click"
            case .like: return "like"
            case .comment: return "comment"
            case .share: return "share"
            case .save: return "save"
            case .hide: return "hide"
            case .addToCart: return "add_to_cart"
            case .purchase: return "purchase"
            case .lead: return "lead"
            case .appInstall: return "app_install"
            }
        }
        var name: String { literal.description }
        var isConversion: Bool { self == .purchase || self == .lead || self == .appInstall }
    }

    /// Surfaces; `notifications` is rare and outside most model vocabularies.
    enum Surface: Int, CaseIterable, Sendable {
        case feed, reels, stories, marketplace, search, video, notifications
        var literal: StaticString {
            switch self {
            case .feed: return "feed"
            case .reels: return "reels"
            case .stories: return "stories"
            case .marketplace: return "marketplace"
            case .search: return "search"
            case .video: return "video"
            case .notifications: return "notifications"
            }
        }
        var name: String { literal.description }
    }
    /// Base session share of each surface.
    static let surfaceBase: [Double] = [0.34, 0.2, 0.12, 0.1, 0.1, 0.135, 0.005]


    /// Countries with population share and the UTC offset (hours) of their evening peak.
    static let countries = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "MX", "CA", "ID", "NG", "ES"]
    static let countryBase: [Double] = [0.24, 0.07, 0.07, 0.06, 0.12, 0.16, 0.05, 0.06, 0.04, 0.07, 0.03, 0.03]
    static let countryUTCOffset: [Double] = [-5, 0, 1, 1, -3, 5.5, 9, -6, -5, 7, 1, 1]
    static let ageBuckets = ["13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
    static let ageBase: [Double] = [0.05, 0.2, 0.28, 0.2, 0.13, 0.09, 0.05]
    static let devices = ["ios", "android", "web"]
    static let deviceBase: [Double] = [0.38, 0.5, 0.12]
}

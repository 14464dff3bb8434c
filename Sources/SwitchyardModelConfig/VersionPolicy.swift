import Foundation

/// Which versions of a model the repository keeps loaded.
public enum VersionPolicy: Sendable, Equatable {
    /// The `n` highest version numbers.
    case latest(Int)
    /// Exactly these versions (those that exist).
    case specific([Int])
    /// Every version on disk.
    case all

    /// The versions to load out of those on disk.
    /// - Parameter available: version numbers found on disk.
    public func select(from available: [Int]) -> [Int] {
        let sorted = available.sorted()
        switch self {
        case .latest(let count): return Array(sorted.suffix(count))
        case .specific(let versions): return sorted.filter(versions.contains)
        case .all: return sorted
        }
    }

    init(json: Any, fail: (String) -> ModelConfigError) throws(ModelConfigError) {
        if let text = json as? String, text == "all" {
            self = .all
            return
        }
        guard let object = json as? [String: Any], object.count == 1, let (key, value) = object.first else {
            throw fail("must be {\"latest\": N}, {\"specific\": [versions]} or {\"all\": true}")
        }
        switch key {
        case "latest":
            guard let count = ModelConfig.integer(value), count >= 1 else {
                throw fail("'latest' must be a positive integer")
            }
            self = .latest(count)
        case "specific":
            guard let list = value as? [Any], case let versions = list.compactMap(ModelConfig.integer),
                versions.count == list.count,
                !versions.isEmpty, versions.allSatisfy({ $0 >= 1 })
            else {
                throw fail("'specific' must be a non-empty list of positive version numbers")
            }
            self = .specific(versions)
        case "all":
            self = .all
        default:
            throw fail("has unknown kind '\(key)' (latest, specific, all)")
        }
    }
}

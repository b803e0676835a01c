import Foundation
import StatusCrypto

/// `Resources/vectors.json` (in this repository): byte-level vectors produced by an
/// independent Python generator from status-go's formats, for every layer this package decodes.
enum Vectors {
    nonisolated(unsafe) static let root: [String: Any] = {
        let url = Bundle.module.url(forResource: "vectors", withExtension: "json", subdirectory: "Resources")!
        return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }()

    static func value(_ path: String...) -> Any {
        var node: Any = root
        for key in path {
            guard let next = (node as? [String: Any])?[key] else { fatalError("no vector at \(path)") }
            node = next
        }
        return node
    }

    static func string(_ path: String...) -> String {
        var node: Any = root
        for key in path { node = (node as! [String: Any])[key]! }
        return node as! String
    }

    static func bytes(_ path: String...) -> [UInt8] {
        var node: Any = root
        for key in path { node = (node as! [String: Any])[key]! }
        return try! Hex.decode(node as! String)
    }
}

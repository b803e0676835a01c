import Foundation
import Testing

/// `docs/agent-api.openapi.json`, read for the tests: which routes it has, and whether a
/// response is one it allows. The checker knows the JSON Schema keywords the document uses and
/// no others; `checkedKeywordsOnly` fails when the document starts using another one, so a
/// response is never passed because a keyword was ignored. The same checker reads the event
/// stream's schema, `docs/events.schema.json` (`OpenAPIContract.events()`).
struct OpenAPIContract {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let path = root.appendingPathComponent("docs/agent-api.openapi.json")
    /// Keywords that constrain a value, all checked below.
    static let checked: Set<String> = ["type", "properties", "required", "additionalProperties", "items", "enum", "minimum", "maximum", "maxItems", "oneOf", "$ref"]
    /// Keywords that only document.
    static let documentary: Set<String> = ["description", "default", "format"]

    let document: [String: Any]
    /// Where the document keeps its named schemas (`$ref` targets).
    let definitionsKey: [String]

    init(path: URL = Self.path, definitionsKey: [String] = ["components", "schemas"]) throws {
        document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any])
        self.definitionsKey = definitionsKey
    }

    /// The event stream's schema: every event type, as a JSON Schema with `$defs`.
    static func events() throws -> OpenAPIContract {
        try OpenAPIContract(path: root.appendingPathComponent("docs/events.schema.json"), definitionsKey: ["$defs"])
    }

    /// The named schemas.
    var definitions: [String: Any] {
        var node: Any = document
        for key in definitionsKey { node = (node as? [String: Any])?[key] ?? [:] }
        return node as? [String: Any] ?? [:]
    }

    /// Problems with `value` against the document's top-level schema (the event schema's `oneOf`).
    func problems(of value: JSONValue) -> [String] {
        validate(value, against: document, at: "$")
    }

    /// Every `METHOD /path` the document describes.
    var routes: Set<String> {
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        return Set(paths.flatMap { path, item in
            item.keys.filter { ["get", "post", "put", "delete", "patch"].contains($0) }.map { "\($0.uppercased()) \(path)" }
        })
    }

    /// Every schema keyword used anywhere under `components.schemas` and the operations.
    var keywordsUsed: Set<String> {
        var found: Set<String> = []
        func walkSchema(_ schema: Any) {
            guard let schema = schema as? [String: Any] else { return }
            found.formUnion(schema.keys)
            (schema["properties"] as? [String: Any])?.values.forEach(walkSchema)
            if let items = schema["items"] { walkSchema(items) }
            (schema["oneOf"] as? [Any])?.forEach(walkSchema)
        }
        definitions.values.forEach(walkSchema)
        return found
    }

    /// The route template (`/v1/communities/{id}`) that `path` matches.
    func template(of path: String) -> String? {
        let parts = path.split(separator: "?")[0].split(separator: "/", omittingEmptySubsequences: false)
        let paths = (document["paths"] as? [String: Any] ?? [:]).keys
        return paths.first { template in
            let pattern = template.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == parts.count && zip(pattern, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
    }

    /// Problems with a response (empty: the document allows it): the status must be listed
    /// for the operation, the content type must match, and a JSON body must fit its schema.
    func problems(method: String, path: String, status: Int, contentType: String?, body: Data) -> [String] {
        guard let template = template(of: path),
              let operation = ((document["paths"] as? [String: Any])?[template] as? [String: Any])?[method.lowercased()] as? [String: Any] else {
            return ["\(method) \(path): no such operation in the document"]
        }
        guard let response = (operation["responses"] as? [String: Any])?[String(status)] as? [String: Any] else {
            return ["\(method) \(template): status \(status) is not documented"]
        }
        guard let content = response["content"] as? [String: Any] else { return body.isEmpty ? [] : ["\(method) \(template) \(status): a body where none is documented"] }
        let type = (contentType ?? "").split(separator: ";")[0].trimmingCharacters(in: .whitespaces)
        guard let media = content[type] as? [String: Any], let schema = media["schema"] else {
            return ["\(method) \(template) \(status): content type \(contentType ?? "none") is not documented (\(content.keys.sorted()))"]
        }
        guard type == "application/json" else { return [] }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            return ["\(method) \(template) \(status): the body is not JSON"]
        }
        return validate(value, against: schema, at: "$").map { "\(method) \(template) \(status): \($0)" }
    }

    func validate(_ value: JSONValue, against schema: Any, at location: String) -> [String] {
        guard var schema = schema as? [String: Any] else { return ["\(location): schema is not an object"] }
        if let reference = schema["$ref"] as? String {
            let name = String(reference.split(separator: "/").last!)
            guard let resolved = definitions[name] else {
                return ["\(location): unknown $ref \(reference)"]
            }
            schema = resolved as? [String: Any] ?? [:]
        }
        if let choices = schema["oneOf"] as? [Any] {
            let fitting = choices.filter { validate(value, against: $0, at: location).isEmpty }
            return fitting.count == 1 ? [] : ["\(location): fits \(fitting.count) of the oneOf choices, not 1"]
        }
        var problems: [String] = []
        if let types = schema["type"] {
            let allowed = (types as? [String]) ?? [types as? String ?? ""]
            if !allowed.contains(where: { Self.isOf(type: $0, value) }) {
                return ["\(location): \(Self.describe(value)) is not \(allowed.joined(separator: " or "))"]
            }
        }
        if let choices = schema["enum"] as? [Any], !choices.contains(where: { "\($0)" == value.plain }) {
            problems.append("\(location): \(value.plain) is not one of \(choices)")
        }
        if let number = value.number {
            if let minimum = (schema["minimum"] as? NSNumber)?.doubleValue, number < minimum { problems.append("\(location): \(number) < \(minimum)") }
            if let maximum = (schema["maximum"] as? NSNumber)?.doubleValue, number > maximum { problems.append("\(location): \(number) > \(maximum)") }
        }
        if case .object(let object) = value {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(location).\(key) is missing")
            }
            for (key, item) in object {
                if let property = properties[key] {
                    problems += validate(item, against: property, at: "\(location).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(location).\(key) is not in the schema")
                }
            }
        }
        if case .array(let array) = value {
            if let most = schema["maxItems"] as? Int, array.count > most { problems.append("\(location): \(array.count) items > \(most)") }
            if let items = schema["items"] {
                for (index, item) in array.enumerated() { problems += validate(item, against: items, at: "\(location)[\(index)]") }
            }
        }
        return problems
    }

    static func isOf(type: String, _ value: JSONValue) -> Bool {
        switch (type, value) {
        case ("null", .null), ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("integer", .integer),
             ("number", .integer), ("number", .double): return true
        default: return false
        }
    }

    static func describe(_ value: JSONValue) -> String { "\(value)" }
}

/// A JSON value that keeps what JSON says: `true` is not `1`, `1` is not `1.0`.
enum JSONValue: Decodable, Equatable, CustomStringConvertible {
    case null, bool(Bool), integer(Int64), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    var number: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// The value as the document's enums write it.
    var plain: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "1" : "0"  // JSONSerialization's NSNumber spelling of the document's booleans
        case .integer(let value): return "\(value)"
        case .double(let value): return "\(value)"
        case .string(let value): return value
        case .array, .object: return description
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    var stringValue: String? { if case .string(let value) = self { return value }; return nil }
    var intValue: Int64? { if case .integer(let value) = self { return value }; return nil }
    var arrayValue: [JSONValue]? { if case .array(let value) = self { return value }; return nil }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return "\(value)"
        case .integer(let value): return "\(value)"
        case .double(let value): return "\(value)"
        case .string(let value): return "\"\(value)\""
        case .array(let values): return "[" + values.map(\.description).joined(separator: ",") + "]"
        case .object(let object): return "{" + object.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        }
    }
}

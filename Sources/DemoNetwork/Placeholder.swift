import NIOCore
enum Placeholder {}

import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The URLSession delegate behind `URLSessionTransport.download`: writes each chunk of a
/// response body to its file as it arrives (memory stays flat whatever the size) and reports
/// each chunk with the running byte count, which `session.download(for:)` cannot do.
///
/// One instance serves every download of its session; transfers are keyed by task identifier.
/// `@unchecked` because NSObject is not Sendable; all mutable state is behind the mutex.
final class StreamingDownloads: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    typealias Completion = CheckedContinuation<(status: Int, bytes: Int64), any Error>

    private struct Transfer {
        var file: FileHandle
        var written: Int64 = 0
        /// The most bytes accepted (`HTTPRequest.maxResponseBytes`).
        var limit: Int64?
        var status = 0
        var writeError: (any Error)?
        var received: @Sendable (Data, Int64) -> Void
        var completion: Completion
    }

    private let transfers = Mutex<[Int: Transfer]>([:])

    /// Registers `task` (not yet resumed); its body goes to `file`, which must be open for writing.
    func register(_ task: URLSessionTask, file: FileHandle, limit: Int64?, received: @escaping @Sendable (Data, Int64) -> Void,
                  completion: Completion) {
        transfers.withLock { $0[task.taskIdentifier] = Transfer(file: file, limit: limit, received: received, completion: completion) }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        transfers.withLock { $0[dataTask.taskIdentifier]?.status = (response as? HTTPURLResponse)?.statusCode ?? 0 }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        enum Next { case report(@Sendable (Data, Int64) -> Void, Int64), stop, ignore }
        let next: Next = transfers.withLock { transfers in
            guard var transfer = transfers[dataTask.taskIdentifier], transfer.writeError == nil else { return .ignore }
            defer { transfers[dataTask.taskIdentifier] = transfer }
            if let limit = transfer.limit, transfer.written + Int64(data.count) > limit {
                // More than the peer promised: nothing of the excess is written.
                transfer.writeError = ResponseTooLarge(limit: limit)
                return .stop
            }
            do {
                try transfer.file.write(contentsOf: data)
                transfer.written += Int64(data.count)
                return .report(transfer.received, transfer.written)
            } catch {
                // A full disk: stop receiving, fail the download with this error.
                transfer.writeError = error
                return .stop
            }
        }
        switch next {
        case .report(let received, let written):
            // The session's delegate queue is serial: chunks reach `received` one at a time, in order.
            received(data, written)
        case .stop:
            // Outside the lock: cancelling calls back into this delegate.
            dataTask.cancel()
        case .ignore:
            break
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let transfer = transfers.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        do {
            try transfer.file.close()
            if let failure = transfer.writeError ?? error { throw failure }
            transfer.completion.resume(returning: (transfer.status, transfer.written))
        } catch {
            transfer.completion.resume(throwing: error)
        }
    }
}

/// A download answer longer than `HTTPRequest.maxResponseBytes`.
struct ResponseTooLarge: Error {
    let limit: Int64
}

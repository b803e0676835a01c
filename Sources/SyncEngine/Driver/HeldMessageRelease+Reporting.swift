import ArchiveImport
import Logging

extension HeldMessageRelease {
    /// Releases what the ring's keys open and says what came of it, the same for `sync` and the
    /// driver: `.heldMessagesReleased` when an archive's messages were stored, `.recordFailed`
    /// when the database refused (logged; the next key import or sync releases them). Never
    /// throws: a sync goes on whatever this does.
    public func runReporting(logger: Logger, report: (SyncEvent) -> Void) async {
        do {
            let released = try await run()
            guard released.archives > 0 else { return }
            logger.info("held messages released", metadata: ["archives": "\(released.archives)", "stored": "\(released.stored)",
                                                            "replaced": "\(released.replaced)"])
            report(.heldMessagesReleased(archives: released.archives, stored: released.stored, replaced: released.replaced))
        } catch {
            logger.warning("held messages were not stored", metadata: ["error": "\(error)"])
            report(.recordFailed(what: "the messages held for a key", error: "\(error)"))
        }
    }
}

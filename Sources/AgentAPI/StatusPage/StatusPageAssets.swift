/// The status page's stylesheet and script, served by the agent itself (no CDN, no fonts from
/// elsewhere: the Content-Security-Policy allows only this origin).
enum StatusPageAssets {
    static let stylesheet = """
        :root { color-scheme: light dark; --present: #2e9d52; --missing: #9aa0a6; --pending: #4a90d9; --failed: #d93025;
                --over-limit: #e8a317; --unreadable: #6b2f2f; --waiting-for-key: #8e5bd0; }
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 70rem; padding: 1rem 1.5rem; }
        header { display: flex; flex-wrap: wrap; gap: 0 1.5rem; align-items: baseline; border-bottom: 1px solid #8884; }
        h1 { font-size: 1.4rem; margin: .4rem 0; } h2 { font-size: 1.15rem; margin-top: 1.6rem; } h3 { font-size: 1rem; margin: 0 0 .3rem; }
        .health.ok { color: var(--present); } .health.degraded, .error, .problem { color: var(--failed); }
        .database { color: #888; font-size: .85rem; }
        .community { border: 1px solid #8884; border-radius: 6px; padding: .8rem 1rem; margin: .8rem 0; }
        .community code { font-size: .8rem; word-break: break-all; }
        .strip { display: flex; flex-wrap: wrap; gap: 2px; list-style: none; padding: 0; margin: .6rem 0; }
        .strip .week { width: 14px; height: 22px; border-radius: 2px; }
        .week span, .strip .week span { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
        .week { display: inline-block; width: 14px; height: 14px; vertical-align: middle; }
        .week.present { background: var(--present); } .week.missing { background: var(--missing); }
        .week.pending { background: var(--pending); } .week.failed { background: var(--failed); }
        .week.over-limit { background: var(--over-limit); } .week.unreadable { background: var(--unreadable); }
        .week.waiting-for-key { background: var(--waiting-for-key); }
        .legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; }
        .progress { display: flex; gap: .6rem; align-items: center; } progress { width: 18rem; }
        .actions { display: flex; gap: .5rem; margin-top: .5rem; } .actions form { margin: 0; }
        .fix { color: inherit; font-size: .9rem; } .counts, .key-wait { font-size: .9rem; }
        """

    /// Moves each community's progress bar as the agent's events arrive (`GET /v1/events`, the
    /// same stream a chat client reads; the session cookie authorizes it). Without it the page
    /// is the same, as of its loading.
    static let script = """
        "use strict";
        (() => {
          if (!document.getElementById("communities")) return;  // the sign-in form: nothing to follow yet
          const plans = new Map();
          const card = (id) => document.querySelector(`article[data-community="${CSS.escape(id)}"]`);
          function show(id, percent, text) {
            const article = card(id);
            if (!article) return;
            article.querySelector("[data-progress]").value = Math.max(0, Math.min(100, percent));
            article.querySelector("[data-progress-text]").textContent = text;
          }
          function fraction(plan) { return plan.total === 0 ? 1 : (plan.done + plan.part) / plan.total; }
          function on(name, handle) {
            source.addEventListener(name, (message) => {
              let event;
              try { event = JSON.parse(message.data); } catch { return; }
              if (event.community) handle(event);
            });
          }
          const source = new EventSource("/v1/events");
          // A marker for whoever drives the page (the browser check): the stream is heard.
          source.addEventListener("open", () => { document.documentElement.dataset.events = "open"; });
          on("announcement.accepted", (e) => show(e.community, 0, "announcement accepted; waiting for the quiet window"));
          on("plan.ready", (e) => {
            plans.set(e.community, { total: e.archives, done: 0, part: 0 });
            show(e.community, e.archives === 0 ? 100 : 0, `0 of ${e.archives} archives`);
          });
          on("archive.progress", (e) => {
            const plan = plans.get(e.community);
            if (!plan) return;
            plan.part = e.phase === "download" ? 0.5 * (e.totalBytes ? e.bytes / e.totalBytes : 0) : 0.75;
            show(e.community, 100 * fraction(plan), `${plan.done} of ${plan.total} archives (${e.phase})`);
          });
          // A week changes colour as its archive is imported, fails, or waits for a key.
          function mark(id, archive, state) {
            const article = card(id);
            const cell = article && article.querySelector(`li[data-archive="${CSS.escape(archive)}"]`);
            if (cell) cell.className = `week ${state}`;
          }
          on("archive.failed", (e) => mark(e.community, e.archiveID, e.kind === "over-limit" ? "over-limit" : e.kind === "rejected" ? "unreadable" : "failed"));
          on("key.waiting", (e) => { if (e.kind === "archive") mark(e.community, e.item, "waiting-for-key"); });
          on("archive.imported", (e) => {
            mark(e.community, e.archiveID, "present");
            const plan = plans.get(e.community);
            if (!plan) return;
            plan.done += 1; plan.part = 0;
            show(e.community, 100 * fraction(plan), `${plan.done} of ${plan.total} archives`);
          });
          on("finished", (e) => {
            plans.delete(e.community);
            show(e.community, 100, e.outcome === "completed" ? `complete: ${e.imported} archive(s) imported` : "nothing new");
            // Then the page again, a moment later: its counts, state and weeks as the plan left them;
            // not while the person is typing into a form, and never by posting a form again.
            // Only for a community on this page, and this page again (its place in the list kept).
            if (!card(e.community)) return;
            setTimeout(() => { if (!document.activeElement || !document.activeElement.closest("form")) location.assign(location.pathname + location.search); }, 1500);
          });
          on("failed", (e) => {
            show(e.community, 0, `failed: ${e.reason}`);
            const article = card(e.community);
            if (article) {
              let line = article.querySelector("p.error");
              if (!line) { line = document.createElement("p"); line.className = "error"; line.setAttribute("role", "alert"); article.querySelector(".actions").before(line); }
              line.textContent = `last error: ${e.reason}`;
            }
          });
        })();
        """
}

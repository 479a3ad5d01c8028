// grader review: keyboard navigation and saving. Loaded from the package (CSP script-src 'self');
// the pages contain no inline script and this file never inserts HTML: text only (textContent).
"use strict";
(function () {
  const body = document.body;
  const token = document.querySelector('meta[name="review-token"]').content;
  const go = (url) => { if (url) window.location.assign(url); };

  document.querySelectorAll(".bar span").forEach((s) => {
    const of = Number(s.dataset.of) || 0;
    s.style.width = of ? (100 * Number(s.dataset.done) / of) + "%" : "0";
  });
  const focus = document.querySelector(".page.focus");
  const pdf = document.querySelector(".card.pdf");
  if (focus && pdf) pdf.scrollTop = focus.offsetTop;  // the page that mentions the question

  const form = document.getElementById("decision");
  const score = document.getElementById("score");
  const message = document.getElementById("message");
  const say = (text, ok) => { if (message) { message.textContent = text; message.className = ok ? "ok" : "error"; } };

  async function save() {
    if (!form) return;
    const mode = body.dataset.mode;
    const kind = mode === "override" ? "override" : mode === "regrade" ? "regrade" : "score";
    const payload = { netid: body.dataset.netid, item: body.dataset.item, kind: kind,
                      score: score && score.value !== "" ? Number(score.value) : null };
    const comment = document.getElementById("comment");
    const reason = document.getElementById("reason");
    if (comment) payload.comment = comment.value;
    if (reason) payload.reason = reason.value;
    if (kind === "regrade") {
      const req = document.querySelector(".request pre");
      payload.request = req ? req.textContent : "";
      if (!payload.comment) { say("write an answer to the request first", false); return; }
    }
    if (kind !== "regrade" && payload.score === null) { say("type a score first (a digit key)", false); return; }
    if (kind === "override" && !payload.reason) { say("an override needs a reason", false); if (reason) reason.focus(); return; }
    say("saving...", true);
    let res, data;
    try {
      res = await fetch("/api/save", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Review-Token": token }, body: JSON.stringify(payload) });
      data = await res.json();
    } catch (e) { say("not saved: the server did not answer", false); return; }
    if (!res.ok || !data.ok) { say("not saved: " + (data && data.error ? data.error : res.status), false); return; }
    body.dataset.saved = data.id;
    say("saved", true);
    if (body.dataset.nextUngraded) go(body.dataset.nextUngraded); else window.location.reload();
  }

  if (form) form.addEventListener("submit", (e) => { e.preventDefault(); save(); });
  document.querySelectorAll("button.pick").forEach((b) => b.addEventListener("click", () => {
    if (score) score.value = b.dataset.score;
  }));

  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.metaKey || (e.ctrlKey && e.key !== "Enter")) return;
    const t = e.target;
    const typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT"));
    if (typing) {
      if (e.key === "Enter" && (t.tagName === "INPUT" || e.ctrlKey)) { e.preventDefault(); save(); }
      else if (e.key === "Escape") t.blur();
      return;
    }
    const page = body.dataset.page;
    if (e.key === "j" || e.key === "ArrowDown" || e.key === "ArrowRight") {
      e.preventDefault();
      go(page === "grade" ? body.dataset.next : (document.querySelector("tr[data-href]") || {}).dataset?.href);
    } else if (e.key === "k" || e.key === "ArrowUp" || e.key === "ArrowLeft") {
      e.preventDefault(); go(body.dataset.prev);
    } else if (e.key === "n") {
      e.preventDefault(); go(body.dataset.nextUngraded);
    } else if (/^[0-9]$/.test(e.key) && score) {
      const max = Number(body.dataset.max);
      if (Number(e.key) <= max) { score.value = e.key; say("score " + e.key + " (Enter saves)", true); }
    } else if (e.key === "Enter" && page === "grade") {
      e.preventDefault(); save();
    } else if (e.key === "Escape" && page === "grade") {
      go(body.dataset.queue);
    }
  });
})();

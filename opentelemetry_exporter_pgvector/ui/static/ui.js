// otel-pgvector ui: the little the pages need a script for. Everything works without it
// (links and GET forms reload the page); with it, a span's details open in place, fetched
// from /traces/<trace>/spans/<span>, and the URL and the back button follow.
"use strict";

async function showSpan(spanId) {
  const details = document.getElementById("details");
  const panel = document.getElementById("span-panel");
  let html = "";
  if (spanId) {
    const answer = await fetch(`/traces/${details.dataset.traceId}/spans/${encodeURIComponent(spanId)}`);
    if (!answer.ok) return false;
    html = await answer.text();  // escaped by the server's templates, like every page
  }
  panel.innerHTML = html;
  document.getElementById("no-span").hidden = Boolean(spanId);
  document.querySelectorAll("g.span-row").forEach((row) => {
    row.classList.toggle("selected", row.dataset.spanId === spanId);
  });
  return true;
}

async function selectSpan(event) {
  const link = event.target.closest("[data-span-id]");
  if (!link) return;
  event.preventDefault();
  const spanId = link.dataset.spanId;
  if (await showSpan(spanId)) {
    const url = new URL(window.location.href);
    url.searchParams.set("span", spanId);
    window.history.pushState({span: spanId}, "", url);
  } else {
    window.location.href = link.href;  // let the server say what is wrong
  }
}

// Blank fields are left out of a search's URL, so shared links carry only real filters.
function dropBlankFields(event) {
  event.target.querySelectorAll("input, select").forEach((field) => {
    if (field.name && field.value.trim() === "") field.disabled = true;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.getElementById("details")) {
    // one listener for the waterfall, the logs and the details (whose content is replaced)
    document.querySelector("main").addEventListener("click", (event) => {
      if (event.target.closest("a.span-link, a.span-ref")) selectSpan(event);
    });
    window.addEventListener("popstate", () => {
      showSpan(new URL(window.location.href).searchParams.get("span"));
    });
  }
  document.querySelectorAll("form.filters").forEach((form) => {
    form.addEventListener("submit", dropBlankFields);
  });
  // Fields disabled for a submit come back enabled when the page is restored from the cache.
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form.filters [disabled]").forEach((field) => { field.disabled = false; });
  });
});

// otel-pgvector ui: the little the pages need a script for. Everything works without it
// (links and GET forms); with it, a span's details open in place and the URL follows.
"use strict";

function showSpan(spanId) {
  const wanted = spanId ? document.getElementById("span-" + spanId) : null;
  document.querySelectorAll("section.span-details").forEach((section) => {
    section.hidden = section !== wanted;
  });
  document.querySelectorAll("g.span-row").forEach((row) => {
    row.classList.toggle("selected", row.dataset.spanId === spanId);
  });
  const hint = document.getElementById("no-span");
  if (hint) hint.hidden = wanted !== null;
  return wanted;
}

function selectSpan(event) {
  const link = event.target.closest("[data-span-id]");
  if (!link || !document.getElementById("span-" + link.dataset.spanId)) return;
  event.preventDefault();
  const url = new URL(window.location.href);
  url.searchParams.set("span", link.dataset.spanId);
  window.history.pushState({span: link.dataset.spanId}, "", url);
  showSpan(link.dataset.spanId);
}

// Blank fields are left out of a search's URL, so shared links carry only real filters.
function dropBlankFields(event) {
  event.target.querySelectorAll("input, select").forEach((field) => {
    if (field.name && field.value.trim() === "") field.disabled = true;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.getElementById("details")) {
    document.querySelectorAll("a.span-link, a.span-ref").forEach((link) => {
      link.addEventListener("click", selectSpan);
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
